package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/audit"
)

func newSigner(t testing.TB) *audit.Signer {
	s, err := audit.GenerateSigner(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func record(i int) *audit.Record {
	return &audit.Record{EventVersion: audit.EventVersion, EventSource: audit.SourceKMS, EventName: "Encrypt",
		EventTime: audit.EventTime(time.Date(2025, 5, 20, 20, 46, i%60, 0, time.UTC)), RequestID: "req-" + strings.Repeat("x", i%7),
		UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "111122223333"}, EventType: "AwsApiCall"}
}

// writeTrail writes n records in files of about perFile records each and
// closes the log, so that every file is signed.
func writeTrail(t *testing.T, dir string, s *audit.Signer, n int, maxSize int64) {
	t.Helper()
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, MaxFileSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Write(context.Background(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func files(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

func lines(t *testing.T, path string) [][]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b[:len(b)-1], []byte("\n"))
}

func writeLines(t *testing.T, path string, ls [][]byte) {
	b := bytes.Join(ls, nil)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyIntactTrail(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	writeTrail(t, dir, s, 50, 2000)
	// Restarting continues the chain in a new file.
	writeTrail(t, dir, s, 5, 2000)
	rep, err := audit.Verify(dir, s.Public())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 55 || rep.LastSequence != 55 || rep.Files < 3 || rep.Digests != rep.Files || rep.OpenFile != "" {
		t.Fatalf("report %+v", rep)
	}
}

// TestVerifyDetectsTampering is the table of tampering Verify must find:
// each case changes an intact trail of several signed files.
func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, logs, digests []string)
		want   string
	}{
		{"modify-byte/middle-record", func(t *testing.T, logs, _ []string) {
			ls := lines(t, logs[1])
			ls[1] = bytes.Replace(ls[1], []byte("Encrypt"), []byte("Encrypu"), 1)
			writeLines(t, logs[1], ls)
		}, "previousHash does not match"},
		{"modify-byte/last-record-of-file", func(t *testing.T, logs, _ []string) {
			ls := lines(t, logs[1])
			ls[len(ls)-1] = bytes.Replace(ls[len(ls)-1], []byte("Root"), []byte("Roou"), 1)
			writeLines(t, logs[1], ls)
		}, ""},
		{"delete-record", func(t *testing.T, logs, _ []string) {
			ls := lines(t, logs[0])
			writeLines(t, logs[0], append(ls[:1:1], ls[2:]...))
		}, "a record is missing"},
		{"insert-record", func(t *testing.T, logs, _ []string) {
			ls := lines(t, logs[0])
			writeLines(t, logs[0], append(ls[:2:2], ls[1:]...))
		}, "sequence"},
		{"reorder-records", func(t *testing.T, logs, _ []string) {
			ls := lines(t, logs[0])
			ls[1], ls[2] = ls[2], ls[1]
			writeLines(t, logs[0], ls)
		}, "sequence"},
		{"truncate-records", func(t *testing.T, logs, _ []string) {
			ls := lines(t, logs[1])
			writeLines(t, logs[1], ls[:len(ls)-1])
		}, "does not match its digest"},
		{"truncate-mid-record", func(t *testing.T, logs, _ []string) {
			b, _ := os.ReadFile(logs[1])
			os.WriteFile(logs[1], b[:len(b)-10], 0o600)
		}, "truncated record"},
		{"delete-file-and-digest", func(t *testing.T, logs, digests []string) {
			os.Remove(logs[1])
			os.Remove(digests[1])
		}, "a file is missing"},
		{"delete-file", func(t *testing.T, logs, _ []string) {
			os.Remove(logs[1])
		}, "file is missing"},
		{"delete-first-file", func(t *testing.T, logs, digests []string) {
			os.Remove(logs[0])
			os.Remove(digests[0])
		}, "a file is missing"},
		{"delete-digest", func(t *testing.T, _, digests []string) {
			os.Remove(digests[1])
		}, "digest"},
		{"swap-digests", func(t *testing.T, _, digests []string) {
			a, _ := os.ReadFile(digests[1])
			b, _ := os.ReadFile(digests[2])
			os.WriteFile(digests[1], b, 0o644)
			os.WriteFile(digests[2], a, 0o644)
		}, "digest is for"},
		{"modify-digest", func(t *testing.T, _, digests []string) {
			b, _ := os.ReadFile(digests[1])
			os.WriteFile(digests[1], bytes.Replace(b, []byte(`"records":`), []byte(`"records":1`), 1), 0o644)
		}, "signature does not verify"},
		{"swap-files", func(t *testing.T, logs, _ []string) {
			a, _ := os.ReadFile(logs[1])
			b, _ := os.ReadFile(logs[2])
			os.WriteFile(logs[1], b, 0o600)
			os.WriteFile(logs[2], a, 0o600)
		}, "sequence"},
		{"re-sign-with-other-key", func(t *testing.T, logs, digests []string) {
			// An attacker who rewrites a file and signs a new digest
			// without the signing key.
			other := newSigner(t)
			d := t.TempDir()
			writeTrail(t, d, other, 3, 1<<20)
			src := files(t, d, ".digest")
			b, _ := os.ReadFile(src[0])
			os.WriteFile(digests[0], b, 0o644)
		}, "signature does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, s := t.TempDir(), newSigner(t)
			writeTrail(t, dir, s, 40, 2500)
			logs, digests := files(t, dir, ".jsonl"), files(t, dir, ".digest")
			if len(logs) < 3 || len(digests) != len(logs) {
				t.Fatalf("%d logs, %d digests", len(logs), len(digests))
			}
			tc.tamper(t, logs, digests)
			_, err := audit.Verify(dir, s.Public())
			var p *audit.Problem
			if !errors.As(err, &p) {
				t.Fatalf("Verify = %v; want a *Problem", err)
			}
			if !strings.Contains(p.Error(), tc.want) {
				t.Fatalf("Verify = %v; want it to say %q", p, tc.want)
			}
		})
	}
}

