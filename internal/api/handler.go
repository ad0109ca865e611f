package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/quota"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Config holds a Handler's dependencies.
type Config struct {
	Service *kms.Service
	// IAM serves IAM, STS and Trent's account administration on the same
	// endpoint; nil answers those requests as unknown operations.
	IAM    *iam.Service
	Logger *slog.Logger     // nil discards
	Now    func() time.Time // SigV4's clock; nil means time.Now
	// EventClock dates audit records (eventTime) with the KMS service's
	// clock, so that a test that moves that clock gets records dated as
	// the keys it creates and deletes; nil means the request's arrival.
	EventClock func() time.Time
	// Audit receives one record per request, written before the response
	// (see finish); nil writes none.
	Audit *audit.Log
	// Quotas applies request quotas by operation; nil means none. The
	// quotas by key type are applied by kms ([KeyThrottle]).
	Quotas *quota.Limiter
	// Store is read by TrentAdmin.GetUsageReport for the current keys;
	// nil reports from the audit trail alone.
	Store store.Store
}

// Handler serves the KMS API. It is safe for concurrent use.
type Handler struct {
	svc         *kms.Service
	iam         *iam.Service
	log         *slog.Logger
	verifier    *sigv4.Verifier // KMS and TrentAdmin: signing name "kms"
	iamVerifier *sigv4.Verifier // IAM: "iam", us-east-1 or cn-north-1
	stsVerifier *sigv4.Verifier // STS: "sts", any served region
	audit       *audit.Log
	quotas      *quota.Limiter
	eventClock  func() time.Time
	store       store.Store
	queries     chan struct{} // running TrentAdmin queries (adminquery.go)
}

