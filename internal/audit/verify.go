package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Report is the result of [Verify].
type Report struct {
	Files        int    // log files checked
	Digests      int    // digests checked
	Records      uint64 // records checked
	LastSequence uint64
	LastHash     string // hash of the last record: note it to detect a later deletion of the newest files
	OpenFile     string // the newest file, not yet signed ("" if every file is signed)
}

// Problem is the first inconsistency [Verify] found.
type Problem struct {
	File   string
	Line   int // 0 when the problem is not one record's
	Reason string
}

func (p *Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
	}
	return p.File + ": " + p.Reason
}

// Verify checks the audit trail in dir against pub and returns the first
// problem as a *Problem: a modified, deleted, inserted, reordered or
// truncated record, a missing, extra, modified or swapped file or digest.
//
// Every record must continue the hash chain of the one before it, from
// sequence 1; every file but the newest must have a digest whose signature
// verifies and whose hashes and counts match the file; each digest must
// name the signature of the digest before it. The newest file may lack a
// digest while a node writes it: its records are checked by the chain
// only, so records cut off its end are not detected until it is signed
// (when the node rotates it or stops).
func Verify(dir string, pub ed25519.PublicKey) (*Report, error) {
	logs, err := listLogs(dir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, n := range logs {
		have[n] = true
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, digestSuffix) && !have[strings.TrimSuffix(n, digestSuffix)]:
			return nil, &Problem{File: strings.TrimSuffix(n, digestSuffix), Reason: "file is missing, but its digest " + n + " is there"}
		case strings.HasPrefix(n, logPrefix) && strings.HasSuffix(n, logSuffix) && !have[n]:
			return nil, &Problem{File: n, Reason: "not a log file name"}
		}
	}
	rep := &Report{LastHash: zeroHash}
	if len(logs) == 0 {
		return rep, errors.New("audit: no log files in " + dir)
	}
	prevSig := ""
	for i, name := range logs {
		first, _ := parseLogName(name)
		if first != rep.LastSequence+1 {
			return rep, &Problem{File: name, Reason: fmt.Sprintf("starts at sequence %d, but the records before end at %d: a file is missing", first, rep.LastSequence)}
		}
		startPrev := rep.LastHash
		db, derr := os.ReadFile(filepath.Join(dir, name+digestSuffix))
		open := errors.Is(derr, os.ErrNotExist) && i == len(logs)-1
		sum, size, err := verifyFile(filepath.Join(dir, name), name, open, rep)
		if err != nil {
			return rep, err
		}
		rep.Files++
		if err := derr; errors.Is(err, os.ErrNotExist) {
			if i == len(logs)-1 {
				rep.OpenFile = name
				break
			}
			return rep, &Problem{File: name, Reason: "digest " + name + digestSuffix + " is missing"}
		}
		if err != nil {
			return rep, err
		}
		d, sig, err := decodeDigest(db, pub)
		if err != nil {
			return rep, &Problem{File: name + digestSuffix, Reason: err.Error()}
		}
		switch {
		case d.File != name:
			return rep, &Problem{File: name + digestSuffix, Reason: "digest is for " + d.File}
		case d.PreviousDigest != prevSig:
			return rep, &Problem{File: name + digestSuffix, Reason: "digest does not follow the digest before it: a digest is missing or swapped"}
		case d.FileSize != size || d.FileSHA256 != sum:
			return rep, &Problem{File: name, Reason: fmt.Sprintf("file does not match its digest (size %d, digest says %d): modified or truncated", size, d.FileSize)}
		case d.FirstSequence != first || d.LastSequence != rep.LastSequence || d.FirstPrevHash != startPrev || d.LastHash != rep.LastHash:
			return rep, &Problem{File: name, Reason: "records do not match the digest's sequence numbers and hashes"}
		}
		prevSig = sig
		rep.Digests++
	}
	return rep, nil
}

// verifyFile checks the chain through one file, continuing rep, and
// returns the file's SHA-256 and size. The newest file, open while a node
// writes it, may end in preallocated zeros after its last record; they
// are not counted in the size. Any other NUL byte is a problem.
func verifyFile(path, name string, open bool, rep *Report) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	sum := sha256.New()
	r := bufio.NewReaderSize(io.TeeReader(f, sum), 1<<20)
	var size int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		size += int64(len(line))
		if err == io.EOF {
			if open && len(line) > 0 && line[0] == 0 {
				// The preallocated tail, if it is zeros only; a
				// record cut off in it is a truncated record.
				size -= int64(len(line))
				line = bytes.TrimLeft(line, "\x00")
				if len(line) > 0 {
					return "", 0, &Problem{File: name, Line: n, Reason: "truncated record (bytes after the preallocated zeros)"}
				}
				if n == 1 {
					return "", 0, &Problem{File: name, Reason: "empty file"}
				}
				break
			}
			if len(line) > 0 {
				return "", 0, &Problem{File: name, Line: n, Reason: "truncated record (no end of line)"}
			}
			if n == 1 {
				return "", 0, &Problem{File: name, Reason: "empty file"}
			}
			break
		}
		if err != nil {
			return "", 0, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		c, err := parseChain(line)
		if err != nil {
			return "", 0, &Problem{File: name, Line: n, Reason: err.Error()}
		}
		switch {
		case c.Sequence != rep.LastSequence+1:
			return "", 0, &Problem{File: name, Line: n, Reason: fmt.Sprintf("sequence %d follows %d: a record is missing, inserted or out of order", c.Sequence, rep.LastSequence)}
		case c.PreviousHash != rep.LastHash:
			return "", 0, &Problem{File: name, Line: n, Reason: "previousHash does not match the record before: a record was modified, inserted or reordered"}
		}
		h := sha256.Sum256(line)
		rep.LastSequence, rep.LastHash = c.Sequence, hex.EncodeToString(h[:])
		rep.Records++
	}
	return hex.EncodeToString(sum.Sum(nil)), size, nil
}
