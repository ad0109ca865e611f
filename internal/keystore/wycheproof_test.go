package keystore_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// The Wycheproof AES-GCM vectors (testdata/wycheproof, Apache 2.0, LICENSE
// beside them) follow aead_test_schema_v1.json; these types mirror it
// exactly so the loader can reject fields it does not know.
type wycheproofAEADFile struct {
	Algorithm     string                         `json:"algorithm"`
	Schema        string                         `json:"schema"`
	NumberOfTests int                            `json:"numberOfTests"`
	Header        []string                       `json:"header"`
	Notes         map[string]wycheproofNoteEntry `json:"notes"`
	TestGroups    []wycheproofAEADGroup          `json:"testGroups"`
}

type wycheproofNoteEntry struct {
	BugType     string   `json:"bugType"`
	Description string   `json:"description"`
	Effect      string   `json:"effect"`
	Links       []string `json:"links"`
	CVEs        []string `json:"cves"`
}

type wycheproofAEADGroup struct {
	Type   string `json:"type"`
	Source struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"source"`
	IVSize  int                  `json:"ivSize"`
	KeySize int                  `json:"keySize"`
	TagSize int                  `json:"tagSize"`
	Tests   []wycheproofAEADTest `json:"tests"`
}

type wycheproofAEADTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Key     hexBytes `json:"key"`
	IV      hexBytes `json:"iv"`
	AAD     hexBytes `json:"aad"`
	Msg     hexBytes `json:"msg"`
	CT      hexBytes `json:"ct"`
	Tag     hexBytes `json:"tag"`
	Result  string   `json:"result"`
	Flags   []string `json:"flags"`
}

// hexBytes is a JSON string of hex digits.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = v
	return nil
}

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// decodeStrict decodes the JSON file at path into v, failing on unknown
// fields and on trailing data.
func decodeStrict(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("%s: trailing data after the JSON value", path)
	}
	return nil
}

func TestDecodeStrict(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		json string
		v    any
	}{
		"wycheproof/unknown-top-level":  {`{"algorithm":"AES-GCM","surprise":1}`, new(wycheproofAEADFile)},
		"wycheproof/unknown-test-field": {`{"testGroups":[{"tests":[{"tcId":1,"nonce":"00"}]}]}`, new(wycheproofAEADFile)},
		"frozen/unknown-vector-field":   {`{"vectors":[{"name":"x","iv":"00"}]}`, new(frozenFile)},
		"frozen/trailing-data":          {`{"vectors":[]} {}`, new(frozenFile)},
	} {
		t.Run(name, func(t *testing.T) {
			path := dir + "/v.json"
			if err := os.WriteFile(path, []byte(tc.json), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := decodeStrict(path, tc.v); err == nil {
				t.Fatal("decodeStrict accepted it")
			}
		})
	}
}

func TestWycheproofAESGCM(t *testing.T) {
	var file wycheproofAEADFile
	if err := decodeStrict("testdata/wycheproof/aes_gcm_test.json", &file); err != nil {
		t.Fatal(err)
	}
	if file.Algorithm != "AES-GCM" || file.Schema != "aead_test_schema_v1.json" {
		t.Fatalf("unexpected file: algorithm %q schema %q", file.Algorithm, file.Schema)
	}
	total, ran, rejected := 0, 0, 0
	for _, g := range file.TestGroups {
		name := fmt.Sprintf("key%d/iv%d/tag%d", g.KeySize, g.IVSize, g.TagSize)
		t.Run(name, func(t *testing.T) {
			if g.Type != "AeadTest" || g.KeySize%8 != 0 || g.IVSize%8 != 0 || g.TagSize%8 != 0 {
				t.Fatalf("unexpected group: type %q sizes %d/%d/%d", g.Type, g.KeySize, g.IVSize, g.TagSize)
			}
			total += len(g.Tests)
			aeadFor := func(key []byte) (cipher.AEAD, error) {
				b, err := aes.NewCipher(key)
				if err != nil {
					t.Fatalf("aes.NewCipher: %v", err)
				}
				switch {
				case g.IVSize == 96 && g.TagSize == 128:
					return cipher.NewGCM(b)
				case g.TagSize == 128:
					return cipher.NewGCMWithNonceSize(b, g.IVSize/8)
				case g.IVSize == 96:
					return cipher.NewGCMWithTagSize(b, g.TagSize/8)
				}
				t.Skipf("Go cannot combine a %d-bit IV with a %d-bit tag", g.IVSize, g.TagSize)
				return nil, nil
			}
			for _, tc := range g.Tests {
				if len(tc.Key)*8 != g.KeySize || len(tc.IV)*8 != g.IVSize || len(tc.Tag)*8 != g.TagSize {
					t.Fatalf("tc %d: sizes disagree with the group", tc.TcID)
				}
				aead, err := aeadFor(tc.Key)
				if err != nil {
					// Go refuses parameters it cannot use safely (a zero-length
					// IV); that is only right if Wycheproof calls them invalid.
					if tc.Result != "invalid" {
						t.Errorf("tc %d (%s): Go rejects a valid parameter set: %v", tc.TcID, tc.Comment, err)
					}
					rejected++
					continue
				}
				ran++
				ctTag := append(append([]byte{}, tc.CT...), tc.Tag...)
				pt, openErr := aead.Open(nil, tc.IV, ctTag, tc.AAD)
				switch tc.Result {
				case "valid":
					if got := aead.Seal(nil, tc.IV, tc.Msg, tc.AAD); !bytes.Equal(got, ctTag) {
						t.Errorf("tc %d (%s): Seal = %x, want %x", tc.TcID, tc.Comment, got, ctTag)
					}
					if openErr != nil || !bytes.Equal(pt, tc.Msg) {
						t.Errorf("tc %d (%s): Open = %x, %v; want %x", tc.TcID, tc.Comment, pt, openErr, tc.Msg)
					}
				case "invalid":
					if openErr == nil {
						t.Errorf("tc %d (%s, %v): Open accepted an invalid ciphertext", tc.TcID, tc.Comment, tc.Flags)
					}
				default:
					t.Fatalf("tc %d: unexpected result %q", tc.TcID, tc.Result)
				}
			}
		})
	}
	if total != file.NumberOfTests {
		t.Errorf("saw %d tests, file says %d", total, file.NumberOfTests)
	}
	if ran+rejected != total || ran < 300 {
		t.Errorf("ran %d tests, %d rejected by construction, of %d", ran, rejected, total)
	}
	t.Logf("ran %d of %d Wycheproof AES-GCM tests; %d zero-length-IV tests rejected by cipher.NewGCMWithNonceSize", ran, total, rejected)
}
