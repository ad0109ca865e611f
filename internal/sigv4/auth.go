package sigv4

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	amzDateFmt = "20060102T150405Z"
)

// authorization holds the parts of an Authorization header. Its strings
// point into the header value.
type authorization struct {
	algorithm     string
	credential    string
	signedHeaders string
	signature     string
}

// parseAuthorization splits "ALGORITHM Credential=..., SignedHeaders=...,
// Signature=..." into its parts. Parameters may be separated by commas,
// spaces or both; unknown parameters are ignored. A parameter without '='
// is an error, as it is for AWS. Missing parameters are left empty for the
// caller to report together.
//
// A repeated Credential, SignedHeaders or Signature parameter is an
// IncompleteSignatureException. AWS is recorded as taking the last value
// ("Rule 6c: Use the last value for each key; overwriting is ok." in
// dacut/scratchstack-aws-signature, src/canonical.rs, which follows AWS's
// "Auth Error Ordering" document), but then a proxy or log that reads the
// first value sees another key than the one that was verified. Trent
// refuses the ambiguity (strict; code and message inferred, AWS has none).
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	h = strings.TrimSpace(h)
	alg, rest, _ := strings.Cut(h, " ")
	a.algorithm = alg
	var seen [3]bool
	// Parts end at the next comma or space. The position of each is found
	// with one IndexByte scan and kept until passed, so the header is
	// scanned once whatever its length and separators.
	comma, space := -1, -1
	for off := 0; off < len(rest); {
		if comma < off {
			comma = indexFrom(rest, off, ',')
		}
		if space < off {
			space = indexFrom(rest, off, ' ')
		}
		end := min(comma, space)
		part := rest[off:end]
		off = end + 1
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return authorization{}, incomplete("Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '" + hashHeader(h) + "'.")
		}
		var p int
		switch k {
		case "Credential":
			p, a.credential = 0, v
		case "SignedHeaders":
			p, a.signedHeaders = 1, v
		case "Signature":
			p, a.signature = 2, v
		default:
			continue
		}
		if seen[p] {
			return authorization{}, incomplete("Authorization header has more than one '" + k + "' parameter. (Hashed with SHA-256 and encoded with Base64) Authorization=" + hashHeader(h))
		}
		seen[p] = true
	}
	return a, nil
}

// indexFrom returns the index of the first c in s at or after off, or
// len(s).
func indexFrom(s string, off int, c byte) int {
	if i := strings.IndexByte(s[off:], c); i >= 0 {
		return off + i
	}
	return len(s)
}

// AccessKeyID returns the access key id of the Credential parameter of an
// Authorization header, for logging a request that failed verification. It
// is "" when there is none and is cut to 128 bytes, the longest access key
// id; it is whatever the client sent, not a verified identity.
func AccessKeyID(authorizationHeader string) string {
	a, err := parseAuthorization(authorizationHeader)
	if err != nil || a.credential == "" {
		return ""
	}
	id, _, _ := strings.Cut(a.credential, "/")
	if len(id) > maxAccessKeyIDLen {
		id = id[:maxAccessKeyIDLen]
	}
	return strings.Clone(id)
}

// Region returns the region of the credential scope of an Authorization
// header ("Credential=AKID/20150830/us-east-1/kms/aws4_request"), without
// verifying anything, for recording a request that did not authenticate.
// It returns "" when the header does not parse, the scope does not have its
// five parts, or the region is not a plausible region name (lower-case
// letters, digits and dashes, at most 32 characters).
func Region(authorizationHeader string) string {
	a, err := parseAuthorization(authorizationHeader)
	if err != nil {
		return ""
	}
	f := strings.Split(a.credential, "/")
	if len(f) != 5 || len(f[2]) == 0 || len(f[2]) > 32 {
		return ""
	}
	for _, c := range f[2] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return ""
		}
	}
	return strings.Clone(f[2])
}

// maxAccessKeyIDLen is the longest access key id AWS allows (IAM
// AccessKeyIdType: 16 to 128 characters).
const maxAccessKeyIDLen = 128

// maxSignedHeaders bounds the SignedHeaders list. The AWS SDKs sign a
// handful of headers (a KMS request: content-length, content-type, host,
// x-amz-date, x-amz-security-token, x-amz-target, and a few more), so 64 is
// ample; the bound keeps the work done before the signature comparison
// independent of what an unauthenticated caller sends.
const maxSignedHeaders = 64

// checkSignedHeaders checks that the SignedHeaders value is a list of at
// most [maxSignedHeaders] distinct, non-empty, lower-case names, and returns
// it sorted, as the canonical request carries it. The bound is checked
// first, in a single pass over the bytes, before any per-name work. On a
// fault it returns AWS-style message; AWS's messages for these faults are
// not recorded, so these are inferred (IncompleteSignatureException, the
// code AWS uses for a malformed Authorization header).
func checkSignedHeaders(list string) (sorted, msg string) {
	if strings.Count(list, ";") >= maxSignedHeaders {
		return "", fmt.Sprintf("SignedHeaders must name at most %d headers.", maxSignedHeaders)
	}
	for i := 0; i < len(list); i++ {
		if c := list[i]; 'A' <= c && c <= 'Z' {
			return "", "SignedHeaders must name headers in lower case."
		}
	}
	if list == "" || list[0] == ';' || list[len(list)-1] == ';' || strings.Contains(list, ";;") {
		return "", "SignedHeaders must not contain an empty header name."
	}
	if headerListCanonical(list) {
		return list, "" // strictly sorted, so no name repeats
	}
	// Unsorted: accepted and sorted once here (an uncommon path, so it
	// may allocate), as a verifier that sorts before building the
	// canonical request does (dacut/scratchstack-aws-signature sorts).
	names := strings.Split(list, ";")
	slices.Sort(names)
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			return "", "SignedHeaders must not name a header more than once."
		}
	}
	return strings.Join(names, ";"), ""
}

// hashHeader returns the base64 SHA-256 of an Authorization header, which
// AWS quotes in its messages instead of the header itself.
func hashHeader(h string) string {
	sum := sha256.Sum256([]byte(h))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// credentialScope is a parsed Credential parameter.
type credentialScope struct {
	accessKeyID, date, region, service, terminator string
	scope                                          string // date/region/service/terminator
}

// parseCredential splits keyid/date/region/service/aws4_request. Trailing
// slashes are ignored, as AWS ignores them.
func parseCredential(c string) (credentialScope, bool) {
	c = strings.TrimRight(c, "/")
	var cs credentialScope
	var ok bool
	cs.accessKeyID, cs.scope, ok = strings.Cut(c, "/")
	if !ok || strings.Count(cs.scope, "/") != 3 {
		return credentialScope{}, false
	}
	rest := cs.scope
	cs.date, rest, _ = strings.Cut(rest, "/")
	cs.region, rest, _ = strings.Cut(rest, "/")
	cs.service, cs.terminator, _ = strings.Cut(rest, "/")
	return cs, true
}
