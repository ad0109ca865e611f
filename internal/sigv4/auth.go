package sigv4

import (
	"crypto/sha256"
	"encoding/base64"
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
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	h = strings.TrimSpace(h)
	alg, rest, _ := strings.Cut(h, " ")
	a.algorithm = alg
	for rest != "" {
		i := strings.IndexAny(rest, ", ")
		var part string
		if i < 0 {
			part, rest = rest, ""
		} else {
			part, rest = rest[:i], rest[i+1:]
		}
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return authorization{}, incomplete("Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '" + hashHeader(h) + "'.")
		}
		switch k {
		case "Credential":
			a.credential = v
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	return a, nil
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
