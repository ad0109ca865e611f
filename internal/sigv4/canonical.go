package sigv4

import (
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

const hexDigits = "0123456789abcdef"
const upperHex = "0123456789ABCDEF"

// canonicalInput is what the canonical request is built from. It is kept
// apart from http.Request so the builder can be tested and fuzzed directly.
type canonicalInput struct {
	r             *http.Request
	signedHeaders string // as sent in the Authorization header
	normalize     bool   // remove dot segments and repeated slashes from the path
}

// appendCanonicalRequest appends the SigV4 canonical request for in and the
// lowercase hex SHA-256 of the body to dst:
//
//	Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
//
// CanonicalHeaders ends with its own newline per header, so an empty line
// separates it from SignedHeaders.
func appendCanonicalRequest(dst []byte, in canonicalInput, payloadHash []byte) []byte {
	r := in.r
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	dst = appendCanonicalURI(dst, rawPath(r), in.normalize)
	dst = append(dst, '\n')
	if r.URL != nil {
		dst = appendCanonicalQuery(dst, r.URL.RawQuery)
	}
	dst = append(dst, '\n')

	names := in.signedHeaders
	if !headerListCanonical(names) {
		names = canonicalHeaderList(names)
	}
	for rest := names; ; {
		name, tail, more := strings.Cut(rest, ";")
		dst = append(dst, name...)
		dst = append(dst, ':')
		dst = appendHeaderValue(dst, r, name)
		dst = append(dst, '\n')
		if !more {
			break
		}
		rest = tail
	}
	dst = append(dst, '\n')
	dst = append(dst, names...)
	dst = append(dst, '\n')
	dst = append(dst, payloadHash...)
	return dst
}

// headerListCanonical reports whether a SignedHeaders value is already
// lowercase and strictly sorted, which is what every SDK sends.
func headerListCanonical(s string) bool {
	prev := ""
	for rest := s; ; {
		name, tail, more := strings.Cut(rest, ";")
		for i := 0; i < len(name); i++ {
			if c := name[i]; 'A' <= c && c <= 'Z' {
				return false
			}
		}
		if prev != "" && name <= prev {
			return false
		}
		prev = name
		if !more {
			return true
		}
		rest = tail
	}
}

// canonicalHeaderList lowercases and sorts a SignedHeaders value.
func canonicalHeaderList(s string) string {
	names := strings.Split(strings.ToLower(s), ";")
	slices.Sort(names)
	return strings.Join(names, ";")
}

// rawPath returns the request path as the client sent it, before Go's
// decoding: the signature covers the bytes on the wire.
func rawPath(r *http.Request) string {
	if u := r.RequestURI; len(u) > 0 && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if r.URL != nil {
		if p := r.URL.EscapedPath(); p != "" {
			return p
		}
	}
	return "/"
}

// appendCanonicalURI appends the URI-encoded path. With normalize, dot
// segments are removed and repeated slashes collapsed first, keeping a
// trailing slash.
func appendCanonicalURI(dst []byte, p string, normalize bool) []byte {
	if p == "" {
		p = "/"
	}
	if normalize && needsNormalize(p) {
		clean := path.Clean(p)
		if clean == "." || clean == "" {
			clean = "/"
		}
		if clean[0] != '/' {
			clean = "/" + clean
		}
		if strings.HasSuffix(p, "/") && !strings.HasSuffix(clean, "/") {
			clean += "/"
		}
		p = clean
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || unreserved(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// needsNormalize reports whether p has "//", a "." or ".." segment, or does
// not start with a slash.
func needsNormalize(p string) bool {
	if p[0] != '/' {
		return true
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		if i+1 < len(p) && p[i+1] == '/' {
			return true
		}
		seg := p[i+1:]
		if j := strings.IndexByte(seg, '/'); j >= 0 {
			seg = seg[:j]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

func appendURIEncode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// appendCanonicalQuery appends the canonical query string: each name and
// value decoded ('+' is a space, as the AWS SDKs treat it), URI-encoded,
// and the pairs sorted by name, then value.
func appendCanonicalQuery(dst []byte, raw string) []byte {
	if raw == "" {
		return dst
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, strings.Count(raw, "&")+1)
	for rest := raw; ; {
		part, tail, more := strings.Cut(rest, "&")
		if part != "" {
			k, v, _ := strings.Cut(part, "=")
			pairs = append(pairs, pair{
				k: string(appendURIEncode(nil, queryUnescape(k))),
				v: string(appendURIEncode(nil, queryUnescape(v))),
			})
		}
		if !more {
			break
		}
		rest = tail
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.k...)
		dst = append(dst, '=')
		dst = append(dst, p.v...)
	}
	return dst
}

// queryUnescape decodes s; a malformed escape leaves s as sent, so it is
// then encoded literally ('%' becomes %25).
func queryUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// appendHeaderValue appends the canonical value of the lowercase header
// name: each value trimmed, runs of spaces collapsed, values joined by ','.
func appendHeaderValue(dst []byte, r *http.Request, name string) []byte {
	vals, ok := headerValues(r, name)
	if !ok {
		switch name {
		case "host":
			h := r.Host
			if h == "" && r.URL != nil {
				h = r.URL.Host
			}
			return appendTrimmed(dst, h)
		case "content-length":
			// Go moves Content-Length out of Header on requests it builds.
			if r.ContentLength >= 0 {
				return strconv.AppendInt(dst, r.ContentLength, 10)
			}
		case "transfer-encoding":
			vals = r.TransferEncoding
		}
	}
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTrimmed(dst, v)
	}
	return dst
}

// headerValues finds the values of a lowercase header name in r.Header
// without allocating in the common case. The keys must be as net/http
// stores them: in canonical form (http.CanonicalHeaderKey), which is what
// Go's server produces, since it refuses header names that are not tokens.
// There is deliberately no case-insensitive scan of all keys: the cost of a
// lookup must not grow with the number of headers an unauthenticated
// caller sends.
func headerValues(r *http.Request, name string) ([]string, bool) {
	if name == "" || r.Header == nil {
		return nil, false
	}
	if key := knownHeaderKey(name); key != "" {
		v, ok := r.Header[key]
		return v, ok
	}
	var buf [128]byte
	key := buf[:0]
	if len(name) > len(buf) {
		key = make([]byte, 0, len(name))
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !tokenByte(c) {
			// http.CanonicalHeaderKey leaves such names unchanged.
			v, ok := r.Header[name]
			return v, ok
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		key = append(key, c)
		upper = c == '-'
	}
	v, ok := r.Header[string(key)]
	return v, ok
}

// knownHeaderKey returns the canonical form of the header names that the
// AWS SDKs sign or that the verifier looks up on every request, or "" for
// another name (TestKnownHeaderKey checks them against
// http.CanonicalHeaderKey). It saves headerValues' loop over the name.
func knownHeaderKey(name string) string {
	switch name {
	case "host":
		return "Host"
	case "content-type":
		return "Content-Type"
	case "content-length":
		return "Content-Length"
	case "x-amz-date":
		return "X-Amz-Date"
	case "x-amz-target":
		return "X-Amz-Target"
	case "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "x-amz-security-token":
		return "X-Amz-Security-Token"
	case "x-amz-user-agent":
		return "X-Amz-User-Agent"
	case "amz-sdk-invocation-id":
		return "Amz-Sdk-Invocation-Id"
	case "amz-sdk-request":
		return "Amz-Sdk-Request"
	}
	return ""
}

// tokenByte reports whether c may appear in an HTTP header name (RFC 9110
// token).
func tokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// appendTrimmed appends v without leading and trailing whitespace and with
// each run of inner spaces replaced by one space.
func appendTrimmed(dst []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// appendStringToSign appends the SigV4 string to sign.
func appendStringToSign(dst []byte, amzDate, scope string, canonicalHash *[32]byte) []byte {
	dst = append(dst, algorithm...)
	dst = append(dst, '\n')
	dst = append(dst, amzDate...)
	dst = append(dst, '\n')
	dst = append(dst, scope...)
	dst = append(dst, '\n')
	return appendHex(dst, canonicalHash[:])
}

func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}
