package xks_test

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/xks"
)

// TestCDIVAppendixC recomputes the specification's example (Appendix C):
// 33 bytes of AAD, 13 of ciphertext metadata, a 12-byte IV, 12 bytes of
// ciphertext and a 16-byte tag give
// "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=".
func TestCDIVAppendixC(t *testing.T) {
	b64 := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	got := xks.CDIV(b64("cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n"), b64("a2V5X3ZlcnNpb249MQ=="),
		b64("HMrlRw85cAJUd5Ax"), b64("ghxkK1txeDNn3q8Y"), b64("vBxN2ncH1oEkR8WVXpmyYQ=="))
	if want := "a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7"; hex.EncodeToString(got) != want {
		t.Fatalf("CDIV = %x, want %s", got, want)
	}
	if s := base64.StdEncoding.EncodeToString(got); s != "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=" {
		t.Fatalf("CDIV = %s", s)
	}
}

// TestAAD checks the AES-GCM AAD layout: 2-byte big-endian AAD length,
// AAD, 1-byte metadata length, metadata; and that the spec's example of
// an unintended successful decrypt (metadata moved into the AAD) gives a
// different AAD.
func TestAAD(t *testing.T) {
	got := xks.AAD([]byte("ab"), []byte("xyz"))
	if want := "000261620378797a"; hex.EncodeToString(got) != want {
		t.Fatalf("AAD = %x, want %s", got, want)
	}
	if hex.EncodeToString(xks.AAD(nil, nil)) != "000000" {
		t.Fatalf("empty AAD = %x", xks.AAD(nil, nil))
	}
	long := make([]byte, 8192)
	if a := xks.AAD(long, nil); a[0] != 0x20 || a[1] != 0 || len(a) != 8195 {
		t.Fatalf("8192-byte AAD prefix %x len %d", a[:2], len(a))
	}
	if string(xks.AAD(nil, []byte("m"))) == string(xks.AAD([]byte("m"), nil)) {
		t.Fatal("metadata and AAD give the same AES-GCM AAD")
	}
}

func TestCheckCredential(t *testing.T) {
	good := xks.Credential{AccessKeyID: "AKIA4GBY3I6JCE5M2HPM", Secret: "1234567890123456789012345678901234567890123="}
	if err := xks.CheckCredential(good); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]xks.Credential{
		"id too short":      {AccessKeyID: "AKIA4GBY3I6JCE5M2HP", Secret: good.Secret},
		"id too long":       {AccessKeyID: strings.Repeat("A", 31), Secret: good.Secret},
		"id with 1":         {AccessKeyID: "AKIA4GBY3I6JCE5M2HP1", Secret: good.Secret},
		"id lowercase":      {AccessKeyID: "akia4gby3i6jce5m2hpm", Secret: good.Secret},
		"secret too short":  {AccessKeyID: good.AccessKeyID, Secret: strings.Repeat("a", 42)},
		"secret too long":   {AccessKeyID: good.AccessKeyID, Secret: strings.Repeat("a", 65)},
		"secret with space": {AccessKeyID: good.AccessKeyID, Secret: strings.Repeat("a", 42) + " "},
		"secret with dash":  {AccessKeyID: good.AccessKeyID, Secret: strings.Repeat("a", 42) + "-"},
	} {
		err := xks.CheckCredential(c)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if c.Secret != "" && strings.Contains(err.Error(), c.Secret) {
			t.Errorf("%s: error shows the secret: %v", name, err)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v %s", good, good, good, good); strings.Contains(s, good.Secret) {
		t.Fatalf("a Credential prints its secret: %s", s)
	}
}

