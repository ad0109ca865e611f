package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Queries that the admin API (TrentAdmin.SearchAudit and
// TrentAdmin.GetRequestCounts, docs/audit.md) answers from a live audit
// directory. They read the files while the log writes them: a last line
// without its newline is a record being written and is left out.
//
// Cost: every query reads the files whose records may fall in its time
// range, and parses every record line in them once. File names carry the
// time each file was opened, so files entirely before Since (the next
// file was opened before Since) or entirely after Until (opened more than
// [clockSkew] after it) are not read. Nothing is written per request for
// these queries.

// Dir returns the log's directory, "" when it writes no file.
func (l *Log) Dir() string { return l.opt.Dir }

// clockSkew bounds how much later than its eventTime (the request's
// arrival) a record can be written: a request's deadline is 10 seconds,
// and the margin is generous so that a slow disk never hides a record.
const clockSkew = 5 * time.Minute

// logFile is one log file of a directory.
type logFile struct {
	name   string
	first  uint64    // sequence number of its first record
	opened time.Time // when it was opened (from its name); zero if unknown
}

func listLogFiles(dir string) ([]logFile, error) {
	names, err := listLogs(dir)
	if err != nil {
		return nil, err
	}
	files := make([]logFile, 0, len(names))
	for _, n := range names {
		first, _ := parseLogName(n)
		lf := logFile{name: n, first: first}
		if _, rest, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(n, logPrefix), logSuffix), "-"); ok {
			lf.opened, _ = time.Parse("20060102T150405Z", rest)
		}
		files = append(files, lf)
	}
	return files, nil
}

// endsBefore reports whether every record of files[i] is dated before
// since: the next file was opened before it, so all of files[i] was
// written (and its requests arrived) before since.
func endsBefore(files []logFile, i int, since time.Time) bool {
	return !since.IsZero() && i+1 < len(files) && !files[i+1].opened.IsZero() && files[i+1].opened.Before(since.Add(-time.Second))
}

// startsAfter reports whether every record of lf is dated at or after
// until: it was opened more than clockSkew after until.
func startsAfter(lf logFile, until time.Time) bool {
	return !until.IsZero() && !lf.opened.IsZero() && lf.opened.After(until.Add(clockSkew))
}

// scanLines calls fn with each complete line of the file at path and its
// index from 0. The line is valid during the call only.
func scanLines(ctx context.Context, path string, fn func(i int, line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // closed and removed (an empty file) since it was listed
		}
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	sc.Split(completeLines)
	for i := 0; sc.Scan(); i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fn(i, sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", filepath.Base(path), i+1, err)
		}
	}
	return sc.Err()
}

// scanLinesBackward calls fn with each complete line of the file at path
// and its index from 0, last line first, until fn returns false. It
// counts the lines in one pass (no parsing), then reads the file from its
// end in blocks, so that the newest lines cost the least.
func scanLinesBackward(ctx context.Context, path string, fn func(i int, line []byte) (bool, error)) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	// Count the complete lines and find where the last one ends: a last
	// line without its newline is being written.
	var lines int
	var end, off int64
	buf := make([]byte, 256<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if c := bytes.Count(chunk, []byte{'\n'}); c > 0 {
				lines += c
				end = off + int64(bytes.LastIndexByte(chunk, '\n')) + 1
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	// data holds the bytes from pos to the end of the line being looked
	// for; its first line may begin before pos.
	pos := end
	var data []byte
	i := lines - 1
	for i >= 0 {
		if len(data) == 0 || bytes.LastIndexByte(data[:len(data)-1], '\n') < 0 && pos > 0 {
			if pos == 0 {
				return nil
			}
			if len(data) > 16<<20 {
				return fmt.Errorf("%s:%d: line longer than 16 MiB", filepath.Base(path), i+1)
			}
			n := min(int64(len(buf)), pos)
			pos -= n
			next := make([]byte, int(n)+len(data))
			if _, err := f.ReadAt(next[:n], pos); err != nil {
				return err
			}
			copy(next[n:], data)
			data = next
			continue
		}
		if (lines-1-i)%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		k := bytes.LastIndexByte(data[:len(data)-1], '\n') // -1: the line starts at pos, which is 0
		more, err := fn(i, data[k+1:len(data)-1])
		if err != nil {
			return fmt.Errorf("%s:%d: %w", filepath.Base(path), i+1, err)
		}
		if !more {
			return nil
		}
		data = data[:k+1]
		i--
	}
	return nil
}

// completeLines is a bufio.SplitFunc that returns lines ending in '\n'
// (without it) and drops a last line that has none: a record the writer
// has not finished.
func completeLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	return 0, nil, nil
}

