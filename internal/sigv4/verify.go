package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/wire"
)

// ErrUnknownAccessKey is returned by a [Lookup] for an access key id it does
// not know. Verify turns it into UnrecognizedClientException.
var ErrUnknownAccessKey = errors.New("sigv4: unknown access key")

// Credential is what a [Lookup] knows about an access key.
type Credential struct {
	// Secret is the secret access key.
	Secret string

	// ValidToken is nil for a long-term access key: a request signed with
	// it that carries an X-Amz-Security-Token header is refused. For a
	// temporary (session) key it reports whether token is the key's
	// session token; a request without exactly one token is refused. It
	// should compare in constant time.
	ValidToken func(token string) bool
}

// Lookup returns the credential for an access key id. For an unknown key it
// returns an error for which errors.Is(err, ErrUnknownAccessKey); a
// *wire.Error (such as ExpiredTokenException for an expired session) is
// returned by Verify as it is; any other error is treated as an internal
// failure.
type Lookup func(ctx context.Context, accessKeyID string) (Credential, error)

// Verifier checks SigV4 Authorization headers. The zero value of the
// unexported fields is ready to use; a Verifier must not be copied after
// first use. It is safe for concurrent use.
type Verifier struct {
	Lookup  Lookup
	Service string           // signing name the credential scope must carry, e.g. "kms"
	Region  string           // if set, the region the credential scope must carry; "" accepts any
	Now     func() time.Time // nil means time.Now
	MaxSkew time.Duration    // allowed distance between request time and Now; 0 means 5 minutes

	// ValidRegion, if set, reports whether the server serves a region. A
	// credential scope naming another region is refused with
	// UnrecognizedClientException before the access key is looked up and
	// before anything is cached.
	ValidRegion func(region string) bool

	keys keyCache
}

// Result is what a verified request proves.
type Result struct {
	AccessKeyID string
	Region      string    // from the credential scope
	Time        time.Time // X-Amz-Date (or Date), UTC
}

// Error codes Verify returns, as AWS names them.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	// CodeExpiredToken is the answer to an authentic but expired session
	// token: "ExpiredTokenException: The security token included in the
	// request is expired", HTTP 400, from KMS (getsops/sops#621,
	// boto/boto3#1127). A Lookup returns it; Verify passes it on.
	CodeExpiredToken = "ExpiredTokenException"
	// MsgExpiredToken is the message of CodeExpiredToken.
	MsgExpiredToken = "The security token included in the request is expired"
	CodeInternal    = "KMSInternalException"
)

// Messages AWS sends; see verify_test.go for where each was found.
const (
	msgMissingToken = "Request is missing Authentication Token"
	// msgRepeatedAuthorization is Trent's own wording (inferred).
	msgRepeatedAuthorization = "The request must carry exactly one Authorization header."
	msgBothAuth              = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
	msgMismatch              = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgUnknownKey            = "The security token included in the request is invalid."
	msgHostNotSigned         = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
	msgTargetNotSigned       = "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
	msgDateNotSigned         = "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
	msgInternal              = "The request processing has failed because of an unknown error, exception or failure."
	defaultSkew              = 5 * time.Minute
	maxSignatureHexSize      = 2 * sha256.Size
)

func incomplete(msg string) *wire.Error {
	return &wire.Error{Code: CodeIncompleteSignature, Message: msg}
}
func invalid(msg string) *wire.Error { return &wire.Error{Code: CodeInvalidSignature, Message: msg} }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Verify checks r's Authorization header signature over r's method, path,
// query, headers and body (the full body bytes, which the caller has already
// read). It does not read r.Body. On failure it returns a zero Result and a
// *wire.Error carrying the AWS error code and message; see the package
// documentation.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (Result, error) {
	res, err := v.verify(ctx, r, body)
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