// NewHandler returns a Handler serving cfg.Service.
func NewHandler(cfg Config) *Handler {
	h := &Handler{svc: cfg.Service, iam: cfg.IAM, log: cfg.Logger, audit: cfg.Audit, quotas: cfg.Quotas, eventClock: cfg.EventClock, store: cfg.Store,
		queries: make(chan struct{}, maxRunningQueries)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	lookup := func(ctx context.Context, accessKeyID string) (sigv4.Credential, error) {
		if iam.IsSessionKey(accessKeyID) {
			return h.sessionCredential(ctx, accessKeyID)
		}
		id, err := h.svc.Identity(ctx, accessKeyID)
		if errors.Is(err, kms.ErrUnknownAccessKey) {
			return sigv4.Credential{}, sigv4.ErrUnknownAccessKey
		}
		if err != nil {
			return sigv4.Credential{}, err
		}
		// A long-term key: ValidToken stays nil, so any
		// X-Amz-Security-Token is refused.
		return sigv4.Credential{Secret: id.Secret()}, nil
	}
	h.verifier = &sigv4.Verifier{Service: "kms", Now: cfg.Now, ValidRegion: h.svc.ServesRegion, Lookup: lookup}
	h.iamVerifier = &sigv4.Verifier{Service: "iam", Now: cfg.Now, ValidRegion: func(r string) bool { return iamRegions[r] && h.svc.ServesRegion(r) }, Lookup: lookup}
	h.stsVerifier = &sigv4.Verifier{Service: "sts", Now: cfg.Now, ValidRegion: h.svc.ServesRegion, Lookup: lookup}
	return h
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP handles one KMS API request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	// Every line logged while serving the request carries its id (kms and
	// iam log with the request's context).
	// The KMS path passes the context on as x.ctx rather than copying the
	// request (r.WithContext) for it; the context carrying the id lives in
	// the exchange (kms.WithRequestID without its allocations).
	start := time.Now()
	target := r.Header.Get("X-Amz-Target")
	x := &exchange{r: r, reqID: reqID, target: target, start: start}
	x.reqCtx = requestCtx{Context: r.Context(), id: reqID}
	base := context.Context(&x.reqCtx)
	x.ctx = base
	// The header's value lives in the exchange, saving Set's allocations;
	// the key is already canonical, as Set would have made it.
	x.reqIDHeader[0] = reqID
	w.Header()[hdrRequestID] = x.reqIDHeader[:1:1]
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("panic serving request", "request_id", reqID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			h.finish(w, x, nil, errors.New("panic"))
		}
	}()

	if target == "" && isForm(r.Header.Get("Content-Type")) {
		h.serveQuery(w, r.WithContext(base), reqID, start)
		return
	}
	if strings.HasPrefix(target, adminPrefix) {
		h.serveAdmin(w, r.WithContext(base), reqID, target)
		return
	}
	rt, ok := routes[target]
	if !ok || r.Method != http.MethodPost {
		h.finish(w, x, nil, &wire.Error{Code: "UnknownOperationException"})
		return
	}

	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		// The body may hold plaintext: wipe it before the buffer is reused.
		b := buf.Bytes()
		clear(b[:cap(b)])
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	buf.Reset()
	if r.ContentLength > rt.MaxBody {
		h.finish(w, x, nil, errTooLarge(rt.MaxBody))
		return
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, rt.MaxBody)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.finish(w, x, nil, errTooLarge(rt.MaxBody))
			return
		}
		h.log.Debug("read request body", "request_id", reqID, "err", err)
		return // the client went away
	}
	body := buf.Bytes()
	if len(body) > 0 && !isAWSJSON(r.Header.Get("Content-Type")) {
		// A body that is not declared awsJson1.1 is not parsed at all.
		h.finishUnparsed(w, x)
		return
	}

	x.deadline.init(base, rt.Timeout)
	defer x.deadline.release()
	ctx := context.Context(&x.deadline)
	// The caller of a long-term key lives in pooled storage, returned
	// below once the request is answered (not on a panic: the recovery
	// above still reads x.caller).
	ca := callerPool.Get().(*callerAuthz)
	caller, _, err := h.authenticateInto(ctx, h.verifier, r, body, ca, &x.auth)
	if err == nil {
		err = h.throttle(caller, target)
	}
	if err != nil {
		h.finish(w, x, nil, err)
		ca.release()
		return
	}
	x.caller = caller
	caller.RequestID = reqID
	var out any
	x.in, out, err = rt.Handle(ctx, h.svc, caller, body)
	if err != nil {
		h.finish(w, x, nil, &sourcedError{err: err, accessKeyID: caller.AccessKeyID, remoteAddr: r.RemoteAddr})
		ca.release()
		return
	}
	h.finish(w, x, out, nil)
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.Debug("request", "request_id", reqID, "operation", target, "access_key_id", caller.AccessKeyID,
			"region", caller.Region, "status", http.StatusOK, "duration", time.Since(start))
	}
	ca.release()
}

// callerAuthz is a caller and its request's Authorization in one
// allocation (1.2 KB, mostly the Authorization's checks), pooled by
// ServeHTTP. kms keeps neither past the call (it copies the request id
// for the key's last use), and the audit record is encoded before finish
// returns.
type callerAuthz struct {
	c kms.Caller
	a kms.Authorization
}

var callerPool = sync.Pool{New: func() any { return new(callerAuthz) }}

// release clears ca, dropping what it refers to, and returns it to the pool.
func (ca *callerAuthz) release() {
	*ca = callerAuthz{}
	callerPool.Put(ca)
}

// authenticate verifies the request's SigV4 signature and returns the caller.
// A failure is returned as a *sourcedError, so writeError can log who sent
// the request. A region the service does not serve is refused by the
// verifier (ValidRegion) before any lookup.
func (h *Handler) authenticate(ctx context.Context, r *http.Request, body []byte) (*kms.Caller, error) {
	return h.authenticateWith(ctx, h.verifier, r, body)
}

// authenticateWith is authenticate with the verifier of another signing name.
func (h *Handler) authenticateWith(ctx context.Context, v *sigv4.Verifier, r *http.Request, body []byte) (*kms.Caller, error) {
	c, _, err := h.authenticateSession(ctx, v, r, body)
	return c, err
}