// quickReject reports whether line certainly does not match f, without
// parsing it: its account is not f.Account (the exact member
// "accountId":"…" is missing), or its eventTime is outside [Since,
// Until). The writer encodes records in a fixed order, userIdentity
// before eventTime, and a string value cannot hold an unescaped quote, so
// the first "eventTime":" is the record's. When in doubt it returns false
// and the caller parses the line.
// acct is f.accountMember().
func (f *Filter) quickReject(line, acct []byte) bool {
	if f.Account != "" && !bytes.Contains(line, acct) {
		return true
	}
	if f.Since.IsZero() && f.Until.IsZero() {
		return false
	}
	const member = `"eventTime":"`
	i := bytes.Index(line, []byte(member))
	if i < 0 || len(line) < i+len(member)+20 || line[i+len(member)+20] != '"' {
		return false
	}
	t, err := time.Parse(time.RFC3339, string(line[i+len(member):i+len(member)+20]))
	if err != nil {
		return false
	}
	return !f.Since.IsZero() && t.Before(f.Since.Truncate(time.Second)) || !f.Until.IsZero() && !t.Before(f.Until)
}

func (f *Filter) accountMember() []byte {
	b, _ := json.Marshal(f.Account)
	return append([]byte(`"accountId":`), b...)
}

// Page is one page of [Latest]'s results.
type Page struct {
	// Records are the matching record lines, newest first.
	Records []json.RawMessage
	// Sequences are the records' sequence numbers.
	Sequences []uint64
	// More reports that older records match too: pass the last of
	// Sequences as before to get them.
	More bool
}

// maxPageBytes bounds the records of one page: a page ends early (with
// More set) rather than grow past it.
const maxPageBytes = 4 << 20

// Latest returns up to limit records of dir that match f and whose
// sequence number is below before (0: no bound), newest first, and no
// more than maxPageBytes of them (at least one). It reads the files from
// the newest back and stops at the first file that cannot hold a
// matching record older than those found. It gives up with ctx's error
// when ctx is done.
func Latest(ctx context.Context, dir string, f *Filter, before uint64, limit int) (*Page, error) {
	if limit <= 0 {
		return nil, errors.New("audit: limit must be positive")
	}
	files, err := listLogFiles(dir)
	if err != nil {
		return nil, err
	}
	acct := f.accountMember()
	size := 0
	type match struct {
		seq  uint64
		line []byte
	}
	var found []match // newest first, across files
	need := limit + 1
	full := false // a matching record did not fit in maxPageBytes
	for i := len(files) - 1; i >= 0 && len(found) < need && !full; i-- {
		lf := files[i]
		if before != 0 && lf.first >= before {
			continue
		}
		if endsBefore(files, i, f.Since) {
			break // and so does every older file
		}
		if startsAfter(lf, f.Until) {
			continue
		}
		// Read the file's lines from its end, so that the newest page
		// parses only the records it shows.
		err := scanLinesBackward(ctx, filepath.Join(dir, lf.name), func(j int, line []byte) (bool, error) {
			seq := lf.first + uint64(j)
			if before != 0 && seq >= before || f.quickReject(line, acct) {
				return true, nil
			}
			var r searchFields
			if err := json.Unmarshal(line, &r); err != nil {
				return false, err
			}
			ok, err := f.match(&r)
			if err != nil {
				return false, err
			}
			if ok {
				if len(found) > 0 && size+len(line) > maxPageBytes {
					full = true // it starts the next page
					return false, nil
				}
				found = append(found, match{seq, slices.Clone(line)})
				size += len(line)
			}
			return len(found) < need, nil
		})
		if err != nil {
			return nil, err
		}
	}
	p := &Page{More: full || len(found) > limit}
	found = found[:min(len(found), limit)]
	for _, m := range found {
		p.Records = append(p.Records, m.line)
		p.Sequences = append(p.Sequences, m.seq)
	}
	return p, nil
}

