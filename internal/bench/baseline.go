package bench

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
)

// Baseline is the reference server the target is stated against:
// a bare Go HTTP server that only parses the JSON of an Encrypt request and
// does one AES-256-GCM seal. It checks no signature and knows no keys; it
// exists only so Trent's numbers can be compared with it on the same
// machine (trent bench --baseline).
func Baseline() http.Handler {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			KeyId             string
			Plaintext         []byte
			EncryptionContext map[string]string
		}
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = json.Unmarshal(body, &in)
		}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		nonce := make([]byte, aead.NonceSize())
		rand.Read(nonce)
		out, _ := json.Marshal(map[string]any{
			"CiphertextBlob":      aead.Seal(nonce, nonce, in.Plaintext, nil),
			"KeyId":               in.KeyId,
			"EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
		})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write(out)
	})
}
