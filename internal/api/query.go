package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"

	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/wire/query"
)

// IAM and STS (awsQuery) beside KMS (awsJson) on one listener.
//
// A request is awsQuery when its Content-Type is
// application/x-www-form-urlencoded; the SigV4 credential scope's service
// then picks the API: "iam" or "sts" (anything else is answered as IAM,
// whose verifier refuses the scope). IAM is a global service signed for
// us-east-1 (aws) or cn-north-1 (aws-cn); STS is signed for any served
// region.

const (
	queryBody    = 1 << 20 // policy documents of 128 Ki characters, form-encoded
	queryTimeout = 10 * time.Second
)

// iamRegions are the regions an IAM request may be signed for: IAM's
// global endpoints sign with us-east-1, and with cn-north-1 in the aws-cn
// partition (botocore endpoints: "iam" partitionEndpoint "aws-global" with
// credentialScope region us-east-1; "aws-cn-global" with cn-north-1).
var iamRegions = map[string]bool{"us-east-1": true, "cn-north-1": true}

// isForm reports whether a Content-Type is application/x-www-form-urlencoded
// (parameters ignored, case-insensitive).
func isForm(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// scopeService returns the service of the Authorization header's
// credential scope ("Credential=AKID/DATE/REGION/SERVICE/aws4_request"),
// or "".
func scopeService(authz string) string {
	_, cred, ok := strings.Cut(authz, "Credential=")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(cred, ", "); i >= 0 {
		cred = cred[:i]
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// queryCodes maps the codes of the SigV4 verifier and of Trent's shared
// errors to their awsQuery names and statuses. IAM and STS answer an
// unknown access key with "InvalidClientTokenId: The security token
// included in the request is invalid." and HTTP 403, a bad signature with
// SignatureDoesNotMatch (403) and a missing one with
// MissingAuthenticationToken (403) — the query protocol's names, unlike
// awsJson's *Exception forms (inferred from the AWS error references of
// query services: "Common Errors" in the IAM and STS API references).
var queryCodes = map[string]struct {
	code   string
	status int
}{
	sigv4.CodeMissingAuthenticationToken: {"MissingAuthenticationToken", 403},
	sigv4.CodeIncompleteSignature:        {"IncompleteSignature", 400},
	sigv4.CodeInvalidSignature:           {"SignatureDoesNotMatch", 403},
	sigv4.CodeUnrecognizedClient:         {"InvalidClientTokenId", 403},
	codeExpiredTokenQuery:                {"ExpiredToken", 403},
	"AccessDenied":                       {"AccessDenied", 403},
	query.CodeValidation:                 {query.CodeValidation, 400},
	"InvalidAction":                      {"InvalidAction", 400},
	"InvalidParameterValue":              {"InvalidParameterValue", 400},
	"RequestEntityTooLarge":              {"RequestEntityTooLarge", 413},
}

// serveQuery handles one IAM or STS request.
func (h *Handler) serveQuery(w http.ResponseWriter, r *http.Request, reqID string, start time.Time) {
	svc := iamService
	if scopeService(r.Header.Get("Authorization")) == "sts" {
		svc = stsService
	}
	if r.Method != http.MethodPost {
		h.writeQueryError(w, svc, reqID, "", wire.Errorf("InvalidAction", "Only POST requests are served."))
		return
	}
	if r.ContentLength > queryBody {
		h.writeQueryError(w, svc, reqID, "", wire.Errorf("RequestEntityTooLarge", "Request body exceeds the maximum of %d bytes.", queryBody))
		return
	}
	body, err := readAll(w, r, queryBody)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.writeQueryError(w, svc, reqID, "", wire.Errorf("RequestEntityTooLarge", "Request body exceeds the maximum of %d bytes.", queryBody))
		}
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	if r.Header.Get("Authorization") == "" && !strings.Contains(r.URL.RawQuery, "X-Amz-") {
		// The only unsigned request served: AssumeRoleWithWebIdentity,
		// whose token is its credential.
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") == "AssumeRoleWithWebIdentity" {
			h.serveWebIdentity(ctx, w, r, reqID, form, start)
			return
		}
	}
	verifier := h.iamVerifier
	if svc == stsService {
		verifier = h.stsVerifier
	}
	form, ferr := url.ParseQuery(string(body))
	action := form.Get("Action")
	kc, sess, err := h.authenticateSession(ctx, verifier, r, body)
	if err != nil {
		h.answerQuery(w, r, svc, reqID, start, nil, action, form, nil, queryAuthError(err))
		return
	}
	if ferr != nil {
		h.answerQuery(w, r, svc, reqID, start, kc, "", nil, nil, wire.Errorf("MalformedQueryString", "The query string is malformed."))
		return
	}
	handle, ok := svc.routes[action]
	if !ok || form.Get("Version") != svc.version || h.iam == nil {
		// AWS's wording for an Action it does not serve, e.g. "Could not
		// find operation X for version 2010-05-08" (inferred; the code
		// InvalidAction and HTTP 400 are AWS's common query error).
		h.answerQuery(w, r, svc, reqID, start, kc, action, form, nil,
			wire.Errorf("InvalidAction", "Could not find operation %s for version %s", action, form.Get("Version")))
		return
	}
	c := &iam.Caller{AccountID: kc.AccountID, AccessKeyID: kc.AccessKeyID, Region: kc.Region, Principal: kc.Identity,
		SourceIP: kc.SourceIP, SecureTransport: kc.SecureTransport, Session: sess}
	out, err := handle(ctx, h.iam, c, form)
	if err != nil {
		err = &sourcedError{err: err, accessKeyID: kc.AccessKeyID, remoteAddr: r.RemoteAddr}
	}
	if !h.answerQuery(w, r, svc, reqID, start, kc, action, form, out, err) {
		return
	}
	h.log.Debug("request", "request_id", reqID, "operation", svc.name+":"+action, "access_key_id", kc.AccessKeyID,
		"region", kc.Region, "status", http.StatusOK, "duration", time.Since(start))
}

func writeXML(w http.ResponseWriter, status int, b []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "text/xml")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeQueryError writes err in the awsQuery error shape with the status
// of the model (or of queryCodes). Anything but a *wire.Error is
// ServiceFailure (500) with a generic message; its cause is logged.
// Authentication failures and AccessDenied are logged at info level.
func (h *Handler) writeQueryError(w http.ResponseWriter, svc *queryService, reqID, action string, err error) {
	op := svc.name + ":" + action
	var we *wire.Error
	if !errors.As(err, &we) || we.Code == "" || we.Code == sigv4.CodeInternal {
		h.log.Error("internal error", "request_id", reqID, "operation", op, "err", err)
		we = &wire.Error{Code: "ServiceFailure", Message: "The request processing has failed because of an unknown error, exception or failure."}
	}
	code, status, sender := we.Code, 400, true
	if info, ok := svc.errors[code]; ok {
		status, sender = info.Status, info.Sender
	} else if m, ok := queryCodes[code]; ok {
		code, status = m.code, m.status
	}
	if securityCodes[we.Code] || code == "AccessDenied" {
		var src *sourcedError
		attrs := []any{"request_id", reqID, "operation", op, "code", code}
		if errors.As(err, &src) {
			attrs = append(attrs, "access_key_id", src.accessKeyID, "remote_addr", src.remoteAddr)
		}
		if we.Err != nil {
			attrs = append(attrs, "err", we.Err)
		}
		msg := "authentication failed"
		if code == "AccessDenied" {
			msg = "access denied"
		}
		h.log.Info(msg, attrs...)
	} else if we.Err != nil {
		h.log.Debug("request failed", "request_id", reqID, "operation", op, "code", code, "err", we.Err)
	}
	writeXML(w, status, query.ErrorResponse(svc.namespace, code, we.Message, reqID, sender))
}

// callerOf builds an iam.Caller from an authenticated KMS caller.
func callerOf(kc *kms.Caller) *iam.Caller {
	return &iam.Caller{AccountID: kc.AccountID, AccessKeyID: kc.AccessKeyID, Region: kc.Region, Principal: kc.Identity,
		SourceIP: kc.SourceIP, SecureTransport: kc.SecureTransport}
}

// codeExpiredTokenQuery is the awsQuery name of an expired session token:
// "Forbidden - ExpiredToken: The security token included in the request is
// expired" (miasma-rb/miasma#23; also aws-samples/aws-iot-twinmaker-samples#147
// for IAM CreateRole). STS's own ExpiredTokenException (an expired web
// identity token, 400) is another error.
const codeExpiredTokenQuery = "ExpiredToken"

// queryAuthError renames an authentication error for the query protocol
// where the name differs from awsJson's beyond queryCodes: an expired
// session token, whose awsJson code STS also uses for another error.
func queryAuthError(err error) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Code == sigv4.CodeExpiredToken {
		c := *we
		c.Code = codeExpiredTokenQuery
		return &sourcedErrorWrap{err: err, we: &c}
	}
	return err
}

