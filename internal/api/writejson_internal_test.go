package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/trent-kms/trent/internal/wire"
)

// TestErrorBodyMatchesMarshal checks errorBody's appendJSON against
// json.Marshal, with and without a message, over strings that
// encoding/json escapes or replaces.
func TestErrorBodyMatchesMarshal(t *testing.T) {
	for _, s := range []string{"", "NotFoundException", `a"b\c`, "<a>&", "\u2028\u2029", "\x00\x1f\b\f\n\r\t", "\xff\xed\xa0\x80", "日本 😀"} {
		for _, eb := range []errorBody{{Type: s}, {Type: "ValidationException", Message: s}, {Type: s, Message: s}} {
			want, err := json.Marshal(eb)
			if err != nil {
				t.Fatal(err)
			}
			if got := eb.appendJSON(nil); !bytes.Equal(got, want) {
				t.Errorf("appendJSON %s, json.Marshal %s", got, want)
			}
		}
	}
}

// TestWriteJSON checks the body and headers writeJSON sends for a
// generated shape, an error, nil and a value that is neither (json.Marshal).
func TestWriteJSON(t *testing.T) {
	h := NewHandler(Config{})
	for _, v := range []any{
		&wire.EncryptResponse{CiphertextBlob: []byte{1, 2, 250}, KeyId: wire.Ptr("arn:aws:kms:us-east-1:111122223333:key/<k>")},
		errorBody{Type: "NotFoundException", Message: "Key 'x' does not exist"},
		nil,
		map[string]any{"Plain": "map & <value>"},
		(*wire.DecryptResponse)(nil),
	} {
		w := httptest.NewRecorder()
		h.writeJSON(w, 200, v)
		want := []byte("{}")
		if v != nil {
			want, _ = json.Marshal(v)
		}
		if !bytes.Equal(w.Body.Bytes(), want) {
			t.Errorf("%T: body %s, want %s", v, w.Body, want)
		}
		if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(want)) {
			t.Errorf("%T: Content-Length %s, want %d", v, got, len(want))
		}
		if got := w.Header().Get("Content-Type"); got != "application/x-amz-json-1.1" {
			t.Errorf("%T: Content-Type %s", v, got)
		}
	}
}

// TestContentLength checks the cached Content-Length values and the one
// built beyond the cache.
func TestContentLength(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 99, 100, 4095, 4096, 1 << 20} {
		if got := contentLength(n); len(got) != 1 || got[0] != strconv.Itoa(n) || cap(got) != 1 {
			t.Errorf("contentLength(%d) = %q (cap %d)", n, got, cap(got))
		}
	}
}
