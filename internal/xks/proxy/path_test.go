package proxy

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	for path, want := range map[string]route{
		"/kms/xks/v1/health":                        {prefix: "", op: opGetHealthStatus},
		"/a/b/kms/xks/v1/keys/k-1.x_y/metadata":     {prefix: "/a/b", op: opGetKeyMetadata, keyID: "k-1.x_y"},
		"/p/kms/xks/v1/keys/foo/encrypt":            {prefix: "/p", op: opEncrypt, keyID: "foo"},
		"/p/kms/xks/v1/keys/foo/decrypt":            {prefix: "/p", op: opDecrypt, keyID: "foo"},
		"/kms/xks/v1/x/kms/xks/v1/keys/foo/decrypt": {prefix: "/kms/xks/v1/x", op: opDecrypt, keyID: "foo"},
	} {
		if got, ok := parsePath(path); !ok || got != want {
			t.Errorf("parsePath(%q) = %+v, %v; want %+v", path, got, ok, want)
		}
	}
	for _, path := range []string{"", "/", "/kms/xks/v1", "/kms/xks/v1/", "/kms/xks/v1/healthz", "/kms/xks/v1/keys/foo",
		"/kms/xks/v1/keys//encrypt", "/kms/xks/v1/keys/a%2Fb/encrypt", "/kms/xks/v1/keys/foo/sign", "/kms/xks/v1/keys/foo/encrypt/x",
		"/kms/xks/v2/health", "/kms/xks/v1/keys/" + strings.Repeat("a", 129) + "/encrypt"} {
		if r, ok := parsePath(path); ok {
			t.Errorf("parsePath(%q) accepted: %+v", path, r)
		}
	}
}

// FuzzParsePath: an accepted path is rebuilt exactly from its parts, and
// its key id is valid.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/kms/xks/v1/health", "/a/kms/xks/v1/keys/foo/encrypt", "/kms/xks/v1/keys/a.b/metadata"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, ok := parsePath(path)
		if !ok {
			return
		}
		var rebuilt string
		switch r.op {
		case opGetHealthStatus:
			rebuilt = r.prefix + "/kms/xks/v1/health"
		default:
			suffix := map[string]string{opGetKeyMetadata: "metadata", opEncrypt: "encrypt", opDecrypt: "decrypt"}[r.op]
			rebuilt = r.prefix + "/kms/xks/v1/keys/" + r.keyID + "/" + suffix
		}
		if rebuilt != path {
			t.Fatalf("parsePath(%q) = %+v, which rebuilds as %q", path, r, rebuilt)
		}
	})
}
