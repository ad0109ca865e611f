package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
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
	ctx    context.Context // r's context with the request id (kms.WithRequestID)
	reqID  string
	target string
	start  time.Time
	caller *kms.Caller        // nil until authenticated
	in     wire.AuditAppender // the decoded request, nil if it did not decode

	reqIDHeader [1]string    // the x-amzn-RequestId header's value
	deadline    lazyDeadline // the operation's context: ctx and the route's timeout
	reqCtx      requestCtx   // r's context with the request id; ctx points to it
	auth        authState    // the session lookup's storage (authenticateInto)
}

// finish writes the audit record of a request, waits until it is durable
// and only then answers: out when err is nil, else err. When the record
// cannot be written the client gets KMSInternalException instead, so that
// no request succeeds without its record.
func (h *Handler) finish(w http.ResponseWriter, x *exchange, out any, err error) {
	if h.audit != nil {
		rec := h.kmsRecord(x, out, err)
		aerr := h.audit.Write(x.ctx, rec)
		putRecord(rec)
		if aerr != nil {
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
//
// The record comes from a pool: the caller hands it back with putRecord
// once it is written.
func (h *Handler) kmsRecord(x *exchange, out any, err error) *audit.Record {
	op := strings.TrimPrefix(x.target, "TrentService.")
	rec := getRecord()
	rec.EventVersion, rec.EventTime, rec.EventSource = audit.EventVersion, eventTimeString(h.eventTime(x.start)), audit.SourceKMS
	rec.EventName, rec.UserAgent, rec.RequestID, rec.EventID = op, x.r.UserAgent(), x.reqID, newRequestID()
	rec.ReadOnly, rec.EventType, rec.ManagementEvent, rec.EventCategory = !mutating[op], "AwsApiCall", true, "Management"
	fillIdentity(rec, x)
	if x.in != nil {
		rec.RequestParameters = requestParameters(rec.RequestParameters[:0], x.in, x.caller, out)
	} else {
		rec.RequestParameters = nil
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
	rec.Resources = appendKeyResources(rec.Resources[:0], x.caller, out)
	fillDecision(rec, x.caller)
	rec.Trent.Status = status
	rec.Trent.LatencyMS = float64(time.Since(x.start).Microseconds()) / 1000
	return rec
}

// recordPool keeps KMS audit records with their buffers (resources,
// checks, request parameters) for reuse: Log.Write copies a record into
// its line, so a record is free again once Write returns.
var recordPool = sync.Pool{New: func() any { return new(audit.Record) }}

// maxPooledParams bounds the request parameter buffers kept for reuse.
const maxPooledParams = 4 << 10

// getRecord returns an empty record whose slices keep the capacity of a
// record used before.
func getRecord() *audit.Record {
	rec := recordPool.Get().(*audit.Record)
	params, res, checks := rec.RequestParameters[:0], rec.Resources[:0], rec.Trent.Checks[:0]
	*rec = audit.Record{RequestParameters: params, Resources: res, Trent: audit.Trent{Checks: checks}}
	return rec
}

func putRecord(rec *audit.Record) {
	if cap(rec.RequestParameters) > maxPooledParams || cap(rec.Resources) > 16 || cap(rec.Trent.Checks) > 16 {
		return
	}
	// Drop the references to the request's strings and the caller's
	// identity now rather than at the next use.
	clear(rec.Resources[:cap(rec.Resources)])
	clear(rec.Trent.Checks[:cap(rec.Trent.Checks)])
	*rec = audit.Record{RequestParameters: rec.RequestParameters[:0], Resources: rec.Resources[:0],
		Trent: audit.Trent{Checks: rec.Trent.Checks[:0]}}
	recordPool.Put(rec)
}

// eventTimes caches the eventTime string of the current second: every
// request of that second shares it.
var eventTimes atomic.Pointer[eventTimeEntry]

type eventTimeEntry struct {
	sec int64
	s   string
}

// eventTimeString is audit.EventTime(t), without formatting the same
// second twice in a row.
func eventTimeString(t time.Time) string {
	sec := t.Unix()
	if e := eventTimes.Load(); e != nil && e.sec == sec {
		return e.s
	}
	e := &eventTimeEntry{sec: sec, s: audit.EventTime(t)}
	eventTimes.Store(e)
	return e.s
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
func requestParameters(buf []byte, in wire.AuditAppender, c *kms.Caller, out any) json.RawMessage {
	if d, ok := in.(*wire.DecryptRequest); ok {
		cp := *d
		if cp.EncryptionAlgorithm == nil {
			cp.EncryptionAlgorithm = wire.Ptr("SYMMETRIC_DEFAULT")
		}
		if cp.KeyId == nil {
			if o, ok := out.(*wire.DecryptResponse); ok && o != nil && o.KeyId != nil {
				cp.KeyId = o.KeyId
			} else if r := appendKeyResources(nil, c, nil); len(r) > 0 {
				cp.KeyId = &r[0].ARN
			}
		}
		in = &cp
	}
	if cap(buf) == 0 {
		buf = make([]byte, 0, 256)
	}
	return in.AppendAuditJSON(buf)
}

// appendKeyResources appends to res the KMS keys the request used: those
// its authorization checks named, then a key it created.
func appendKeyResources(res []audit.Resource, c *kms.Caller, out any) []audit.Resource {
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
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", false
	}
	var f [5]string // partition, service, region, account, resource
	for i := range 4 {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return "", false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	f[4] = rest
	if f[1] != "kms" || !strings.HasPrefix(f[4], "key/") {
		return "", false
	}
	return f[3], true
}

// fillIdentity sets userIdentity, awsRegion, sourceIPAddress and
// recipientAccountId. A request that did not authenticate is "Unknown"
// with the access key id it named, if any.
func fillIdentity(rec *audit.Record, x *exchange) {
	c := x.caller
	if c == nil {
		authz := x.r.Header.Get("Authorization")
		rec.UserIdentity = audit.UserIdentity{Type: "Unknown", AccessKeyID: sigv4.AccessKeyID(authz)}
		rec.AWSRegion = sigv4.Region(authz)
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
	rec.Trent.Checks = rec.Trent.Checks[:0]
	for _, ch := range checks {
		d := ch.Decision
		if !d.Allowed {
			rec.Trent.Decision = "Deny"
		}
		rec.Trent.Checks = append(rec.Trent.Checks, audit.Check{Action: ch.Action, Resource: ch.Resource, Decision: d.Effect.String(),
			Source: d.Source.String(), PolicyIndex: d.PolicyIndex, Statement: d.Statement, Sid: d.Sid, Reason: d.Reason})
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
		err := h.audit.Write(x.ctx, rec)
		putRecord(rec)
		if err != nil {
			h.writeError(w, x.reqID, x.target, err)
			return
		}
	}
	h.writeJSON(w, http.StatusNotFound, errorBody{Type: "UnknownOperationException"})
}
