package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/wire"
)

// exchange is what the audit record of one request needs from
// ServeHTTP: who sent what, and when.
type exchange struct {
	r      *http.Request
	reqID  string
	target string
	start  time.Time
	caller *kms.Caller        // nil until authenticated
	in     wire.AuditAppender // the decoded request, nil if it did not decode
}

// finish writes the audit record of a request, waits until it is durable
// and only then answers: out when err is nil, else err. When the record
// cannot be written the client gets KMSInternalException instead, so that
// no request succeeds without its record.
func (h *Handler) finish(w http.ResponseWriter, x *exchange, out any, err error) {
	if h.audit != nil {
		if aerr := h.audit.Write(x.r.Context(), h.kmsRecord(x, out, err)); aerr != nil {
			h.writeError(w, x.reqID, x.target, aerr) // not a *wire.Error: KMSInternalException, cause logged
			return
		}
	}
	if err != nil {
		h.writeError(w, x.reqID, x.target, err)
		return
	}
	h.writeJSON(w, http.StatusOK, out)
}

// publicError returns the code and message the client sees for err, as
// writeError answers it.
func publicError(err error) *wire.Error {
	var we *wire.Error
	if !errors.As(err, &we) || we.Code == "" {
		return &wire.Error{Code: "KMSInternalException", Message: "The request was rejected because an internal exception occurred. The request can be retried."}
	}
	return we
}

// eventTime returns the eventTime of a request that arrived at start:
// start, or the EventClock's time when there is one.
func (h *Handler) eventTime(start time.Time) time.Time {
	if h.eventClock != nil {
		return h.eventClock()
	}
	return start
}

// kmsRecord builds the audit record of a KMS request. Its fields follow the
// CloudTrail events of AWS KMS in the AWS KMS Developer Guide
// (awsdocs/aws-kms-developer-guide, doc_source/ct-*.md): requestParameters
// hold the request with its member names' first letter in lower case and
// without plaintext, ciphertext or grant tokens (wire.AuditAppender);
// responseElements are null except for the operations whose examples show
// them; resources list the KMS keys the request used, in the order it
// used them ("The resources field in this log entry specifies two AWS KMS
// keys, the source KMS key and the destination KMS key, in that order",
// ct-reencrypt.md).
func (h *Handler) kmsRecord(x *exchange, out any, err error) *audit.Record {
	op := strings.TrimPrefix(x.target, "TrentService.")
	rec := &audit.Record{
		EventVersion: audit.EventVersion, EventTime: audit.EventTime(h.eventTime(x.start)), EventSource: audit.SourceKMS,
		EventName: op, UserAgent: x.r.UserAgent(), RequestID: x.reqID, EventID: newRequestID(),
		ReadOnly: !mutating[op], EventType: "AwsApiCall", ManagementEvent: true, EventCategory: "Management",
	}
	fillIdentity(rec, x)
	if x.in != nil {
		rec.RequestParameters = requestParameters(x.in, x.caller, out)
	}
	status := http.StatusOK
	if err != nil {
		we := publicError(err)
		rec.ErrorCode, rec.ErrorMessage, status = we.Code, we.Message, wire.Status(we.Code)
	} else if responseLogged[op] {
		if a, ok := out.(wire.AuditAppender); ok {
			rec.ResponseElements = a.AppendAuditJSON(nil)
		}
	}
	rec.Resources = keyResources(x.caller, out)
	fillDecision(rec, x.caller)
	rec.Trent.Status = status
	rec.Trent.LatencyMS = float64(time.Since(x.start).Microseconds()) / 1000
	return rec
}

// mutating lists the KMS operations CloudTrail records with "readOnly":
// false; every other one is read-only (the ct-*.md examples: CreateKey,
// CreateAlias, ScheduleKeyDeletion, CancelKeyDeletion and PutKeyPolicy are
// false; Encrypt, Decrypt, GenerateDataKey, Sign, Verify, GenerateMac,
// DescribeKey and ListAliases are true; the others are inferred from the
// same rule: an operation that changes state is not read-only).
var mutating = map[string]bool{
	"CreateKey": true, "EnableKey": true, "DisableKey": true, "ScheduleKeyDeletion": true, "CancelKeyDeletion": true,
	"UpdateKeyDescription": true, "CreateAlias": true, "UpdateAlias": true, "DeleteAlias": true, "TagResource": true,
	"UntagResource": true, "PutKeyPolicy": true, "CreateGrant": true, "RetireGrant": true, "RevokeGrant": true,
	"EnableKeyRotation": true, "DisableKeyRotation": true, "RotateKeyOnDemand": true, "ImportKeyMaterial": true,
	"DeleteImportedKeyMaterial": true, "ReplicateKey": true, "UpdatePrimaryRegion": true, "CreateCustomKeyStore": true,
	"DeleteCustomKeyStore": true, "UpdateCustomKeyStore": true, "ConnectCustomKeyStore": true, "DisconnectCustomKeyStore": true,
}

