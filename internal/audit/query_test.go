package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/audit"
)

// TestLatestPagesAcrossFiles: Latest returns matches newest first, pages by
// sequence number across files, and ignores a record being written (a
// last line without its newline).
func TestLatestPagesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeTrail(t, dir, newSigner(t), 40, 2048) // several files
	if n := len(files(t, dir, ".jsonl")); n < 3 {
		t.Fatalf("%d files, want several", n)
	}
	// A partly written record at the end of the newest file.
	fs := files(t, dir, ".jsonl")
	f, err := os.OpenFile(fs[len(fs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"eventVersion":"1.11","userIde`)
	f.Close()

	var seqs []uint64
	var before uint64
	for page := 0; ; page++ {
		p, err := audit.Latest(context.Background(), dir, &audit.Filter{Account: "111122223333"}, before, 7)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range p.Records {
			var r struct {
				Trent struct{ Sequence uint64 } `json:"trent"`
			}
			if err := json.Unmarshal(line, &r); err != nil || r.Trent.Sequence != p.Sequences[i] {
				t.Fatalf("page %d record %d: sequence %d, listed %d (%v)", page, i, r.Trent.Sequence, p.Sequences[i], err)
			}
			seqs = append(seqs, p.Sequences[i])
		}
		if !p.More {
			break
		}
		before = p.Sequences[len(p.Sequences)-1]
	}
	if len(seqs) != 40 {
		t.Fatalf("%d records over the pages, want 40", len(seqs))
	}
	for i, s := range seqs {
		if s != uint64(40-i) {
			t.Fatalf("record %d has sequence %d, want %d (newest first)", i, s, 40-i)
		}
	}
	p, err := audit.Latest(context.Background(), dir, &audit.Filter{Account: "444455556666"}, 0, 10)
	if err != nil || len(p.Records) != 0 || p.More {
		t.Fatalf("another account's records: %+v %v", p, err)
	}
}

// TestCountRequests counts records by period, operation and outcome, and
// skips the files that end before the range.
func TestCountRequests(t *testing.T) {
	dir := t.TempDir()
	since := time.Now().UTC().Truncate(time.Minute)
	l, err := audit.Open(audit.Options{Dir: dir, Signer: newSigner(t), MaxFileSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 90 {
		r := record(i)
		r.EventTime = audit.EventTime(since.Add(time.Duration(i%60) * time.Second))
		if i%3 == 0 {
			r.EventName, r.ErrorCode = "Decrypt", "AccessDeniedException"
		}
		if err := l.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tl, err := audit.CountRequests(context.Background(), dir, &audit.Filter{Since: since, Until: since.Add(time.Minute)}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Seconds 0-29: i = 0..29 and 60..89 (60 records, 20 of them
	// Decrypts); seconds 30-59: i = 30..59 (30 records, 10 Decrypts).
	want := []audit.Point{
		{Time: since, Source: audit.SourceKMS, Operation: "Decrypt", Outcome: audit.OutcomeDenied, Count: 20},
		{Time: since, Source: audit.SourceKMS, Operation: "Encrypt", Outcome: audit.OutcomeSuccess, Count: 40},
		{Time: since.Add(30 * time.Second), Source: audit.SourceKMS, Operation: "Decrypt", Outcome: audit.OutcomeDenied, Count: 10},
		{Time: since.Add(30 * time.Second), Source: audit.SourceKMS, Operation: "Encrypt", Outcome: audit.OutcomeSuccess, Count: 20},
	}
	if len(tl.Points) != len(want) {
		t.Fatalf("points = %+v", tl.Points)
	}
	for i, p := range tl.Points {
		if !p.Time.Equal(want[i].Time) || p.Source != want[i].Source || p.Operation != want[i].Operation || p.Outcome != want[i].Outcome || p.Count != want[i].Count {
			t.Errorf("point %d = %+v, want %+v", i, p, want[i])
		}
	}
	if len(tl.Accounts) != 1 || tl.Accounts[0].Success != 60 || tl.Accounts[0].Denied != 30 || len(tl.Keys) != 1 || tl.Keys[0].Name != "" {
		t.Fatalf("accounts %+v keys %+v", tl.Accounts, tl.Keys)
	}
	// A range after every record counts none.
	later := since.Add(48 * time.Hour)
	if tl, err := audit.CountRequests(context.Background(), dir, &audit.Filter{Since: later, Until: later.Add(time.Hour)}, time.Minute); err != nil || len(tl.Points) != 0 {
		t.Fatalf("a later range: %+v %v", tl, err)
	}
	if _, err := audit.CountRequests(context.Background(), dir, &audit.Filter{}, time.Minute); err == nil {
		t.Fatal("CountRequests without a time range succeeded")
	}
}

// TestLatestBoundsPageBytes: a page of large records ends before 4 MiB,
// and the next page goes on where it ended.
func TestLatestBoundsPageBytes(t *testing.T) {
	dir := t.TempDir()
	l, err := audit.Open(audit.Options{Dir: dir, Signer: newSigner(t)})
	if err != nil {
		t.Fatal(err)
	}
	big := json.RawMessage(`{"policy":"` + strings.Repeat("x", 300<<10) + `"}`)
	for i := range 20 {
		r := record(i)
		r.RequestParameters = big
		if err := l.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := audit.Latest(context.Background(), dir, &audit.Filter{}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 13 || !p.More || p.Sequences[0] != 20 || p.Sequences[12] != 8 {
		t.Fatalf("first page: %d records, more %v, sequences %v", len(p.Records), p.More, p.Sequences)
	}
	p, err = audit.Latest(context.Background(), dir, &audit.Filter{}, p.Sequences[12], 1000)
	if err != nil || len(p.Records) != 7 || p.More || p.Sequences[0] != 7 {
		t.Fatalf("second page: %d records, more %v, sequences %v, %v", len(p.Records), p.More, p.Sequences, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := audit.Latest(ctx, dir, &audit.Filter{}, 0, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Latest with a cancelled context: %v", err)
	}
}