func (v *Verifier) verify(ctx context.Context, r *http.Request, body []byte) (Result, error) {
	// Two Authorization headers could be read differently by a proxy in
	// front of Trent and by Trent itself: refuse them. Strict choice; AWS's
	// answer is not recorded (inferred).
	if len(r.Header["Authorization"]) > 1 {
		return Result{}, incomplete(msgRepeatedAuthorization)
	}
	authz := r.Header.Get("Authorization")
	queryAuth := r.URL != nil && strings.Contains(r.URL.RawQuery, "X-Amz-Algorithm=")
	if authz != "" && queryAuth {
		return Result{}, invalid(msgBothAuth)
	}
	if !strings.HasPrefix(strings.TrimSpace(authz), "AWS4-") {
		// No header, a non-SigV4 scheme, or a presigned URL, which the KMS
		// endpoint does not accept.
		return Result{}, &wire.Error{Code: CodeMissingAuthenticationToken, Message: msgMissingToken}
	}

	a, err := parseAuthorization(authz)
	if err != nil {
		return Result{}, err
	}

	// AWS takes the time from X-Amz-Date, else from Date.
	dateName, dateVal := "x-amz-date", r.Header.Get("X-Amz-Date")
	if dateVal == "" {
		dateName, dateVal = "date", r.Header.Get("Date")
	}

	if a.credential == "" || a.signature == "" || a.signedHeaders == "" || dateVal == "" {
		return Result{}, incomplete(missingMessage(a, dateVal, authz))
	}
	signedHeaders, msg := checkSignedHeaders(a.signedHeaders)
	if msg != "" {
		return Result{}, incomplete(msg)
	}

	t, amzDate, ok := parseRequestTime(dateName, dateVal)
	if !ok {
		return Result{}, incomplete(fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", dateVal))
	}

	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = defaultSkew
	}
	n := now().UTC()
	if t.Before(n.Add(-skew)) {
		return Result{}, invalid(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, n.Add(-skew).Format(amzDateFmt), n.Format(amzDateFmt), skewString(skew)))
	}
	if t.After(n.Add(skew)) {
		return Result{}, invalid(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, n.Add(skew).Format(amzDateFmt), n.Format(amzDateFmt), skewString(skew)))
	}

	if !listHas(a.signedHeaders, "host") {
		return Result{}, invalid(msgHostNotSigned)
	}
	if _, ok := headerValues(r, "x-amz-target"); ok && !listHas(a.signedHeaders, "x-amz-target") {
		return Result{}, invalid(msgTargetNotSigned)
	}
	// The request time is in the string to sign, but an unsigned
	// X-Amz-Date header is refused as AWS refuses any required header
	// missing from SignedHeaders.
	if dateName == "x-amz-date" && !listHas(a.signedHeaders, "x-amz-date") {
		return Result{}, invalid(msgDateNotSigned)
	}

	if a.algorithm != algorithm {
		return Result{}, incomplete(fmt.Sprintf("Unsupported AWS 'algorithm': '%s' (only AWS4-HMAC-SHA256 for now). ", a.algorithm))
	}

	cs, ok := parseCredential(a.credential)
	if !ok {
		return Result{}, incomplete(fmt.Sprintf("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", a.credential))
	}
	if msg := v.scopeErrors(cs, amzDate); msg != "" {
		return Result{}, invalid(msg)
	}

	// An unserved region is refused before the key is looked up or
	// anything is cached, with the answer AWS gives for a region that is
	// not enabled for the account (UnrecognizedClientException, "The
	// security token included in the request is invalid."; reported for
	// opt-in regions in brefphp/extra-php-extensions#384 and
	// awslabs/landing-zone-accelerator-on-aws#269).
	if v.ValidRegion != nil && !v.ValidRegion(cs.region) {
		return Result{}, &wire.Error{Code: CodeUnrecognizedClient, Message: msgUnknownKey}
	}

	if v.Lookup == nil {
		return Result{}, &wire.Error{Code: CodeInternal, Message: msgInternal, Err: errors.New("sigv4: Verifier has no Lookup")}
	}
	cred, err := v.Lookup(ctx, cs.accessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownAccessKey) {
			return Result{}, &wire.Error{Code: CodeUnrecognizedClient, Message: msgUnknownKey, Err: err}
		}
		var we *wire.Error
		if errors.As(err, &we) {
			return Result{}, we // e.g. ExpiredTokenException for an expired session
		}
		return Result{}, &wire.Error{Code: CodeInternal, Message: msgInternal, Err: fmt.Errorf("sigv4: look up access key %s: %w", cs.accessKeyID, err)}
	}
	if err := checkToken(r, cred); err != nil {
		return Result{}, err
	}

	var payloadHex [2 * sha256.Size]byte
	payload := sha256.Sum256(body)
	appendHex(payloadHex[:0], payload[:])
	if sent, ok := headerValues(r, "x-amz-content-sha256"); ok && (len(sent) != 1 || sent[0] != string(payloadHex[:])) {
		return Result{}, &wire.Error{Code: CodeInvalidSignature, Message: msgMismatch, Err: errors.New("sigv4: x-amz-content-sha256 does not match the body")}
	}

	ck := newCacheKey(cred.Secret, cs)
	key, cached := v.keys.get(&ck)
	if !cached {
		key = deriveSigningKey(cred.Secret, cs.date, cs.region, cs.service)
	}

	// buf holds 64 bytes of HMAC inner padding followed by the canonical
	// request, then by the string to sign: see hmacSHA256.
	bp := bufPool.Get().(*[]byte)
	buf := append((*bp)[:0], make([]byte, sha256.BlockSize)...)
	buf = appendCanonicalRequest(buf, canonicalInput{
		r:             r,
		signedHeaders: signedHeaders,
		normalize:     true,
	}, payloadHex[:])
	canonicalHash := sha256.Sum256(buf[sha256.BlockSize:])
	buf = appendStringToSign(buf[:sha256.BlockSize], amzDate, cs.scope, &canonicalHash)
	want := hmacSHA256(&key, buf)
	*bp = buf
	bufPool.Put(bp)

	var got [sha256.Size]byte
	if !decodeSignature(&got, a.signature) || !hmac.Equal(want[:], got[:]) {
		return Result{}, &wire.Error{Code: CodeInvalidSignature, Message: msgMismatch}
	}
	// Only a key that produced a valid signature is cached, so failed
	// requests (random regions, wrong secrets) cannot fill the cache.
	if !cached {
		v.keys.put(&ck, key)
	}
	return Result{AccessKeyID: cs.accessKeyID, Region: cs.region, Time: t}, nil
}