// sourcedErrorWrap keeps the sourcedError of an authentication failure
// (for the log) while giving writeQueryError another *wire.Error.
type sourcedErrorWrap struct {
	err error // the original, a *sourcedError
	we  *wire.Error
}

func (e *sourcedErrorWrap) Error() string { return e.we.Error() }
func (e *sourcedErrorWrap) As(target any) bool {
	switch t := target.(type) {
	case **wire.Error:
		*t = e.we
		return true
	case **sourcedError:
		return errors.As(e.err, t)
	}
	return false
}

// serveWebIdentity answers an unsigned AssumeRoleWithWebIdentity.
func (h *Handler) serveWebIdentity(ctx context.Context, w http.ResponseWriter, r *http.Request, reqID string, form url.Values, start time.Time) {
	const action = "AssumeRoleWithWebIdentity"
	svc := stsService
	if form.Get("Version") != svc.version || h.iam == nil {
		h.writeQueryError(w, svc, reqID, action, wire.Errorf("InvalidAction", "Could not find operation %s for version %s", action, form.Get("Version")))
		return
	}
	// The region of an unsigned request is unknown; ARNs are answered in
	// the aws partition.
	c := &iam.Caller{Region: "us-east-1", SecureTransport: r.TLS != nil}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.SourceIP = ap.Addr().Unmap()
	}
	out, err := svc.routes[action](ctx, h.iam, c, form)
	if err != nil {
		err = &sourcedError{err: err, remoteAddr: r.RemoteAddr}
	}
	if !h.answerQuery(w, r, svc, reqID, start, nil, action, form, out, err) {
		return
	}
	h.log.Debug("request", "request_id", reqID, "operation", "sts:"+action, "status", http.StatusOK, "duration", time.Since(start))
}