// authenticateSession is authenticateWith that also returns the role
// session of a session access key (nil for a long-term key).
func (h *Handler) authenticateSession(ctx context.Context, v *sigv4.Verifier, r *http.Request, body []byte) (*kms.Caller, *iam.Session, error) {
	return h.authenticateInto(ctx, v, r, body, nil, nil)
}

// authenticateInto is authenticateSession that builds the caller of a
// long-term key in ca and looks the session up with st (nil: new ones).
func (h *Handler) authenticateInto(ctx context.Context, v *sigv4.Verifier, r *http.Request, body []byte, ca *callerAuthz, st *authState) (*kms.Caller, *iam.Session, error) {
	if st == nil {
		st = new(authState)
	}
	sc := &st.sc
	if tokens := r.Header.Values("X-Amz-Security-Token"); len(tokens) == 1 {
		sc.token = tokens[0]
	}
	st.ctx = sessionValueCtx{Context: ctx, sc: sc}
	res, err := v.Verify(&st.ctx, r, body)
	if err != nil {
		return nil, nil, &sourcedError{err: err, accessKeyID: sigv4.AccessKeyID(r.Header.Get("Authorization")), remoteAddr: r.RemoteAddr}
	}
	if sc.session != nil {
		return h.sessionCaller(sc, res, r), sc.session, nil
	}
	id, err := h.svc.Identity(ctx, res.AccessKeyID)
	if errors.Is(err, kms.ErrUnknownAccessKey) {
		// Deleted between the signature check and now.
		err = &wire.Error{Code: sigv4.CodeUnrecognizedClient, Message: "The security token included in the request is invalid.", Err: err}
	}
	if err != nil {
		return nil, nil, &sourcedError{err: err, accessKeyID: res.AccessKeyID, remoteAddr: r.RemoteAddr}
	}
	if ca == nil {
		ca = new(callerAuthz)
	}
	ca.c = kms.Caller{AccountID: id.AccountID, Principal: id.Principal, AccessKeyID: id.AccessKeyID, Region: res.Region,
		Identity: id.PolicyPrincipal(), SecureTransport: r.TLS != nil}
	c := &ca.c
	c.Authz = &ca.a
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.SourceIP = ap.Addr().Unmap()
	}
	return c, nil, nil
}

// sourcedError is a failed request's error with who sent the request, for
// the log. accessKeyID is as the client sent it when authentication failed.
type sourcedError struct {
	err         error
	accessKeyID string
	remoteAddr  string
}

func (e *sourcedError) Error() string { return e.err.Error() }
func (e *sourcedError) Unwrap() error { return e.err }

// securityCodes are the errors logged at info level for intrusion
// detection: every authentication failure and every denied access.
var securityCodes = map[string]bool{
	sigv4.CodeMissingAuthenticationToken: true,
	sigv4.CodeIncompleteSignature:        true,
	sigv4.CodeInvalidSignature:           true,
	sigv4.CodeUnrecognizedClient:         true,
	sigv4.CodeExpiredToken:               true,
	codeExpiredTokenQuery:                true,
	"AccessDeniedException":              true,
}

// isAWSJSON reports whether a Content-Type header names awsJson1.1,
// "application/x-amz-json-1.1", which every AWS SDK and the AWS CLI send for
// KMS. Parameters ("; charset=utf-8") are ignored and the media type is
// matched without regard to case (RFC 9110, section 8.3.1).
//
// AWS's answer to another content type is not documented for KMS. For
// DynamoDB, an awsJson service on the same stack, a request with the other
// awsJson version's content type gets HTTP 404 ("DynamoDB requests fail with
// 404 — application/x-amz-json-1.1 Content-Type hardcoded for all JSON
// services", https://github.com/huseyinbabal/taws/issues/165; also
// https://github.com/rusoto/rusoto/issues/215), and dynalite, which mirrors
// DynamoDB's responses, answers a non-empty body of another content type with
// 404 UnknownOperationException before parsing it (architect/dynalite,
// index.js: "res.statusCode = 404 ... '<UnknownOperationException/>'").
// Trent answers the same, 404 UnknownOperationException, in its JSON error
// shape (inferred for KMS). Dynalite also accepts "application/json"; for
// KMS that is unconfirmed, so Trent takes the strict answer and refuses it.
func isAWSJSON(ct string) bool {
	const want = "application/x-amz-json-1.1"
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), want)
}

