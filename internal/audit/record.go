package audit

import (
	"encoding/json"
	"time"
)

// EventVersion is the CloudTrail event version Trent's records follow
// (the AWS KMS Developer Guide's current examples, e.g. ct-encrypt, show
// "eventVersion": "1.11").
const EventVersion = "1.11"

// Event sources, as CloudTrail names the services.
const (
	SourceKMS = "kms.amazonaws.com"
	SourceIAM = "iam.amazonaws.com"
	SourceSTS = "sts.amazonaws.com"
)

// Record is one audit record: a CloudTrail event (eventType "AwsApiCall")
// for one API request, in the field order and with the field names of the
// CloudTrail events AWS KMS writes (AWS KMS Developer Guide, "Logging AWS
// KMS API calls with AWS CloudTrail" and its ct-*.md examples), plus a
// "trent" object with the authorization decision and the hash chain.
//
// RequestParameters and ResponseElements are JSON documents (null when
// empty) that never hold plaintext, key material, data keys, private keys,
// secret access keys, session tokens or grant tokens; see
// [wire.AuditAppender] for the KMS operations.
type Record struct {
	EventVersion       string          `json:"eventVersion"`
	UserIdentity       UserIdentity    `json:"userIdentity"`
	EventTime          string          `json:"eventTime"`
	EventSource        string          `json:"eventSource"`
	EventName          string          `json:"eventName"`
	AWSRegion          string          `json:"awsRegion"`
	SourceIPAddress    string          `json:"sourceIPAddress"`
	UserAgent          string          `json:"userAgent"`
	ErrorCode          string          `json:"errorCode,omitempty"`
	ErrorMessage       string          `json:"errorMessage,omitempty"`
	RequestParameters  json.RawMessage `json:"requestParameters"`
	ResponseElements   json.RawMessage `json:"responseElements"`
	RequestID          string          `json:"requestID"`
	EventID            string          `json:"eventID"`
	ReadOnly           bool            `json:"readOnly"`
	Resources          []Resource      `json:"resources"`
	EventType          string          `json:"eventType"`
	ManagementEvent    bool            `json:"managementEvent"`
	RecipientAccountID string          `json:"recipientAccountId"`
	EventCategory      string          `json:"eventCategory"`
	// Trent must stay the last field: the writer appends the chain
	// members to it (see [Record.marshal]).
	Trent Trent `json:"trent"`
}

// UserIdentity is CloudTrail's userIdentity element. Type is "Root",
// "IAMUser", "AssumedRole", "FederatedUser" or, for a request whose
// signature did not verify, "Unknown" (CloudTrail User Guide,
// cloudtrail-event-reference-user-identity).
type UserIdentity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes the role session of an AssumedRole caller.
type SessionContext struct {
	SessionIssuer *SessionIssuer   `json:"sessionIssuer,omitempty"`
	Attributes    SessionAttribute `json:"attributes"`
}

// SessionIssuer is the role a session was issued for.
type SessionIssuer struct {
	Type        string `json:"type"` // "Role"
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

// SessionAttribute holds a session's creation date and MFA flag.
type SessionAttribute struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated"` // "true" or "false"
}

// Resource is one entry of a record's resources list, e.g.
// {"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:…"}.
type Resource struct {
	AccountID string `json:"accountId"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// Trent is Trent's own part of a record: the authorization decision with
// the checks that made it, the HTTP status and latency, and the record's
// place in the hash chain (set by the writer).
type Trent struct {
	// Decision is "Allow" when every authorization check allowed the
	// request, "Deny" when one denied it, and "" when no check was made
	// (authentication failed, or the request was refused before).
	Decision  string  `json:"decision,omitempty"`
	Checks    []Check `json:"checks,omitempty"`
	Status    int     `json:"httpStatus"`
	LatencyMS float64 `json:"latencyMs"`
	// Sequence numbers the records from 1, across files, and PreviousHash
	// is the hex SHA-256 of the previous record's line (64 zeros for the
	// first record).
	Sequence     uint64 `json:"sequence"`
	PreviousHash string `json:"previousHash"`
}

// Check is one authorization check: the action on the resource, its
// decision and what made it — the key policy or identity policy statement,
// or the grant.
type Check struct {
	Action      string `json:"action"`
	Resource    string `json:"resource,omitempty"`
	Decision    string `json:"decision"` // "Allow", "ImplicitDeny" or "ExplicitDeny"
	Source      string `json:"source"`   // "resource" (key policy), "identity", "grant" or "none"
	PolicyIndex int    `json:"policyIndex,omitempty"`
	Statement   int    `json:"statement"` // index in the deciding document; -1 when none
	Sid         string `json:"sid,omitempty"`
	GrantID     string `json:"grantId,omitempty"`
	Reason      string `json:"reason"`
}

// EventTime formats t as CloudTrail's eventTime: UTC, to the second,
// "2025-05-20T20:46:16Z".
func EventTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// marshal appends r as JSON to b without its closing "}}" so that the
// writer can append the chain members to the trent object, which is always
// last. The bytes are json.Marshal's (see [Record.appendJSON]).
func (r *Record) marshal(b []byte) ([]byte, error) {
	// appendJSON writes null for nil RequestParameters and
	// ResponseElements.
	if r.Resources == nil {
		r.Resources = []Resource{}
	}
	return r.appendJSON(b)
}