// responseLogged lists the operations whose response CloudTrail records in
// responseElements: CreateKey ("responseElements": {"keyMetadata": …},
// ct-createkey.md), ScheduleKeyDeletion ({"keyId", "keyState",
// "deletionDate"}, ct-schedule-key-deletion.md) and CancelKeyDeletion
// ({"keyId"}, ct-cancel-key-deletion.md). For every other operation
// responseElements is null: "some fields are omitted from AWS KMS log
// entries, such as the Plaintext parameter of an Encrypt request, and the
// response to GetKeyPolicy or any cryptographic operation"
// (logging-using-cloudtrail.md), and the DescribeKey, ListAliases,
// CreateAlias and PutKeyPolicy examples show null.
var responseLogged = map[string]bool{"CreateKey": true, "ScheduleKeyDeletion": true, "CancelKeyDeletion": true}

// requestParameters encodes the request. "The CloudTrail log entry for a
// Decrypt operation always includes the encryptionAlgorithm in the
// requestParameters even if the encryption algorithm wasn't specified in
// the request", and its keyId is the key ARN (ct-decrypt.md): both are
// filled in when the request left them out and the key is known.
func requestParameters(in wire.AuditAppender, c *kms.Caller, out any) json.RawMessage {
	if d, ok := in.(*wire.DecryptRequest); ok {
		cp := *d
		if cp.EncryptionAlgorithm == nil {
			cp.EncryptionAlgorithm = wire.Ptr("SYMMETRIC_DEFAULT")
		}
		if cp.KeyId == nil {
			if o, ok := out.(*wire.DecryptResponse); ok && o != nil && o.KeyId != nil {
				cp.KeyId = o.KeyId
			} else if r := keyResources(c, nil); len(r) > 0 {
				cp.KeyId = &r[0].ARN
			}
		}
		in = &cp
	}
	return in.AppendAuditJSON(make([]byte, 0, 256))
}

// keyResources lists the KMS keys the request used: those its
// authorization checks named, then a key it created.
func keyResources(c *kms.Caller, out any) []audit.Resource {
	var res []audit.Resource
	add := func(arn string) {
		acct, ok := keyARNAccount(arn)
		if !ok {
			return
		}
		for _, r := range res {
			if r.ARN == arn {
				return
			}
		}
		res = append(res, audit.Resource{AccountID: acct, Type: "AWS::KMS::Key", ARN: arn})
	}
	if c != nil && c.Authz != nil {
		for _, ch := range c.Authz.Checks() {
			add(ch.Resource)
		}
	}
	if o, ok := out.(*wire.CreateKeyResponse); ok && o != nil && o.KeyMetadata != nil && o.KeyMetadata.Arn != nil {
		add(*o.KeyMetadata.Arn)
	}
	if o, ok := out.(*wire.ReplicateKeyResponse); ok && o != nil && o.ReplicaKeyMetadata != nil && o.ReplicaKeyMetadata.Arn != nil {
		add(*o.ReplicaKeyMetadata.Arn) // the replica, beside the primary the checks name
	}
	return res
}