// readAll reads a request body of at most limit bytes.
func readAll(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return buf.Bytes(), err
}

func errTooLarge(limit int64) error {
	return wire.Errorf("RequestEntityTooLargeException", "Request body exceeds the maximum of %d bytes.", limit)
}

// decode parses a JSON request body into in with the strict decoder
// generated from the model (internal/wire/decoders.go): member names match
// exactly, and a repeated member, invalid UTF-8 or an unpaired surrogate
// escape is refused, so that Trent acts on the same request that any proxy in
// front of it reads. An empty body is an empty object. Malformed JSON and
// values of the wrong type are SerializationException, as AWS reports them.
func decode(body []byte, in jsonDecoder) error {
	return in.DecodeJSON(body)
}

// jsonDecoder is implemented by every generated input shape.
type jsonDecoder interface{ DecodeJSON(body []byte) error }

// errorBody is the awsJson1.1 error document.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

// appendJSON appends e as json.Marshal writes it.
func (e errorBody) appendJSON(b []byte) []byte {
	b = append(b, `{"__type":`...)
	b = wire.AppendJSONString(b, e.Type)
	if e.Message != "" {
		b = append(b, `,"message":`...)
		b = wire.AppendJSONString(b, e.Message)
	}
	return append(b, '}')
}

// writeError writes err as an AWS error. Anything but a *wire.Error is an
// internal failure: the cause is logged, the caller sees a generic message.
//
// Authentication failures and AccessDeniedException are logged at info
// level with the request id, the access key id (as sent, when the
// signature did not verify), the source address, the operation and the
// code: never a secret, a signature or the Authorization header. The cause
// of every KMSInternalException is logged at error level.
func (h *Handler) writeError(w http.ResponseWriter, reqID, target string, err error) {
	var we *wire.Error
	if errors.Is(err, store.ErrUnavailable) && (!errors.As(err, &we) || we.Code == "" || we.Code == "KMSInternalException") {
		we = errUnavailable(target, err)
		h.log.Warn("database unavailable", "request_id", reqID, "operation", target, "code", we.Code, "err", err)
		h.writeJSON(w, wire.Status(we.Code), errorBody{Type: we.Code, Message: we.Message})
		return
	}
	switch {
	case !errors.As(err, &we) || we.Code == "":
		h.log.Error("internal error", "request_id", reqID, "operation", target, "err", err)
		we = &wire.Error{Code: "KMSInternalException", Message: "The request was rejected because an internal exception occurred. The request can be retried."}
	case we.Code == "KMSInternalException":
		cause := we.Err
		if cause == nil {
			cause = err
		}
		h.log.Error("internal error", "request_id", reqID, "operation", target, "code", we.Code, "err", cause)
	case securityCodes[we.Code]:
		var src *sourcedError
		errors.As(err, &src)
		attrs := []any{"request_id", reqID, "operation", target, "code", we.Code}
		if src != nil {
			attrs = append(attrs, "access_key_id", src.accessKeyID, "remote_addr", src.remoteAddr)
		}
		if we.Err != nil {
			attrs = append(attrs, "err", we.Err)
		}
		msg := "authentication failed"
		if we.Code == "AccessDeniedException" {
			msg = "access denied"
		}
		h.log.Info(msg, attrs...)
	case we.Err != nil:
		h.log.Debug("request failed", "request_id", reqID, "operation", target, "code", we.Code, "err", we.Err)
	}
	h.writeJSON(w, wire.Status(we.Code), errorBody{Type: we.Code, Message: we.Message})
}

