package esdk_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/trent-kms/trent/internal/esdk"
)

var updateFrozen = flag.Bool("update-frozen", false, "rewrite testdata/frozen.json (only when adding a format)")

// frozenVector is a message this package wrote, with its data key wrapped
// by the test keyring "k1", and the expected outcome.
type frozenVector struct {
	Name      string `json:"name"`
	Message   string `json:"message_hex"`
	Plaintext string `json:"plaintext"`
	Outcome   string `json:"outcome"` // success, tampered
}

// TestFrozenVectors decrypts messages written by earlier versions: every
// format we ever wrote stays readable.
func TestFrozenVectors(t *testing.T) {
	kr := newWrapKeyring("k1")
	if *updateFrozen {
		var vs []frozenVector
		for _, s := range esdk.Suites() {
			pt := fmt.Sprintf("frozen vector for %s, in three frames", s.Name)
			msg := encrypt(t, kr, s, 16, map[string]string{"purpose": "frozen"}, []byte(pt))
			vs = append(vs, frozenVector{Name: s.Name, Message: hex.EncodeToString(msg), Plaintext: pt, Outcome: "success"})
			if s.ID == esdk.DefaultSuite {
				bad := bytes.Clone(msg)
				bad[len(bad)-120] ^= 1 // in the final frame
				vs = append(vs, frozenVector{Name: s.Name + " tampered", Message: hex.EncodeToString(bad), Outcome: "tampered"})
			}
		}
		b, _ := json.MarshalIndent(vs, "", "  ")
		if err := os.WriteFile("testdata/frozen.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open("testdata/frozen.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var vs []frozenVector
	if err := dec.Decode(&vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < len(esdk.Suites()) {
		t.Fatalf("%d vectors; want one per suite at least", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			msg, err := hex.DecodeString(v.Message)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decrypt(kr, msg, esdk.DecryptOptions{Policy: esdk.RequireEncryptAllowDecrypt, RequiredContext: map[string]string{"purpose": "frozen"}})
			switch v.Outcome {
			case "success":
				if err != nil || string(got) != v.Plaintext {
					t.Fatalf("got %q, %v", got, err)
				}
			case "tampered":
				if !errors.Is(err, esdk.ErrTampered) {
					t.Fatalf("got %v; want tampered", err)
				}
			default:
				t.Fatalf("unknown outcome %q", v.Outcome)
			}
		})
	}
}
