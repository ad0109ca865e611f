package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Names of the files in the audit directory.
const (
	PublicKeyFile = "audit-public-key.pem"
	logPrefix     = "audit-"
	logSuffix     = ".jsonl"
	digestSuffix  = ".digest"
)

// zeroHash is the previousHash of the first record.
var zeroHash = strings.Repeat("0", 64)

// logName returns the name of the log file whose first record has
// sequence number seq, opened at t: audit-0000000000000001-20250520T204616Z.jsonl.
// Names sort in sequence order.
func logName(seq uint64, t time.Time) string {
	return fmt.Sprintf("%s%016d-%s%s", logPrefix, seq, t.UTC().Format("20060102T150405Z"), logSuffix)
}

// parseLogName returns the first sequence number in a log file name.
func parseLogName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, logPrefix) || !strings.HasSuffix(name, logSuffix) {
		return 0, false
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(name, logPrefix), logSuffix)
	num, _, ok := strings.Cut(rest, "-")
	if !ok || len(num) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

// Digest describes one closed log file; its signature covers the exact
// bytes of its JSON encoding. Digests are chained like the records: each
// names the signature of the one before, so a deleted, swapped or edited
// digest is found.
type Digest struct {
	Version         int    `json:"version"` // 1
	File            string `json:"file"`
	FileSHA256      string `json:"fileSHA256"`
	FileSize        int64  `json:"fileSize"`
	Records         uint64 `json:"records"`
	FirstSequence   uint64 `json:"firstSequence"`
	LastSequence    uint64 `json:"lastSequence"`
	FirstPrevHash   string `json:"firstPreviousHash"`
	LastHash        string `json:"lastHash"`
	FirstEventTime  string `json:"firstEventTime,omitempty"`
	LastEventTime   string `json:"lastEventTime,omitempty"`
	PreviousDigest  string `json:"previousDigestSignature"` // base64; "" for the first
	PublicKeySHA256 string `json:"publicKeyFingerprint"`
	SignedAt        string `json:"signedAt"`
}

// digestFile is the JSON of a .digest file: the digest's exact bytes and
// their Ed25519 signature.
type digestFile struct {
	Digest    json.RawMessage `json:"digest"`
	Signature string          `json:"signature"` // base64
}

// encodeDigest signs d and returns the digest file's contents and the
// signature.
func encodeDigest(d *Digest, s *Signer) ([]byte, string, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, "", err
	}
	sig := base64.StdEncoding.EncodeToString(s.sign(body))
	out, err := json.Marshal(digestFile{Digest: body, Signature: sig})
	if err != nil {
		return nil, "", err
	}
	return append(out, '\n'), sig, nil
}

// decodeDigest parses a digest file and checks its signature with pub.
func decodeDigest(b []byte, pub ed25519.PublicKey) (*Digest, string, error) {
	var f digestFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, "", fmt.Errorf("malformed digest: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(f.Signature)
	if err != nil {
		return nil, "", errors.New("malformed digest signature")
	}
	if !ed25519.Verify(pub, f.Digest, sig) {
		return nil, "", errors.New("digest signature does not verify")
	}
	var d Digest
	dec := json.NewDecoder(strings.NewReader(string(f.Digest)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, "", fmt.Errorf("malformed digest: %v", err)
	}
	if d.Version != 1 {
		return nil, "", fmt.Errorf("unknown digest version %d", d.Version)
	}
	return &d, f.Signature, nil
}

// writeFileSync writes b to path through a temporary file, fsyncs it,
// renames it into place and fsyncs the directory.
func writeFileSync(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