// keyARNAccount returns the account of a KMS key ARN
// (arn:aws:kms:region:account:key/id).
func keyARNAccount(arn string) (string, bool) {
	f := strings.SplitN(arn, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[2] != "kms" || !strings.HasPrefix(f[5], "key/") {
		return "", false
	}
	return f[4], true
}

// fillIdentity sets userIdentity, awsRegion, sourceIPAddress and
// recipientAccountId. A request that did not authenticate is "Unknown"
// with the access key id it named, if any.
func fillIdentity(rec *audit.Record, x *exchange) {
	c := x.caller
	if c == nil {
		authz := x.r.Header.Get("Authorization")
		rec.UserIdentity = audit.UserIdentity{Type: "Unknown", AccessKeyID: sigv4.AccessKeyID(authz)}
		rec.AWSRegion = credentialRegion(authz)
		rec.SourceIPAddress = remoteIP(x.r.RemoteAddr)
		return
	}
	id := c.Identity
	u := audit.UserIdentity{PrincipalID: id.UserID, ARN: id.ARN, AccountID: c.AccountID, AccessKeyID: c.AccessKeyID}
	switch id.Type {
	case policy.PrincipalAccount:
		u.Type = "Root"
		if u.PrincipalID == "" {
			u.PrincipalID = c.AccountID
		}
	case policy.PrincipalUser:
		u.Type, u.UserName = "IAMUser", id.Username
	case policy.PrincipalAssumedRole:
		u.Type = "AssumedRole"
		roleID, _, _ := strings.Cut(id.UserID, ":")
		u.SessionContext = &audit.SessionContext{
			SessionIssuer: &audit.SessionIssuer{Type: "Role", PrincipalID: roleID, ARN: id.RoleARN, AccountID: id.Account,
				UserName: id.RoleARN[strings.LastIndexByte(id.RoleARN, '/')+1:]},
			Attributes: audit.SessionAttribute{MFAAuthenticated: "false"},
		}
	case policy.PrincipalFederatedUser:
		u.Type = "FederatedUser"
	default:
		u.Type = id.Type.String()
	}
	rec.UserIdentity = u
	rec.AWSRegion = c.Region
	rec.RecipientAccountID = c.AccountID
	if c.SourceIP.IsValid() {
		rec.SourceIPAddress = c.SourceIP.String()
	} else {
		rec.SourceIPAddress = remoteIP(x.r.RemoteAddr)
	}
}

func remoteIP(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}

// credentialRegion returns the region of the SigV4 credential scope in an
// Authorization header ("Credential=AKID/20250101/us-east-1/kms/aws4_request"),
// or "".
func credentialRegion(authz string) string {
	_, scope, ok := strings.Cut(authz, "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ = strings.Cut(scope, ",")
	f := strings.Split(strings.TrimSpace(scope), "/")
	if len(f) != 5 {
		return ""
	}
	return f[2]
}

// fillDecision sets the trent object's authorization decision from the
// checks the request made.
func fillDecision(rec *audit.Record, c *kms.Caller) {
	if c == nil || c.Authz == nil {
		return
	}
	checks := c.Authz.Checks()
	if len(checks) == 0 {
		return
	}
	rec.Trent.Decision = "Allow"
	rec.Trent.Checks = make([]audit.Check, len(checks))
	for i, ch := range checks {
		d := ch.Decision
		if !d.Allowed {
			rec.Trent.Decision = "Deny"
		}
		rec.Trent.Checks[i] = audit.Check{Action: ch.Action, Resource: ch.Resource, Decision: d.Effect.String(),
			Source: d.Source.String(), PolicyIndex: d.PolicyIndex, Statement: d.Statement, Sid: d.Sid, Reason: d.Reason}
	}
}

// recordCall writes the audit record of an IAM or STS request (awsQuery)
// and must be called once per such request, after the call and before the
// response is written; when it returns an error the request must fail
// with an internal error instead. source is audit.SourceIAM or
// audit.SourceSTS; name is the action ("CreateUser", "AssumeRole");
// params and resp are requestParameters and responseElements as AWS logs
// them (nil for null), which must leave out secret access keys, session
// tokens and passwords; resources may be nil. caller is nil when the
// request did not authenticate. err is the error answered, if any.
//
// This is the hook for the awsQuery dispatcher.
func (h *Handler) recordCall(r *http.Request, reqID string, start time.Time, caller *kms.Caller, source, name string,
	readOnly bool, params, resp json.RawMessage, resources []audit.Resource, err error) error {
	if h.audit == nil {
		return nil
	}
	x := &exchange{r: r, reqID: reqID, start: start, caller: caller}
	rec := &audit.Record{
		EventVersion: audit.EventVersion, EventTime: audit.EventTime(h.eventTime(start)), EventSource: source, EventName: name,
		UserAgent: r.UserAgent(), RequestID: reqID, EventID: newRequestID(), ReadOnly: readOnly,
		EventType: "AwsApiCall", ManagementEvent: true, EventCategory: "Management",
		RequestParameters: params, Resources: resources,
	}
	fillIdentity(rec, x)
	status := http.StatusOK
	if err != nil {
		we := publicError(err)
		rec.ErrorCode, rec.ErrorMessage, status = we.Code, we.Message, wire.Status(we.Code)
	} else {
		rec.ResponseElements = resp
	}
	fillDecision(rec, caller)
	rec.Trent.Status = status
	rec.Trent.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	return h.audit.Write(r.Context(), rec)
}

// finishUnparsed answers a body that is not declared awsJson1.1 (HTTP 404
// UnknownOperationException with no message, see isAWSJSON) after writing
// its record.
func (h *Handler) finishUnparsed(w http.ResponseWriter, x *exchange) {
	if h.audit != nil {
		rec := h.kmsRecord(x, nil, &wire.Error{Code: "UnknownOperationException"})
		rec.Trent.Status = http.StatusNotFound
		if err := h.audit.Write(x.r.Context(), rec); err != nil {
			h.writeError(w, x.reqID, x.target, err)
			return
		}
	}
	h.writeJSON(w, http.StatusNotFound, errorBody{Type: "UnknownOperationException"})
}