// answerQuery writes the audit record of an awsQuery request, then its
// answer: out, or err in the query error shape. The record comes first,
// so no response leaves before it is durable; if it cannot be written the
// request fails with ServiceFailure instead. It reports whether out was
// answered.
func (h *Handler) answerQuery(w http.ResponseWriter, r *http.Request, svc *queryService, reqID string, start time.Time,
	kc *kms.Caller, action string, form url.Values, out query.Result, err error) bool {
	source := audit.SourceIAM
	if svc == stsService {
		source = audit.SourceSTS
	}
	name := action
	if name == "" {
		name = "Unknown"
	}
	readOnly := strings.HasPrefix(action, "Get") || strings.HasPrefix(action, "List")
	if aerr := h.recordCall(r, reqID, start, kc, source, name, readOnly, queryParams(form), nil, nil, err); aerr != nil {
		h.writeQueryError(w, svc, reqID, action, aerr)
		return false
	}
	if err != nil {
		h.writeQueryError(w, svc, reqID, action, err)
		return false
	}
	writeXML(w, http.StatusOK, query.Response(svc.namespace, action, svc.wrappers[action], out, reqID))
	return true
}

// secretParams are awsQuery parameters that never reach the audit trail:
// credentials that a request carries as its payload.
var secretParams = map[string]bool{"WebIdentityToken": true, "SAMLAssertion": true, "Password": true,
	"OldPassword": true, "NewPassword": true, "TokenCode": true}

// queryParams returns the request's parameters as CloudTrail logs them
// for IAM and STS (requestParameters, member names with a lower-case first
// letter, e.g. "userName"), without Action and Version, and without
// secrets. List members keep their flattened awsQuery names
// ("tags.member.1.Key"). nil when there are none.
func queryParams(form url.Values) json.RawMessage {
	m := map[string]string{}
	for k, v := range form {
		if k == "Action" || k == "Version" || secretParams[k] || len(v) == 0 || k == "" {
			continue
		}
		m[strings.ToLower(k[:1])+k[1:]] = v[0]
	}
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}