// TestCrashRecovery leaves a file open with a partly written record, as a
// crash would: the next Open cuts the partial record, signs the file and
// continues the chain.
func TestCrashRecovery(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	writeTrail(t, dir, s, 5, 1<<20)
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Write(context.Background(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Simulate a crash: the log is never closed; append half a record.
	logs := files(t, dir, ".jsonl")
	f, _ := os.OpenFile(logs[len(logs)-1], os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"eventVersion":"1.11","userIdent`)
	f.Close()
	if rep, err := audit.Verify(dir, s.Public()); err == nil {
		t.Fatalf("Verify accepted a partial record: %+v", rep)
	}
	l2, err := audit.Open(audit.Options{Dir: dir, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Write(context.Background(), record(9)); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	_ = l // crashed: never closed
	rep, err := audit.Verify(dir, s.Public())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 9 {
		t.Fatalf("%d records; want 9", rep.Records)
	}
}

// failingFile fails writes and fsyncs while fail is set, like a full or
// read-only disk.
type failingFile struct {
	f    *os.File
	fail *atomic.Bool
}

var errDiskFull = errors.New("no space left on device")

func (f failingFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fail.Load() {
		// A full disk may take part of a write.
		n, _ := f.f.WriteAt(b[:len(b)/2], off)
		return n, errDiskFull
	}
	return f.f.WriteAt(b, off)
}

func (f failingFile) Sync() error {
	if f.fail.Load() {
		return errDiskFull
	}
	return f.f.Sync()
}
func (f failingFile) Truncate(n int64) error { return f.f.Truncate(n) }
func (f failingFile) Close() error           { return f.f.Close() }

// TestFailClosedAndResume injects a full disk: writes fail (so requests
// must fail), Healthy reports it, and once the disk has room again the log
// recovers by itself, without losing or corrupting the chain.
func TestFailClosedAndResume(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	var fail atomic.Bool
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, RetryInterval: 10 * time.Millisecond,
		OpenFile: func(path string) (audit.File, error) {
			if fail.Load() {
				return nil, errDiskFull
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
			return failingFile{f, &fail}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Write(ctx, record(1)); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	for i := range 3 {
		if err := l.Write(ctx, record(2+i)); !errors.Is(err, errDiskFull) {
			t.Fatalf("Write on a full disk = %v", err)
		}
	}
	if l.Healthy() == nil || !l.Stats().Failing {
		t.Fatal("log reports healthy on a full disk")
	}
	fail.Store(false)
	// The retry loop notices without any write.
	for deadline := time.Now().Add(10 * time.Second); l.Healthy() != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("log did not recover")
		}
	}
	if err := l.Write(ctx, record(9)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(dir, s.Public())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 2 {
		t.Fatalf("%d records; want the 2 acknowledged ones", rep.Records)
	}
}

func TestFailOpen(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, FailOpen: true,
		OpenFile: func(string) (audit.File, error) { return nil, errDiskFull }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Write(context.Background(), record(1)); err != nil {
		t.Fatalf("fail-open Write = %v", err)
	}
	if l.Healthy() == nil {
		t.Fatal("a failing fail-open log reports healthy")
	}
}

// TestGroupCommit writes from many goroutines at once: the records share
// fsyncs.
func TestGroupCommit(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	var syncs atomic.Int64
	l := openSlowLog(t, dir, s, &syncs)
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Write(context.Background(), record(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st := l.Stats()
	l.Close()
	if st.Records != n || st.Batches >= n || syncs.Load() >= n {
		t.Fatalf("%d records in %d batches with %d fsyncs: not grouped", st.Records, st.Batches, syncs.Load())
	}
	if _, err := audit.Verify(dir, s.Public()); err != nil {
		t.Fatal(err)
	}
}

// openSlowLog opens a log in dir whose files count their fsyncs in syncs
// and take 2 ms for each (countingFile).
func openSlowLog(t *testing.T, dir string, s *audit.Signer, syncs *atomic.Int64) *audit.Log {
	t.Helper()
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, OpenFile: func(path string) (audit.File, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
		return countingFile{f, syncs}, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type countingFile struct {
	*os.File
	syncs *atomic.Int64
}

func (f countingFile) Sync() error {
	f.syncs.Add(1)
	time.Sleep(2 * time.Millisecond) // a disk's fsync takes time; requests pile up meanwhile
	return f.File.Sync()
}

func TestRotateByAge(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	var now atomic.Int64
	now.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, MaxFileAge: time.Hour, RetryInterval: 5 * time.Millisecond,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	l.Write(context.Background(), record(1))
	now.Add(int64(2 * time.Hour))
	// The idle check closes the old file without waiting for a record.
	for deadline := time.Now().Add(10 * time.Second); len(files(t, dir, ".digest")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("old file was not signed")
		}
	}
	l.Write(context.Background(), record(2))
	l.Close()
	if got := len(files(t, dir, ".jsonl")); got != 2 {
		t.Fatalf("%d files; want 2", got)
	}
	if _, err := audit.Verify(dir, s.Public()); err != nil {
		t.Fatal(err)
	}
}

// TestCloseWhileWriting: writers racing Close each either get their
// record durably into the trail or ErrClosed, never a lost record or a
// hang; more writers than one batch holds (1,024) queue behind a slow
// fsync, so the lead also passes over a queue longer than a batch.
func TestCloseWhileWriting(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	var syncs atomic.Int64
	l := openSlowLog(t, dir, s, &syncs)
	const n = 3000
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch err := l.Write(context.Background(), record(i)); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, audit.ErrClosed):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	close(start)
	for l.Stats().Records < n/3 {
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	st := l.Stats()
	if ok.Load()+refused.Load() != n || st.Records != uint64(ok.Load()) || st.Queued != 0 {
		t.Fatalf("%d written, %d refused of %d; the log counts %d records, %d queued", ok.Load(), refused.Load(), n, st.Records, st.Queued)
	}
	res, err := audit.Verify(dir, s.Public())
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != uint64(ok.Load()) {
		t.Fatalf("the trail holds %d records; %d writes succeeded", res.Records, ok.Load())
	}
	if err := l.Write(context.Background(), record(0)); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}
