package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/audit"
)

// openTrail writes n records to a log it leaves open and returns the log
// and its current file, which ends in preallocated zeros.
func openTrail(t *testing.T, dir string, s *audit.Signer, n int) (*audit.Log, string) {
	t.Helper()
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Write(context.Background(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
	logs := files(t, dir, ".jsonl")
	return l, logs[len(logs)-1]
}

// recordsEnd returns the length of the records at the start of b, before
// the zeros.
func recordsEnd(t *testing.T, b []byte) int {
	t.Helper()
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		t.Fatalf("file of %d bytes has no preallocated zeros", len(b))
	}
	if strings.Trim(string(b[i:]), "\x00") != "" {
		t.Fatal("bytes after the first zero are not all zeros")
	}
	return i
}

// TestPreallocatedFile: the file being written ends in synced zeros; Verify
// and Search read it while it is open; Close cuts the zeros so the signed
// file holds exactly its records.
func TestPreallocatedFile(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	l, path := openTrail(t, dir, s, 20)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := recordsEnd(t, b)
	if n := bytes.Count(b[:end], []byte("\n")); n != 20 || b[end-1] != '\n' {
		t.Fatalf("%d record lines before the zeros", n)
	}
	rep, err := audit.Verify(dir, s.Public())
	if err != nil {
		t.Fatalf("Verify of the open, preallocated file: %v", err)
	}
	if rep.Records != 20 || rep.OpenFile == "" {
		t.Fatalf("report %+v", rep)
	}
	var found int
	if err := audit.Search(dir, &audit.Filter{}, func([]byte) error { found++; return nil }); err != nil || found != 20 {
		t.Fatalf("Search of the open file: %d records, %v", found, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != end || bytes.IndexByte(b, 0) >= 0 {
		t.Fatalf("closed file: %d bytes (records: %d), zeros left: %v", len(b), end, bytes.IndexByte(b, 0) >= 0)
	}
	rep, err = audit.Verify(dir, s.Public())
	if err != nil || rep.Records != 20 || rep.Digests != 1 || rep.OpenFile != "" {
		t.Fatalf("Verify after Close: %+v, %v", rep, err)
	}
}

// TestPreallocatedCrash damages the zero tail of a file a crashed node
// left open, as a batch that reached the disk only in part would: Verify
// names the problem, and the next Open cuts the file back to its last
// complete record, signs it and continues the chain.
func TestPreallocatedCrash(t *testing.T) {
	cases := []struct {
		name string
		// damage writes into b, the file's bytes, whose records end at end.
		damage func(b []byte, end int)
		want   string // in Verify's problem before recovery
	}{
		{"partial record", func(b []byte, end int) { copy(b[end:], `{"eventVersion":"1.11","userIdent`) }, "truncated record"},
		{"torn batch", func(b []byte, end int) { copy(b[end+4096:], `"eventName":"Encrypt"}}`+"\n") }, ":4: malformed record"},
		{"torn batch, no end of line", func(b []byte, end int) { copy(b[end+4096:], `"eventName":"Encrypt"}}`) }, "after the preallocated zeros"},
		{"partial record then torn", func(b []byte, end int) {
			copy(b[end:], `{"eventVersion"`)
			copy(b[end+5000:], `Encrypt"}}`+"\n")
		}, "record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, s := t.TempDir(), newSigner(t)
			writeTrail(t, dir, s, 5, 1<<20)
			l, path := openTrail(t, dir, s, 3)
			_ = l // crashed: never closed
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			end := recordsEnd(t, b)
			tc.damage(b, end)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = audit.Verify(dir, s.Public())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v; want a problem saying %q", err, tc.want)
			}
			l2, err := audit.Open(audit.Options{Dir: dir, Signer: s})
			if err != nil {
				t.Fatal(err)
			}
			if err := l2.Write(context.Background(), record(9)); err != nil {
				t.Fatal(err)
			}
			if err := l2.Close(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(path); len(b) != end {
				t.Fatalf("recovered file has %d bytes; want its %d bytes of records", len(b), end)
			}
			rep, err := audit.Verify(dir, s.Public())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Records != 9 || rep.OpenFile != "" {
				t.Fatalf("report %+v; want 9 records, all signed", rep)
			}
		})
	}
}

// TestPreallocatedTampering: zeros are accepted only as the tail of the
// newest, unsigned file. A record overwritten with zeros, zeros appended
// to a signed file, and the open file's records cut back into its zeros
// followed by a record, are all found.
func TestPreallocatedTampering(t *testing.T) {
	t.Run("record zeroed in open file", func(t *testing.T) {
		dir, s := t.TempDir(), newSigner(t)
		_, path := openTrail(t, dir, s, 4)
		b, _ := os.ReadFile(path)
		i := bytes.IndexByte(b, '\n')
		clear(b[i+1 : i+1+bytes.IndexByte(b[i+1:], '\n')]) // the second record
		os.WriteFile(path, b, 0o600)
		if _, err := audit.Verify(dir, s.Public()); err == nil || !strings.Contains(err.Error(), ":2:") {
			t.Fatalf("Verify = %v; want a problem at line 2", err)
		}
	})
	t.Run("zeros appended to signed file", func(t *testing.T) {
		dir, s := t.TempDir(), newSigner(t)
		writeTrail(t, dir, s, 4, 1<<20)
		writeTrail(t, dir, s, 2, 1<<20)
		path := files(t, dir, ".jsonl")[0]
		b, _ := os.ReadFile(path)
		os.WriteFile(path, append(b, make([]byte, 4096)...), 0o600)
		if _, err := audit.Verify(dir, s.Public()); err == nil || !strings.Contains(err.Error(), "truncated record") {
			t.Fatalf("Verify = %v; want a problem", err)
		}
	})
	t.Run("last records zeroed in signed file", func(t *testing.T) {
		dir, s := t.TempDir(), newSigner(t)
		writeTrail(t, dir, s, 4, 1<<20)
		path := files(t, dir, ".jsonl")[0]
		b, _ := os.ReadFile(path)
		i := bytes.LastIndexByte(b[:len(b)-1], '\n')
		clear(b[i+1:])
		os.WriteFile(path, b, 0o600)
		if _, err := audit.Verify(dir, s.Public()); err == nil {
			t.Fatal("Verify accepted a signed file whose last record was zeroed")
		}
	})
}

// noZerosFile refuses to write zeros, like a disk with no room for
// preallocation, after writing part of them.
type noZerosFile struct{ *os.File }

func (f noZerosFile) WriteAt(b []byte, off int64) (int, error) {
	if len(b) > 0 && b[0] == 0 {
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, errDiskFull
	}
	return f.File.WriteAt(b, off)
}

// TestPreallocationFails: when zeros cannot be written, records still are
// (past the end of the file), and Close cuts whatever the failed
// preallocation left, so the signed file holds its records only.
func TestPreallocationFails(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, OpenFile: func(path string) (audit.File, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
		return noZerosFile{f}, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := l.Write(context.Background(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(dir, s.Public())
	if err != nil || rep.Records != 10 || rep.OpenFile != "" {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
	b, _ := os.ReadFile(files(t, dir, ".jsonl")[0])
	if bytes.IndexByte(b, 0) >= 0 {
		t.Fatal("the signed file keeps zeros of the failed preallocation")
	}
}

// TestSpareFile: once the current file is half full, the next one is
// zeroed whole in the background, and rotation renames it into place (the
// new file starts as MaxFileSize of zeros, not one chunk); Close removes a
// spare not used, and a spare left by a crash is removed at the next
// start.
func TestSpareFile(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	for _, name := range []string{audit.SpareFile + "-3", audit.SpareFile + ".abandoned"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("left by a crash"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const max = 4 << 20
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, MaxFileSize: max})
	if err != nil {
		t.Fatal(err)
	}
	if left := spares(t, dir); len(left) != 0 {
		t.Fatalf("the spares left by a crash are still there: %v", left)
	}
	i := 0
	write := func() {
		t.Helper()
		if err := l.Write(context.Background(), bigRecord(i)); err != nil {
			t.Fatal(err)
		}
		i++
	}
	// rotated writes until a spare is started, waits for it, writes until
	// the log has n files and checks that the newest came from the spare.
	// (No write while the spare is written: one could rotate to it.)
	rotated := func(n int) {
		t.Helper()
		for !audit.SpareStarted(l) {
			write()
		}
		// The spare is written in the background.
		for deadline := time.Now().Add(60 * time.Second); !audit.SpareReady(l); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the spare file was not written: %v", spares(t, dir))
			}
		}
		if got := len(files(t, dir, ".jsonl")); got != n-1 {
			t.Fatalf("%d files before the rotation to the spare; want %d", got, n-1)
		}
		for len(files(t, dir, ".jsonl")) < n {
			write()
		}
		logs := files(t, dir, ".jsonl")
		st, err := os.Stat(logs[n-1])
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != max {
			t.Fatalf("the new file holds %d bytes; the spare of %d was not used", st.Size(), max)
		}
		if left := spares(t, dir); len(left) != 0 {
			t.Fatalf("a spare is still there after rotation: %v", left)
		}
		b, _ := os.ReadFile(logs[n-1])
		end := recordsEnd(t, b)
		if end == 0 || b[end-1] != '\n' {
			t.Fatal("the new file does not start with whole records")
		}
	}
	// The first file is zeroed a chunk at a time; once it holds a chunk of
	// records, a spare is written and the file gives way to it early.
	rotated(2)
	if st, _ := os.Stat(files(t, dir, ".jsonl")[0]); st.Size() >= max/2 {
		t.Fatalf("the first file holds %d bytes: it did not give way early", st.Size())
	}
	// A file that came from a spare gets the next one once half full.
	rotated(3)
	if i < (max/2)/(16<<10) {
		t.Fatalf("the second spare was started after %d records in all; the file was not half full", i)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if left := spares(t, dir); len(left) != 0 {
		t.Fatalf("a spare is left after Close: %v", left)
	}
	rep, err := audit.Verify(dir, s.Public())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != uint64(i) || rep.OpenFile != "" {
		t.Fatalf("verified %d records (open file %q); wrote %d", rep.Records, rep.OpenFile, i)
	}
}

// TestSpareAbandoned: a rotation that comes before the spare is ready
// (here by age, right after the spare was started) abandons it: the new
// file is preallocated a chunk at a time, the spare's goroutine stops and
// its file goes away, and the next spare can be made under the same name.
func TestSpareAbandoned(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	const max = 1 << 30 // a spare this large takes seconds to write
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, MaxFileSize: max, MaxFileAge: time.Hour,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	n := writeUntilSpare(t, l, 0)
	if left := spares(t, dir); len(left) > 1 {
		t.Fatalf("spares being written: %v; want one", left)
	}
	if audit.SpareReady(l) {
		t.Skip("the 1 GiB spare was written before the test could abandon it")
	}
	now.Add(int64(2 * time.Hour))
	if err := l.Write(context.Background(), bigRecord(n)); err != nil {
		t.Fatal(err)
	}
	n++
	logs := files(t, dir, ".jsonl")
	if len(logs) != 2 {
		t.Fatalf("%d files after the rotation by age", len(logs))
	}
	if st, err := os.Stat(logs[1]); err != nil || st.Size() >= max {
		t.Fatalf("the new file (%v, %v) came from the unfinished spare", st.Size(), err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(spares(t, dir)) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned spare was not removed")
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.Verify(dir, s.Public()); err != nil || rep.Records != uint64(n) {
		t.Fatalf("Verify: %+v, %v; wrote %d", rep, err, n)
	}
}

// spares returns the names of the spare files in dir.
func spares(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), audit.SpareFile) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestSpareOpenFails: when the new file cannot be opened after the spare
// was renamed to its name, the zeros do not stay behind as a log file
// (which verify and the next start would take for a file of records); the
// write fails, and the next one succeeds in a new file.
func TestSpareOpenFails(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	var fail atomic.Bool
	const max = 4 << 20
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, MaxFileSize: max, OpenFile: func(path string) (audit.File, error) {
		if fail.Load() {
			return nil, errors.New("too many open files")
		}
		return os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	}})
	if err != nil {
		t.Fatal(err)
	}
	n := writeUntilSpare(t, l, 0)
	for deadline := time.Now().Add(60 * time.Second); !audit.SpareReady(l); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the spare file was not written: %v", spares(t, dir))
		}
	}
	fail.Store(true)
	if err := l.Write(context.Background(), bigRecord(n)); err == nil {
		t.Fatal("a write succeeded although its file could not be opened")
	}
	if logs := files(t, dir, ".jsonl"); len(logs) != 1 {
		t.Fatalf("log files after the failed open: %v; want only the first, signed", logs)
	}
	fail.Store(false)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if err := l.Write(context.Background(), bigRecord(n)); err == nil {
			n++
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume")
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.Verify(dir, s.Public()); err != nil || rep.Records != uint64(n) || rep.Files != 2 {
		t.Fatalf("Verify: %+v, %v; wrote %d records in 2 files", rep, err, n)
	}
}

// bigRecord is record(i) with about 16 KiB of request parameters, so that a
// few dozen of them fill a chunk of the file.
func bigRecord(i int) *audit.Record {
	r := record(i)
	r.RequestParameters = json.RawMessage(`{"x":"` + strings.Repeat("a", 16<<10) + `"}`)
	return r
}

// writeChunk writes big records numbered from n on until they fill a
// preallocation chunk (1 MiB) and returns the next number.
func writeChunk(t *testing.T, l *audit.Log, n int) int {
	t.Helper()
	for range (1<<20)/(16<<10) + 1 {
		if err := l.Write(context.Background(), bigRecord(n)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// TestSpareSizedByRate: the early spare of a file that fills slowly (it
// will rotate by time) is sized by the rate of its records, not
// MaxFileSize; a file that outgrows it is zeroed a chunk at a time.
func TestSpareSizedByRate(t *testing.T) {
	dir, s := t.TempDir(), newSigner(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l, err := audit.Open(audit.Options{Dir: dir, Signer: s, MaxFileAge: time.Hour, // MaxFileSize: the default 64 MiB
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; n < 60; n++ { // not quite a chunk
		if err := l.Write(context.Background(), bigRecord(n)); err != nil {
			t.Fatal(err)
		}
	}
	if len(spares(t, dir)) != 0 {
		t.Fatal("a spare was started before the first chunk was full")
	}
	// A chunk of records in half an hour: about 2 MiB an hour, so the
	// spare is the smallest, 4 MiB.
	now.Add(int64(30 * time.Minute))
	n = writeUntilSpare(t, l, n)
	for deadline := time.Now().Add(60 * time.Second); !audit.SpareReady(l); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the spare file was not written: %v", spares(t, dir))
		}
	}
	if err := l.Write(context.Background(), bigRecord(n)); err != nil {
		t.Fatal(err)
	}
	n++
	logs := files(t, dir, ".jsonl")
	if len(logs) != 2 {
		t.Fatalf("%d files; want the first closed early for the spare", len(logs))
	}
	st, err := os.Stat(logs[1])
	if err != nil || st.Size() < 4<<20 || st.Size() > 6<<20 || st.Size()%(1<<20) != 0 {
		t.Fatalf("the file from the spare holds %v bytes (%v); want twice an hour's rate in whole MiB: 4 or 5 MiB, not 64", st.Size(), err)
	}
	spareSize := st.Size()
	// Past its spare, the file is zeroed a chunk at a time.
	for range 7 {
		n = writeChunk(t, l, n)
	}
	if st, err := os.Stat(logs[1]); err != nil || st.Size() <= spareSize {
		t.Fatalf("the file holds %v bytes (%v) after 7 MiB of records; want it preallocated past its spare", st.Size(), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.Verify(dir, s.Public()); err != nil || rep.Records != uint64(n) {
		t.Fatalf("Verify: %+v, %v; wrote %d", rep, err, n)
	}
}

// writeUntilSpare writes big records numbered from n on until the log
// starts a spare, and returns the next number.
func writeUntilSpare(t *testing.T, l *audit.Log, n int) int {
	t.Helper()
	for start := n; !audit.SpareStarted(l); n++ {
		if n-start > 10000 {
			t.Fatal("no spare was started")
		}
		if err := l.Write(context.Background(), bigRecord(n)); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