// Tally counts requests over time, for [CountRequests].
type Tally struct {
	Since, Until time.Time
	Period       time.Duration
	// Points are the non-zero counts, by period start, operation and
	// outcome, in that order.
	Points []Point
	// Keys are the requests by the KMS key they used (KeyARN "" for
	// requests that named none), most requests first.
	Keys []Group
	// Accounts are the requests by the account that made them (""
	// for requests that did not authenticate), most requests first.
	Accounts []Group
}

// Point is the number of requests of one operation with one outcome in
// the period that begins at Time.
type Point struct {
	Time      time.Time
	Source    string // eventSource, e.g. "kms.amazonaws.com"
	Operation string // eventName
	Outcome   string // OutcomeSuccess, OutcomeDenied or OutcomeFailed
	Count     int64
}

// Group is a total of requests by outcome.
type Group struct {
	Name                    string
	Success, Denied, Failed int64
}

// Total returns the group's requests.
func (g Group) Total() int64 { return g.Success + g.Denied + g.Failed }

func (g *Group) add(outcome string) {
	switch outcome {
	case OutcomeSuccess:
		g.Success++
	case OutcomeDenied:
		g.Denied++
	default:
		g.Failed++
	}
}

// outcomeOf classifies an errorCode: "" is a success, AccessDenied
// (IAM and STS) and AccessDeniedException (KMS) are denials, anything
// else is a failure.
func outcomeOf(errorCode string) string {
	switch errorCode {
	case "":
		return OutcomeSuccess
	case "AccessDeniedException", "AccessDenied":
		return OutcomeDenied
	}
	return OutcomeFailed
}

// CountRequests counts the records of dir that match f, by period of the
// given length from f.Since (which must be set, as must f.Until), and by
// operation and outcome; it also totals them by key and by account. It
// gives up with ctx's error when ctx is done.
func CountRequests(ctx context.Context, dir string, f *Filter, period time.Duration) (*Tally, error) {
	if f.Since.IsZero() || f.Until.IsZero() || period <= 0 || !f.Until.After(f.Since) {
		return nil, errors.New("audit: CountRequests needs Since before Until and a positive period")
	}
	files, err := listLogFiles(dir)
	if err != nil {
		return nil, err
	}
	since := f.Since.Truncate(time.Second)
	acct := f.accountMember()
	type cell struct {
		bucket                    int64
		source, operation, outcom string
	}
	cells := map[cell]int64{}
	keys := map[string]*Group{}
	accounts := map[string]*Group{}
	for i, lf := range files {
		if endsBefore(files, i, f.Since) || startsAfter(lf, f.Until) {
			continue
		}
		err := scanLines(ctx, filepath.Join(dir, lf.name), func(_ int, line []byte) error {
			if f.quickReject(line, acct) {
				return nil
			}
			var r searchFields
			if err := json.Unmarshal(line, &r); err != nil {
				return err
			}
			ok, err := f.match(&r)
			if err != nil || !ok {
				return err
			}
			t, err := time.Parse(time.RFC3339, r.EventTime)
			if err != nil {
				return nil
			}
			out := outcomeOf(r.ErrorCode)
			cells[cell{int64(t.Sub(since) / period), r.EventSource, r.EventName, out}]++
			key := ""
			for _, res := range r.Resources {
				if res.Type == "AWS::KMS::Key" {
					key = res.ARN
					break
				}
			}
			g := keys[key]
			if g == nil {
				g = &Group{Name: key}
				keys[key] = g
			}
			g.add(out)
			a := accounts[r.UserIdentity.AccountID]
			if a == nil {
				a = &Group{Name: r.UserIdentity.AccountID}
				accounts[r.UserIdentity.AccountID] = a
			}
			a.add(out)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	t := &Tally{Since: since, Until: f.Until, Period: period}
	for c, n := range cells {
		t.Points = append(t.Points, Point{Time: since.Add(time.Duration(c.bucket) * period), Source: c.source, Operation: c.operation, Outcome: c.outcom, Count: n})
	}
	slices.SortFunc(t.Points, func(a, b Point) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Operation, b.Operation); c != 0 {
			return c
		}
		if c := strings.Compare(a.Outcome, b.Outcome); c != 0 {
			return c
		}
		return strings.Compare(a.Source, b.Source)
	})
	t.Keys, t.Accounts = sortedGroups(keys), sortedGroups(accounts)
	return t, nil
}

func sortedGroups(m map[string]*Group) []Group {
	out := make([]Group, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int {
		if a.Total() != b.Total() {
			if a.Total() > b.Total() {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