func TestCheckURIPath(t *testing.T) {
	for _, p := range []string{"/kms/xks/v1", "/example/uri/path/prefix/kms/xks/v1", "/keystores/4a0d79d6-1d1b-49fd-9dbe-799cb9c0fb3f/kms/xks/v1"} {
		if err := xks.CheckURIPath(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"", "/kms/xks/v2", "kms/xks/v1", "/a//kms/xks/v1x", "/a b/kms/xks/v1", "/a.b/kms/xks/v1", "/" + strings.Repeat("a", 118) + "/kms/xks/v1"} {
		if err := xks.CheckURIPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

// TestKMSError follows the specification's table "KMS Considerations"
// (Error codes): the exception depends on the KMS operation, the message
// on the failure only, and the proxy's errorMessage is never shown.
func TestKMSError(t *testing.T) {
	cases := []struct {
		err                      *xks.ProxyError
		keyStore, createKey, ops string
		msg                      string
	}{
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrKeyNotFound, Detail: "secret detail"},
			"XksProxyInvalidResponseException", "XksKeyNotFoundException", "KMSInvalidStateException", xks.MsgKeyNotFound},
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrAuthenticationFailed},
			"XksProxyIncorrectAuthenticationCredentialException", "CustomKeyStoreInvalidStateException", "KMSInvalidStateException", xks.MsgAuthentication},
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrInvalidState},
			"XksProxyInvalidResponseException", "XksKeyInvalidConfigurationException", "KMSInvalidStateException", xks.MsgKeyNotEnabled},
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrInvalidURIPath},
			"XksProxyInvalidConfigurationException", "CustomKeyStoreInvalidStateException", "KMSInvalidStateException", xks.MsgInvalidURIPath},
		{&xks.ProxyError{Kind: xks.KindTimeout},
			"XksProxyUriUnreachableException", "CustomKeyStoreInvalidStateException", "KMSInvalidStateException", xks.MsgTimeout},
		{&xks.ProxyError{Kind: xks.KindUnreachable},
			"XksProxyUriUnreachableException", "CustomKeyStoreInvalidStateException", "KMSInvalidStateException", xks.MsgUnreachable},
		{&xks.ProxyError{Kind: xks.KindTLS},
			"XksProxyUriUnreachableException", "CustomKeyStoreInvalidStateException", "KMSInvalidStateException", xks.MsgTLS},
		{&xks.ProxyError{Kind: xks.KindInvalidResponse},
			"XksProxyInvalidResponseException", "CustomKeyStoreInvalidStateException", "KMSInvalidStateException", xks.MsgInvalidResponse},
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrInvalidCiphertext},
			"XksProxyInvalidResponseException", "KMSInvalidStateException", "KMSInvalidStateException", xks.MsgInvalidCiphertext},
	}
	for _, c := range cases {
		for caller, code := range map[xks.Caller]string{xks.ForKeyStore: c.keyStore, xks.ForCreateKey: c.createKey, xks.ForCrypto: c.ops} {
			var we *wire.Error
			if !errors.As(xks.KMSError(c.err, caller), &we) || we.Code != code || we.Message != c.msg {
				t.Errorf("%v for caller %d = %v, want %s %q", c.err, caller, we, code, c.msg)
			}
			if strings.Contains(we.Message, "secret detail") {
				t.Errorf("the proxy's errorMessage reached the KMS caller: %q", we.Message)
			}
			if !errors.Is(we, c.err) {
				t.Errorf("the cause is lost")
			}
		}
	}
	other := errors.New("not a proxy error")
	if xks.KMSError(other, xks.ForCrypto) != other {
		t.Error("KMSError changed an error that is not a proxy error")
	}
}

func TestConnectionErrorCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{&xks.ProxyError{Kind: xks.KindUnreachable}, "XKS_PROXY_NOT_REACHABLE"},
		{xks.ErrAllUnavailable, "XKS_PROXY_NOT_REACHABLE"},
		{&xks.ProxyError{Kind: xks.KindTimeout}, "XKS_PROXY_TIMED_OUT"},
		{&xks.ProxyError{Kind: xks.KindTLS}, "XKS_PROXY_INVALID_TLS_CONFIGURATION"},
		{&xks.ProxyError{Kind: xks.KindInvalidResponse}, "XKS_PROXY_INVALID_RESPONSE"},
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrAuthenticationFailed}, "INVALID_CREDENTIALS"},
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrAccessDenied}, "XKS_PROXY_ACCESS_DENIED"},
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrInvalidURIPath}, "XKS_PROXY_INVALID_CONFIGURATION"},
		{&xks.ProxyError{Kind: xks.KindErrorName, Name: xks.ErrInternal}, "XKS_PROXY_INVALID_RESPONSE"},
		{errors.New("other"), "INTERNAL_ERROR"},
	} {
		if got := xks.ConnectionErrorCode(c.err); got != c.code {
			t.Errorf("%v: %s, want %s", c.err, got, c.code)
		}
	}
}

func TestStatus(t *testing.T) {
	for name, st := range map[string]int{"ValidationException": 400, "AuthenticationFailedException": 401, "AccessDeniedException": 403,
		"KeyNotFoundException": 404, "InvalidUriPathException": 404, "ThrottlingException": 429, "UnsupportedOperationException": 501,
		"DependencyTimeoutException": 503, "InternalException": 500, "SomethingElse": 500} {
		if got := xks.Status(name); got != st {
			t.Errorf("Status(%s) = %d, want %d", name, got, st)
		}
	}
}