// errUnavailable is the answer to a request that failed because the
// database could not be reached in time (store.ErrUnavailable):
// DependencyTimeoutException (503), which the KMS model documents as "The
// system timed out while trying to fulfill the request. You can retry the
// request.", for the operations whose model lists it, and
// KMSInternalException, "The request can be retried.", which every
// operation lists, for the others (as notReady in internal/server does
// while a node starts). Both are retried by the AWS SDKs.
func errUnavailable(target string, cause error) *wire.Error {
	op := wire.Operations[strings.TrimPrefix(target, "TrentService.")]
	if slices.Contains(op.Errors, "DependencyTimeoutException") {
		return &wire.Error{Code: "DependencyTimeoutException", Message: "The system timed out while trying to fulfill the request. You can retry the request.", Err: cause}
	}
	return &wire.Error{Code: "KMSInternalException", Message: "The request was rejected because an internal exception occurred. The request can be retried.", Err: cause}
}

// writeJSON writes v (nil for an empty object) with the awsJson1.1 content type.
// The generated shapes and errorBody are appended, without reflection,
// into a pooled buffer that is wiped after the write (a response may hold
// plaintext); anything else goes through json.Marshal. Both give the same
// bytes (wire's TestAppendJSONMatchesMarshal, TestErrorBodyMatchesMarshal).
func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) {
	if eb, ok := v.(errorBody); ok {
		noteOutcome(w, eb.Type)
	}
	bp := respPool.Get().(*[]byte)
	b := (*bp)[:0]
	switch v := v.(type) {
	case nil:
		b = append(b, "{}"...)
	case errorBody:
		b = v.appendJSON(b)
	case wire.JSONAppender:
		b = v.AppendJSON(b)
	default:
		m, err := json.Marshal(v)
		if err != nil {
			h.log.Error("encode response", "request_id", w.Header().Get(hdrRequestID), "err", err)
			status, m = http.StatusInternalServerError, []byte(`{"__type":"KMSInternalException"}`)
		}
		b = append(b, m...)
	}
	hd := w.Header()
	hd[hdrContentType] = awsJSONContentType
	hd[hdrContentLength] = contentLength(len(b))
	w.WriteHeader(status)
	w.Write(b)
	clear(b)
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		respPool.Put(bp)
	}
}

// respPool holds response buffers for writeJSON.
var respPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// Canonical header keys (textproto.CanonicalMIMEHeaderKey), so that
// writing them is a map assignment; Go writes them to the wire as they are
// here, as it did when Set canonicalized "x-amzn-RequestId".
const (
	hdrRequestID     = "X-Amzn-Requestid"
	hdrContentType   = "Content-Type"
	hdrContentLength = "Content-Length"
)

// awsJSONContentType is the Content-Type of every response. Header values
// are shared read-only: net/http and httptest only read or replace them,
// and a slice with no spare capacity cannot be appended to in place.
var awsJSONContentType = []string{"application/x-amz-json-1.1"}

// contentLengths holds the Content-Length values of the bodies shorter
// than len(contentLengths), built once: every response of the crypto
// operations is one of them.
var contentLengths = func() [][]string {
	const n = 4096
	vals := make([]string, n)
	for i := range vals {
		vals[i] = strconv.Itoa(i)
	}
	l := make([][]string, n)
	for i := range l {
		l[i] = vals[i : i+1 : i+1]
	}
	return l
}()

// contentLength returns the header value of a body of n bytes.
func contentLength(n int) []string {
	if n < len(contentLengths) {
		return contentLengths[n]
	}
	return []string{strconv.Itoa(n)}
}

// idRand holds ChaCha8 generators, each seeded from crypto/rand, for
// request and event ids. ChaCha8 is a cryptographically strong generator
// (math/rand/v2), so ids stay unpredictable; drawing 16 bytes from it
// costs about 0.1 µs, against 0.4 µs for crypto/rand on the development
// machine, and every request draws two (request id and audit event id).
var idRand = sync.Pool{New: func() any {
	var seed [32]byte
	rand.Read(seed[:])
	return mrand.NewChaCha8(seed)
}}

// newRequestID returns a random UUID-shaped (version 4) request id.
func newRequestID() string {
	var b [16]byte
	g := idRand.Get().(*mrand.ChaCha8)
	g.Read(b[:])
	idRand.Put(g)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
