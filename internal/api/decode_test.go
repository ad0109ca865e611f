package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// call sends a signed request to h and returns the status and the decoded
// response members.
func call(t *testing.T, h http.Handler, op, body string) (int, map[string]json.RawMessage) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signed(t, op, body))
	var m map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s: response %q: %v", op, w.Body, err)
	}
	return w.Code, m
}

func errorType(m map[string]json.RawMessage) string {
	var s string
	json.Unmarshal(m["__type"], &s)
	return s
}

// TestEncryptionContextCaseMergeRefused replays the attack that
// encoding/json allowed: a proxy that reads member names exactly sees the
// context {"a":"1"}, while case folding made Trent bind {"a":"1","b":"2"}.
// Now the variant spelling is an unknown member and is ignored, and a
// repeated member or context key is SerializationException.
func TestEncryptionContextCaseMergeRefused(t *testing.T) {
	h, keyID := newHandler(t)
	code, m := call(t, h, "Encrypt", `{"KeyId":"`+keyID+`","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"1"},"encryptioncontext":{"b":"2"}}`)
	if code != http.StatusOK {
		t.Fatalf("Encrypt: %d %v", code, m)
	}
	blob := string(m["CiphertextBlob"])
	if code, m := call(t, h, "Decrypt", `{"CiphertextBlob":`+blob+`,"EncryptionContext":{"a":"1","b":"2"}}`); code != http.StatusBadRequest || errorType(m) != "InvalidCiphertextException" {
		t.Errorf("Decrypt with the merged context: %d %v", code, m)
	}
	if code, m := call(t, h, "Decrypt", `{"CiphertextBlob":`+blob+`,"EncryptionContext":{"a":"1"}}`); code != http.StatusOK {
		t.Errorf("Decrypt with the context as sent: %d %v", code, m)
	}

	for name, body := range map[string]string{
		"duplicate-member":      `{"KeyId":"` + keyID + `","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"1"},"EncryptionContext":{"b":"2"}}`,
		"duplicate-context-key": `{"KeyId":"` + keyID + `","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"1","a":"2"}}`,
		"duplicate-key-id":      `{"KeyId":"alias/x","KeyId":"` + keyID + `","Plaintext":"aGVsbG8="}`,
		"invalid-utf8":          "{\"KeyId\":\"" + keyID + "\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionContext\":{\"a\":\"\xff\"}}",
		"unpaired-surrogate":    `{"KeyId":"` + keyID + `","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"\ud800"}}`,
	} {
		code, m := call(t, h, "Encrypt", body)
		if code != http.StatusBadRequest || errorType(m) != "SerializationException" || m["message"] != nil {
			t.Errorf("%s: %d %v, want 400 SerializationException without message", name, code, m)
		}
	}

	// A KeyId spelled another way is ignored rather than preferred: the
	// request names alias/x, which does not exist.
	code, m = call(t, h, "Encrypt", `{"KeyId":"alias/x","KEYID":"`+keyID+`","Plaintext":"aGVsbG8="}`)
	if code != http.StatusBadRequest || errorType(m) != "NotFoundException" {
		t.Errorf("KeyId case variant: %d %v, want NotFoundException for alias/x", code, m)
	}
}

// TestContextsDifferingInOneByte checks that encryption contexts that differ
// in any byte do not decrypt each other's ciphertext, and that the same
// bytes sent escaped or raw are the same context.
func TestContextsDifferingInOneByte(t *testing.T) {
	h, keyID := newHandler(t)
	code, m := call(t, h, "Encrypt", `{"KeyId":"`+keyID+`","Plaintext":"aGVsbG8=","EncryptionContext":{"k":"\u00e9"}}`)
	if code != http.StatusOK {
		t.Fatalf("Encrypt: %d %v", code, m)
	}
	blob := string(m["CiphertextBlob"])
	for _, tc := range []struct {
		name, context string
		ok            bool
	}{
		{"same-bytes-escaped", `{"k":"\u00e9"}`, true},
		{"same-bytes-raw", "{\"k\":\"\u00e9\"}", true},
		{"value-last-byte-differs", `{"k":"\u00ea"}`, false},
		{"decomposed", `{"k":"e\u0301"}`, false},
		{"replacement-character", `{"k":"\ufffd"}`, false},
		{"key-case-differs", `{"K":"\u00e9"}`, false},
		{"extra-nul", `{"k":"\u00e9\u0000"}`, false},
	} {
		code, m := call(t, h, "Decrypt", `{"CiphertextBlob":`+blob+`,"EncryptionContext":`+tc.context+`}`)
		switch {
		case tc.ok && code != http.StatusOK:
			t.Errorf("%s: %d %v, want 200", tc.name, code, m)
		case !tc.ok && (code != http.StatusBadRequest || errorType(m) != "InvalidCiphertextException"):
			t.Errorf("%s: %d %v, want InvalidCiphertextException", tc.name, code, m)
		}
	}

	// "\ud800" and "\udfff" used to become the same U+FFFD: both are
	// refused now, before any key is touched.
	for _, s := range []string{`\ud800`, `\udfff`} {
		code, m := call(t, h, "Encrypt", `{"KeyId":"`+keyID+`","Plaintext":"aGVsbG8=","EncryptionContext":{"k":"`+s+`"}}`)
		if code != http.StatusBadRequest || errorType(m) != "SerializationException" {
			t.Errorf("%s: %d %v, want SerializationException", s, code, m)
		}
	}
}

// TestContentType checks the Content-Type rule: a body is parsed only when
// it is declared application/x-amz-json-1.1; anything else is 404
// UnknownOperationException (see isAWSJSON for the sources).
func TestContentType(t *testing.T) {
	h, _ := newHandler(t)
	for _, tc := range []struct {
		name, ct, body string
		status         int
	}{
		{"awsjson", "application/x-amz-json-1.1", "{}", 200},
		{"awsjson-charset", "application/x-amz-json-1.1; charset=utf-8", "{}", 200},
		{"awsjson-upper-case", "Application/X-Amz-Json-1.1", "{}", 200},
		{"json", "application/json", "{}", 404},
		{"awsjson-1.0", "application/x-amz-json-1.0", "{}", 404},
		{"cbor", "application/x-amz-cbor-1.1", "{}", 404},
		{"form", "application/x-www-form-urlencoded", "{}", 404},
		{"text", "text/plain", "{}", 404},
		{"missing", "", "{}", 404},
		{"prefix-only", "application/x-amz-json-1.10", "{}", 404},
		{"missing-empty-body", "", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signedWithType(t, "ListKeys", tc.body, tc.ct)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.status == 404 && w.Body.String() != `{"__type":"UnknownOperationException"}` {
				t.Errorf("body %s", w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("response Content-Type %q", ct)
			}
		})
	}
}