// checkToken applies the X-Amz-Security-Token rules of [Credential]. Every
// refusal is UnrecognizedClientException "The security token included in
// the request is invalid.", AWS's answer for a token it does not accept
// (inferred for a long-term key with a token: AWS gives this message for
// every invalid token). The token need not be a signed header: the AWS
// SigV4 test suite has it both signed (post-sts-header-before) and added
// after signing (post-sts-header-after), "some services require that you
// include this parameter in the canonical (signed) request. For other
// services, you add this parameter at the end" (its readme.txt). A token
// is itself a secret checked by value, so signing it adds nothing here.
func checkToken(r *http.Request, cred Credential) error {
	tokens, sent := headerValues(r, "x-amz-security-token")
	switch {
	case cred.ValidToken == nil && !sent:
		return nil
	case cred.ValidToken != nil && sent && len(tokens) == 1 && cred.ValidToken(tokens[0]):
		return nil
	}
	var cause error
	if cred.ValidToken == nil {
		cause = errors.New("sigv4: security token sent with a long-term access key")
	} else {
		cause = errors.New("sigv4: missing or invalid security token for a session key")
	}
	return &wire.Error{Code: CodeUnrecognizedClient, Message: msgUnknownKey, Err: cause}
}

// missingMessage lists every missing part of the Authorization, as AWS does.
func missingMessage(a authorization, dateVal, authz string) string {
	var b strings.Builder
	if a.credential == "" {
		b.WriteString("Authorization header requires 'Credential' parameter. ")
	}
	if a.signature == "" {
		b.WriteString("Authorization header requires 'Signature' parameter. ")
	}
	if a.signedHeaders == "" {
		b.WriteString("Authorization header requires 'SignedHeaders' parameter. ")
	}
	if dateVal == "" {
		b.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	b.WriteString("(Hashed with SHA-256 and encoded with Base64) Authorization=")
	b.WriteString(hashHeader(strings.TrimSpace(authz)))
	return b.String()
}

// scopeErrors returns AWS's message for a credential scope that does not
// fit this Verifier and the request time, or "" if it fits. AWS lists every
// problem, in this order, each sentence followed by a space.
func (v *Verifier) scopeErrors(cs credentialScope, amzDate string) string {
	badRegion := cs.region == "" || (v.Region != "" && cs.region != v.Region)
	if !badRegion && cs.service == v.Service && cs.terminator == terminator && cs.date == amzDate[:8] {
		return ""
	}
	var b strings.Builder
	if badRegion {
		fmt.Fprintf(&b, "Credential should be scoped to a valid region, not '%s'. ", cs.region)
	}
	if cs.service != v.Service {
		fmt.Fprintf(&b, "Credential should be scoped to correct service: '%s'. ", v.Service)
	}
	if cs.terminator != terminator {
		fmt.Fprintf(&b, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", cs.terminator)
	}
	if cs.date != amzDate[:8] {
		fmt.Fprintf(&b, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'. ", cs.date, amzDate[:8], amzDate)
	}
	return b.String()
}

// parseRequestTime parses the request time. X-Amz-Date must be ISO 8601
// basic format; a Date header may also be an HTTP date. It returns the time
// and its basic-format form, which is what the string to sign carries.
func parseRequestTime(name, val string) (time.Time, string, bool) {
	if t, ok := parseAmzDate(val); ok {
		return t, val, true
	}
	if name == "date" {
		if t, err := http.ParseTime(val); err == nil {
			t = t.UTC()
			return t, t.Format(amzDateFmt), true
		}
	}
	return time.Time{}, "", false
}

// parseAmzDate parses an X-Amz-Date value (amzDateFmt) as time.Parse
// does, digit by digit on the common path (time.Parse costs about half a
// microsecond on every request); anything unusual goes to time.Parse.
// TestParseAmzDate compares the two.
func parseAmzDate(val string) (time.Time, bool) {
	if len(val) != len(amzDateFmt) {
		return time.Time{}, false
	}
	if val[8] == 'T' && val[15] == 'Z' {
		num := func(i, j int) int {
			n := 0
			for ; i < j; i++ {
				c := val[i]
				if c < '0' || c > '9' {
					return -1
				}
				n = n*10 + int(c-'0')
			}
			return n
		}
		y, mo, d := num(0, 4), num(4, 6), num(6, 8)
		h, mi, sec := num(9, 11), num(11, 13), num(13, 15)
		if y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && h >= 0 && h < 24 && mi >= 0 && mi < 60 && sec >= 0 && sec < 60 &&
			d <= time.Date(y, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
			return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), true
		}
	}
	t, err := time.Parse(amzDateFmt, val)
	return t, err == nil
}

func skewString(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmt.Sprintf("%d sec", d/time.Second)
}

// listHas reports whether the ';'-separated list contains name, ignoring case.
func listHas(list, name string) bool {
	for rest := list; ; {
		item, tail, more := strings.Cut(rest, ";")
		if strings.EqualFold(item, name) {
			return true
		}
		if !more {
			return false
		}
		rest = tail
	}
}

// hmacSHA256 returns HMAC-SHA256(key, msg) (RFC 2104) where buf is 64
// bytes of scratch space followed by msg. It computes the same value as
// crypto/hmac (checked in TestHMAC) without allocating, which matters on
// every request.
func hmacSHA256(key *[sha256.Size]byte, buf []byte) [sha256.Size]byte {
	const ipad, opad = 0x36, 0x5c
	for i := range sha256.BlockSize {
		buf[i] = ipad
	}
	for i, k := range key {
		buf[i] ^= k
	}
	inner := sha256.Sum256(buf)
	var outer [sha256.BlockSize + sha256.Size]byte
	for i := range sha256.BlockSize {
		outer[i] = opad
	}
	for i, k := range key {
		outer[i] ^= k
	}
	copy(outer[sha256.BlockSize:], inner[:])
	return sha256.Sum256(outer[:])
}

// decodeSignature decodes a lowercase hex signature into dst.
func decodeSignature(dst *[sha256.Size]byte, s string) bool {
	if len(s) != maxSignatureHexSize {
		return false
	}
	for i := 0; i < len(dst); i++ {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
