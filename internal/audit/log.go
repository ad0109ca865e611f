package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// File is an open log file, as the writer uses it. [Options.OpenFile]
// lets tests inject write and fsync failures. The writer writes records
// at the end of the records written so far (WriteAt), and zeros ahead of
// them to preallocate the file (see [Log]); Sync makes every byte written
// durable, file size included (the default file uses fdatasync).
type File interface {
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Options configure a [Log].
type Options struct {
	// Dir is the audit directory; "" writes no file (a --dev server).
	Dir string
	// Stdout, when set, receives a copy of every record line. When Dir is
	// "" it is the only sink, and a failure to write it fails requests
	// like a file failure; otherwise its failures are logged only.
	Stdout io.Writer
	// Signer signs each closed file's digest. Required with Dir.
	Signer *Signer
	// MaxFileSize and MaxFileAge rotate the current file once it is that
	// large or that old. Defaults: 64 MiB and 1 hour.
	MaxFileSize int64
	MaxFileAge  time.Duration
	// FailOpen lets requests succeed when their record cannot be written
	// (logged as an error). For test environments only.
	FailOpen bool
	Logger   *slog.Logger
	// Now is the clock for rotation and file names; nil means time.Now.
	Now func() time.Time
	// OpenFile opens a log file for writing, creating it; nil uses
	// os.OpenFile with mode 0600, synced with fdatasync.
	OpenFile func(path string) (File, error)
	// RetryInterval is how often a failing log retries by itself, and how
	// often file age is checked. Default 1s.
	RetryInterval time.Duration
}

// ErrClosed is returned by [Log.Write] after [Log.Close].
var ErrClosed = errors.New("audit: log closed")

// Log is the audit trail writer. Records are appended, chained by hash, to
// JSON-lines files and committed in batches: one write and one fsync for
// all records waiting, and every caller of [Log.Write] returns once its
// batch is durable. It is safe for concurrent use.
//
// There is no writer goroutine. The caller of Write that finds no commit
// under way commits itself (it leads); callers that arrive meanwhile queue
// their records and wait. When a commit ends, its leader hands the lead to
// the first record that queued during it, whose caller then commits every
// record queued, and so on. A lone request thus writes its own record
// without waking another goroutine, and under load every waiting caller is
// woken once, either with its batch's outcome or to lead the next batch.
//
// The current file is preallocated: zeros are written and synced ahead of
// the records, so that a batch overwrites blocks the file already has and
// its fsync (fdatasync) flushes the data alone, without a journal commit
// for a new size or new blocks; on this project's disk that is 2-5 times
// quicker. Once the current file is half full, a background goroutine
// writes the next file whole ([SpareFile], MaxFileSize of synced zeros),
// and rotation renames it into place, so that no batch waits for zeros.
// A file that did not come from a spare (the first after a start, or
// after a rotation by age or a failure that found none) is zeroed by the
// leader [preallocChunk] at a time after answering the others of its
// batch (its own request, and those that queue meanwhile, wait); once it holds
// a chunk of records, a spare is written for it too (sized by the rate of
// its records, see spareSize), and it is closed early for the spare as
// soon as that is ready. The zero tail is cut off
// when the file is closed, so that a closed file holds exactly its
// records; a file left open by a crash is cut back to its last complete
// record at the next start, and a spare it left is removed.
type Log struct {
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	pending []*request // records queued for the next commit; [0] leads it
	pendBuf []*request // pending's other buffer
	leading bool       // a goroutine holds the lead (commits, or ticks)
	closed  bool
	idle    *sync.Cond // signalled when the lead is released with nothing queued
	stop    chan struct{}
	done    chan struct{}

	// The leader's state: read and written only by the goroutine holding
	// the lead.
	f        File
	path     string
	opened   time.Time
	size     int64     // durable bytes in f
	alloc    int64     // f's bytes [size, alloc) are zeros, written and synced
	noAlloc  bool      // preallocation failed for f: do not retry it
	spare    *spare    // the next file, being zeroed in the background
	spares   uint64    // spares started, for their names
	zeroed   bool      // f was a spare: it came whole with its zeros
	sum      hash.Hash // SHA-256 of the durable bytes of f
	first    uint64    // first sequence number in f
	firstPrv string    // previousHash of f's first record
	broken   bool      // f may hold bytes past size
	seq      uint64    // last durable sequence number
	prev     string    // hash of the last durable record
	prevSig  string    // signature of the last digest
	buf      []byte

	records  atomic.Uint64
	batches  atomic.Uint64
	failures atomic.Uint64
	syncNs   atomic.Uint64 // time spent in fsync of batches
	queued   atomic.Int64  // len(pending), for Stats
	failing  atomic.Bool
	lastErr  atomic.Pointer[error]
}

// errLead is sent to a queued record's caller to hand it the lead.
var errLead = errors.New("audit: lead")

type request struct {
	line []byte
	done chan error
}

// maxPooledLine bounds the line buffers kept for reuse.
const maxPooledLine = 16 << 10

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// Open starts a log. With a directory it creates it (mode 0700), writes the
// signer's public key to audit-public-key.pem, and continues the chain of
// the files already there: a file left open by a crash is cut back to its
// last complete record, and signed.
func Open(opt Options) (*Log, error) {
	if opt.MaxFileSize <= 0 {
		opt.MaxFileSize = 64 << 20
	}
	if opt.MaxFileAge <= 0 {
		opt.MaxFileAge = time.Hour
	}
	if opt.RetryInterval <= 0 {
		opt.RetryInterval = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.OpenFile == nil {
		opt.OpenFile = openDataFile
	}
	l := &Log{opt: opt, log: opt.Logger, stop: make(chan struct{}), done: make(chan struct{}), prev: zeroHash}
	l.idle = sync.NewCond(&l.mu)
	if opt.Dir != "" {
		if opt.Signer == nil {
			return nil, errors.New("audit: a log directory needs a signer")
		}
		if err := l.resume(); err != nil {
			return nil, err
		}
	}
	go l.ticker()
	return l, nil
}

// resume prepares the directory and picks up the chain where the files in
// it end.
func (l *Log) resume() error {
	dir := l.opt.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit: create %s: %w", dir, err)
	}
	pemPath := filepath.Join(dir, PublicKeyFile)
	want := l.opt.Signer.PublicPEM()
	if got, err := os.ReadFile(pemPath); err != nil || !bytes.Equal(got, want) {
		if err == nil {
			l.log.Warn("audit: replacing the public key file; digests signed by the old key verify only with the old key",
				"file", pemPath, "fingerprint", l.opt.Signer.Fingerprint())
		}
		if err := writeFileSync(pemPath, want, 0o644); err != nil {
			return fmt.Errorf("audit: write %s: %w", pemPath, err)
		}
	}
	if err := removeSpares(dir); err != nil {
		return err
	}
	logs, err := listLogs(dir)
	if err != nil {
		return err
	}
	pub := l.opt.Signer.Public()
	for i := len(logs) - 1; i >= 0; i-- {
		name := logs[i]
		path := filepath.Join(dir, name)
		if b, err := os.ReadFile(path + digestSuffix); err == nil {
			d, sig, err := decodeDigest(b, pub)
			if err != nil {
				return fmt.Errorf("audit: %s%s: %v; start with the signing key that wrote it, or move the audit directory aside", name, digestSuffix, err)
			}
			l.seq, l.prev, l.prevSig = d.LastSequence, d.LastHash, sig
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit: %w", err)
		}
		if i != len(logs)-1 {
			return fmt.Errorf("audit: %s has no digest and is not the newest file; run trent audit verify %s", name, dir)
		}
		// The newest file has no digest: the node stopped without closing
		// it. Find the digest before it first, then sign this one.
		if err := l.closeCrashed(logs[:i], path); err != nil {
			return err
		}
		break
	}
	return nil
}

// closeCrashed signs the digest of a file a previous run left open, after
// cutting off a partly written last record, which no caller was told was
// durable.
func (l *Log) closeCrashed(before []string, path string) error {
	pub := l.opt.Signer.Public()
	if n := len(before); n > 0 {
		b, err := os.ReadFile(filepath.Join(l.opt.Dir, before[n-1]) + digestSuffix)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		d, sig, err := decodeDigest(b, pub)
		if err != nil {
			return fmt.Errorf("audit: %s%s: %v", before[n-1], digestSuffix, err)
		}
		l.seq, l.prev, l.prevSig = d.LastSequence, d.LastHash, sig
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// The file ends in the zeros preallocated for records that never
	// came; a batch whose fsync did not complete may have reached the disk
	// in part, anywhere in them. Records hold no NUL byte (JSON escapes
	// it), and every acknowledged record lies before the first one.
	full := len(b)
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if i := bytes.LastIndexByte(b, '\n'); i+1 != len(b) {
		l.log.Warn("audit: cutting a partly written record off the end of the file the last run left open", "file", path, "bytes", len(b)-i-1)
		b = b[:i+1]
	}
	if len(b) != full {
		if err := truncateSync(path, int64(len(b))); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if len(b) == 0 {
		return os.Remove(path)
	}
	first, _ := parseLogName(filepath.Base(path))
	l.path, l.first, l.size, l.sum = path, first, int64(len(b)), sha256.New()
	l.sum.Write(b)
	lines := bytes.SplitAfter(b[:len(b)-1], []byte("\n"))
	c, err := parseChain(bytes.TrimSuffix(lines[0], []byte("\n")))
	if err != nil {
		return fmt.Errorf("audit: %s: first record: %v; run trent audit verify", path, err)
	}
	l.firstPrv = c.PreviousHash
	last := lines[len(lines)-1]
	c, err = parseChain(last)
	if err != nil {
		return fmt.Errorf("audit: %s: last record: %v; run trent audit verify", path, err)
	}
	h := sha256.Sum256(last)
	l.seq, l.prev = c.Sequence, hex.EncodeToString(h[:])
	return l.sign()
}

// chainFields are a record line's chain members.
type chainFields struct {
	Sequence     uint64 `json:"sequence"`
	PreviousHash string `json:"previousHash"`
}

func parseChain(line []byte) (chainFields, error) {
	var r struct {
		Trent *chainFields `json:"trent"`
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return chainFields{}, fmt.Errorf("malformed record: %v", err)
	}
	if r.Trent == nil {
		return chainFields{}, errors.New("record has no trent object")
	}
	return *r.Trent, nil
}

// listLogs returns the log file names in dir in sequence order.
func listLogs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var names []string
	for _, e := range ents {
		if _, ok := parseLogName(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // fixed-width sequence numbers sort as numbers
	return names, nil
}

// Write appends r to the log and returns once it is durable in every sink.
// It fills in r's chain members. An error means the record was not
// written, and the request it describes must fail (unless the log fails
// open, when Write logs the error and returns nil).
func (l *Log) Write(ctx context.Context, r *Record) error {
	req := requestPool.Get().(*request)
	line, err := r.marshal(req.line[:0])
	if err != nil {
		requestPool.Put(req)
		return fmt.Errorf("audit: encode record: %w", err)
	}
	req.line = line
	if l.opt.Dir == "" && l.opt.Stdout == nil {
		requestPool.Put(req)
		return nil // nowhere to write: a --dev server without audit_stdout
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		requestPool.Put(req)
		return ErrClosed
	}
	l.pending = append(l.pending, req)
	l.queued.Store(int64(len(l.pending)))
	if l.leading {
		l.mu.Unlock()
		err = <-req.done
	} else {
		l.leading = true
		l.mu.Unlock()
		err = errLead
	}
	if err == errLead {
		err = l.lead(req)
	}
	// The batch is done with req.line: keep its buffer for the next
	// record, unless it grew unusually large.
	if cap(req.line) > maxPooledLine {
		req.line = nil
	}
	requestPool.Put(req)
	if err != nil && l.opt.FailOpen {
		l.log.Error("audit: record not written; answering anyway because audit_fail_open is set", "request_id", r.RequestID, "err", err)
		return nil
	}
	return err
}

// lead commits the records queued, self first (the caller holds the lead,
// and self is the first record queued), then passes the lead on. It
// returns self's outcome.
func (l *Log) lead(self *request) error {
	l.mu.Lock()
	batch := l.pending
	if len(batch) > maxBatch {
		l.pending = append(l.pendBuf[:0], batch[maxBatch:]...)
		batch = batch[:maxBatch]
	} else {
		l.pending = l.pendBuf[:0]
	}
	l.pendBuf = nil
	l.queued.Store(int64(len(l.pending)))
	l.mu.Unlock()
	if batch[0] != self {
		panic("audit: the leader's record is not the first of its batch")
	}
	err := l.commit(batch)
	for _, r := range batch[1:] {
		r.done <- err
	}
	if err == nil {
		// After answering the others: the records that queue meanwhile
		// wait for it, the batch just written does not.
		l.preallocate()
	}
	clear(batch)
	l.mu.Lock()
	if l.pendBuf == nil {
		l.pendBuf = batch[:0]
	}
	l.release()
	l.mu.Unlock()
	return err
}

// release passes the lead to the first queued record's caller, or frees
// it when nothing is queued. l.mu is held.
func (l *Log) release() {
	if len(l.pending) > 0 {
		l.pending[0].done <- errLead
		return
	}
	l.leading = false
	l.idle.Broadcast()
}

// acquire takes the lead when it is free, for the ticker and Close; wait
// says whether to wait for it. It reports whether the lead was taken.
func (l *Log) acquire(wait bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.leading {
		if !wait {
			return false
		}
		l.idle.Wait()
	}
	l.leading = true
	return true
}

// Close writes the records still queued, signs the digest of the current
// file and stops the log. Records written after Close fail with
// [ErrClosed].
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	// Once the lead is free, nothing is queued, and nothing can be.
	l.acquire(true)
	l.shutdown()
	close(l.done)
	if p := l.lastErr.Load(); p != nil && l.failing.Load() {
		return *p
	}
	return nil
}

// maxBatch bounds the records committed by one fsync.
const maxBatch = 1024

// ticker retries a failing log and closes old files while no request
// does, taking the lead when it is free.
func (l *Log) ticker() {
	tick := time.NewTicker(l.opt.RetryInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if !l.acquire(false) {
				continue // a commit is under way: prepare rotates, and its outcome tells readiness
			}
			l.tick()
			l.mu.Lock()
			l.release()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

// tick retries a failing log without waiting for a request, so that
// readiness recovers, and closes a file that has grown old.
func (l *Log) tick() {
	if l.opt.Dir == "" {
		return
	}
	if l.failing.Load() {
		// Truncating works on a full disk; only a real write shows that
		// records can be written again.
		if err := l.prepare(); err != nil {
			l.fail(err)
			return
		}
		if err := l.probe(); err != nil {
			l.fail(err)
			return
		}
		l.ok()
		return
	}
	if l.f != nil && l.opt.Now().Sub(l.opened) >= l.opt.MaxFileAge {
		if err := l.closeFile(); err != nil {
			l.fail(err)
		}
	}
}

func (l *Log) shutdown() {
	defer l.dropSpare()
	if l.f == nil {
		return
	}
	if l.broken {
		if err := l.prepare(); err != nil {
			l.fail(err)
			l.log.Error("audit: cannot close the log file cleanly; the next start signs it", "file", l.path, "err", err)
			return
		}
	}
	if err := l.closeFile(); err != nil {
		l.fail(err)
		l.log.Error("audit: cannot sign the last log file; the next start signs it", "file", l.path, "err", err)
	}
}

// commit writes a batch: chain members, one write, one fsync.
func (l *Log) commit(batch []*request) error {
	if l.opt.Dir != "" {
		if err := l.prepare(); err != nil {
			return l.fail(err)
		}
	}
	seq := l.seq
	var prev [2 * sha256.Size]byte // hex
	copy(prev[:], l.prev)
	buf := l.buf[:0]
	for _, r := range batch {
		seq++
		start := len(buf)
		buf = append(buf, r.line...)
		buf = append(buf, `,"sequence":`...)
		buf = strconv.AppendUint(buf, seq, 10)
		buf = append(buf, `,"previousHash":"`...)
		buf = append(buf, prev[:]...)
		buf = append(buf, `"}}`...)
		h := sha256.Sum256(buf[start:])
		hex.Encode(prev[:], h[:])
		buf = append(buf, '\n')
	}
	if cap(buf) <= 4<<20 {
		l.buf = buf
	}
	if l.f != nil {
		if _, err := l.f.WriteAt(buf, l.size); err != nil {
			l.broken = true
			return l.fail(fmt.Errorf("audit: write %s: %w", l.path, err))
		}
		t0 := time.Now()
		if err := l.f.Sync(); err != nil {
			l.broken = true
			return l.fail(fmt.Errorf("audit: fsync %s: %w", l.path, err))
		}
		l.syncNs.Add(uint64(time.Since(t0)))
		if l.size == 0 {
			l.first, l.firstPrv = l.seq+1, l.prev
		}
		l.size += int64(len(buf))
		l.alloc = max(l.alloc, l.size)
		l.sum.Write(buf)
	}
	if l.opt.Stdout != nil {
		if _, err := l.opt.Stdout.Write(buf); err != nil {
			if l.opt.Dir == "" {
				return l.fail(fmt.Errorf("audit: write to stdout: %w", err))
			}
			l.log.Error("audit: cannot copy records to stdout", "err", err)
		}
	}
	l.seq, l.prev = seq, string(prev[:])
	l.records.Add(uint64(len(batch)))
	l.batches.Add(1)
	l.ok()
	return nil
}

// prepare makes the current file ready for a batch: it cuts off what a
// failed batch may have left, closes the file when it is due for rotation
// and opens a new one when there is none.
func (l *Log) prepare() error {
	if l.f != nil && l.broken {
		if err := l.f.Truncate(l.size); err != nil {
			return fmt.Errorf("audit: truncate %s after a failed write: %w", l.path, err)
		}
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("audit: fsync %s: %w", l.path, err)
		}
		l.broken, l.alloc = false, l.size
	}
	if l.f != nil && (l.size >= l.opt.MaxFileSize || l.opt.Now().Sub(l.opened) >= l.opt.MaxFileAge || l.spareFirst()) {
		if err := l.closeFile(); err != nil {
			return err
		}
	}
	if l.f == nil {
		now := l.opt.Now()
		path := filepath.Join(l.opt.Dir, logName(l.seq+1, now))
		alloc := l.takeSpare(path)
		f, err := l.opt.OpenFile(path)
		if err != nil {
			if alloc > 0 {
				os.Remove(path) // the spare renamed to path: zeros, no records
			}
			return fmt.Errorf("audit: open %s: %w", path, err)
		}
		if err := syncDir(l.opt.Dir); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("audit: fsync %s: %w", l.opt.Dir, err)
		}
		l.f, l.path, l.opened, l.size, l.sum, l.broken = f, path, now, 0, sha256.New(), false
		l.alloc, l.noAlloc, l.zeroed = alloc, false, alloc > 0
	}
	return nil
}

// spareFirst reports whether the current file, preallocated a chunk at a
// time, should give way to a spare that is ready.
func (l *Log) spareFirst() bool {
	return !l.zeroed && l.spare != nil && l.spare.finished(false) && l.spare.err == nil
}

// SpareFile begins the names, in the audit directory, of the next log
// file while a background goroutine fills it with zeros
// (".audit-spare-N"). Each spare has a name of its own, so one abandoned
// while its goroutine winds down never shares a file with the next.
const SpareFile = ".audit-spare"

// removeSpares removes the spare files in dir, which a previous run left.
func removeSpares(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), SpareFile) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("audit: remove the spare file a previous run left: %w", err)
			}
		}
	}
	return nil
}

// spare is the next log file being zeroed by a background goroutine.
type spare struct {
	path string
	size int64
	stop chan struct{} // closed to abandon it
	done chan error    // the outcome, once
	err  error         // the outcome, after done was read
	over bool          // done was read
}

// startSpare zeros the next log file in the background once the current
// one is half full, so that the rotation to come finds it ready; and once
// a file preallocated a chunk at a time (the first after a start, or
// after a rotation that found no spare) holds a chunk of records, so that
// it gives way early to a spare (see spareFirst).
func (l *Log) startSpare() {
	if l.spare != nil || l.f == nil || l.noAlloc || l.opt.MaxFileSize <= preallocChunk {
		return
	}
	if l.size < l.opt.MaxFileSize/2 && (l.zeroed || l.size < preallocChunk) {
		return
	}
	l.spares++
	sp := &spare{path: filepath.Join(l.opt.Dir, SpareFile+"-"+strconv.FormatUint(l.spares, 10)), size: l.spareSize(),
		stop: make(chan struct{}), done: make(chan error, 1)}
	l.spare = sp
	go func() { sp.done <- sp.fill() }()
}

// spareSize is how large the next spare is made: MaxFileSize when the
// current file is half full (it will rotate by size); for the early spare
// of a file less full, twice what the records written so far come to over
// MaxFileAge at their rate, in whole chunks, at least minSpareChunks
// chunks and at most MaxFileSize. So a node that rotates by time does not
// zero a whole MaxFileSize each time for a few MiB of records; a file that
// outgrows its spare is zeroed a chunk at a time past it.
func (l *Log) spareSize() int64 {
	limit := l.opt.MaxFileSize
	elapsed := l.opt.Now().Sub(l.opened)
	if l.size >= limit/2 || elapsed <= 0 {
		return limit
	}
	want := 2 * float64(l.size) * float64(l.opt.MaxFileAge) / float64(elapsed)
	if want >= float64(limit) {
		return limit
	}
	n := (int64(want) + preallocChunk - 1) / preallocChunk * preallocChunk
	return min(limit, max(n, minSpareChunks*preallocChunk))
}

// minSpareChunks is the smallest spare, in preallocation chunks.
const minSpareChunks = 4

// fill writes the spare file's zeros and syncs them. On an error (a full
// disk, or abandoned) it removes the file, giving its space back at once.
func (sp *spare) fill() (err error) {
	defer func() {
		if err != nil {
			os.Remove(sp.path)
		}
	}()
	f, err := os.OpenFile(sp.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	for off := int64(0); off < sp.size && err == nil; off += int64(len(zeros)) {
		select {
		case <-sp.stop:
			err = errors.New("abandoned")
		default:
			_, err = f.WriteAt(zeros[:min(int64(len(zeros)), sp.size-off)], off)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// finished reports whether the spare's goroutine is done, and its error.
func (sp *spare) finished(wait bool) bool {
	if !sp.over {
		if wait {
			sp.err = <-sp.done
		} else {
			select {
			case sp.err = <-sp.done:
			default:
				return false
			}
		}
		sp.over = true
	}
	return true
}

// takeSpare renames a ready spare file to path and returns its size, the
// zeros the new file starts with; it returns 0 when no spare is ready (a
// spare still being written is abandoned).
func (l *Log) takeSpare(path string) int64 {
	sp := l.spare
	if sp == nil {
		return 0
	}
	l.spare = nil
	if !sp.finished(false) {
		// Abandon it: its goroutine stops and removes it (or, if it
		// finished meanwhile, this does).
		close(sp.stop)
		go func() { sp.finished(true); os.Remove(sp.path) }()
		return 0
	}
	if sp.err == nil {
		sp.err = os.Rename(sp.path, path)
	}
	if sp.err != nil {
		l.log.Warn("audit: cannot use the spare log file; preallocating as records come", "err", sp.err)
		os.Remove(sp.path)
		return 0
	}
	return sp.size
}

// dropSpare abandons the spare file and removes it, at shutdown.
func (l *Log) dropSpare() {
	if sp := l.spare; sp != nil {
		l.spare = nil
		close(sp.stop)
		sp.finished(true)
		os.Remove(sp.path)
	}
}

// preallocChunk is how much of the current file is preallocated at a
// time: about 800 Encrypt records. The next chunk is written when less
// than half of one is left.
const preallocChunk = 1 << 20

var zeros [64 << 10]byte

// preallocate writes and syncs zeros ahead of the records in the current
// file when little is left, up to the file's rotation size. A failure
// (disk full) only stops preallocation for this file: records are then
// written past the end of the file, as without it, and fail if they
// cannot be.
func (l *Log) preallocate() {
	l.startSpare()
	if l.f == nil || l.noAlloc || l.broken || l.alloc-l.size >= preallocChunk/2 || l.alloc >= l.opt.MaxFileSize {
		return
	}
	end := min(l.alloc+preallocChunk, l.opt.MaxFileSize)
	var err error
	for off := l.alloc; off < end && err == nil; off += int64(len(zeros)) {
		_, err = l.f.WriteAt(zeros[:min(int64(len(zeros)), end-off)], off)
	}
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		l.noAlloc = true
		l.log.Warn("audit: cannot preallocate the log file; writing without", "file", l.path, "err", err)
		return
	}
	l.alloc = end
}

// probe writes, fsyncs and removes a small file in the audit directory.
func (l *Log) probe() error {
	path := filepath.Join(l.opt.Dir, ".audit-probe")
	f, err := l.opt.OpenFile(path)
	if err != nil {
		return fmt.Errorf("audit: probe: %w", err)
	}
	defer os.Remove(path)
	_, err = f.WriteAt(zeros[:4096], 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: probe: %w", err)
	}
	return nil
}

// closeFile signs the current file's digest and closes it. A file without
// records is removed instead. On error the file stays current.
func (l *Log) closeFile() error {
	if l.size == 0 {
		l.f.Close()
		os.Remove(l.path)
		l.f = nil
		return nil
	}
	if l.alloc > l.size || l.noAlloc {
		// Cut off the preallocated zeros (and whatever a failed
		// preallocation wrote): a closed file holds its records only.
		if err := l.f.Truncate(l.size); err != nil {
			return fmt.Errorf("audit: truncate %s: %w", l.path, err)
		}
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("audit: fsync %s: %w", l.path, err)
		}
		l.alloc = l.size
	}
	if err := l.sign(); err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		l.log.Warn("audit: close log file", "file", l.path, "err", err)
	}
	l.f = nil
	return nil
}

// sign writes the digest of the file at l.path, which holds records
// l.first through l.seq.
func (l *Log) sign() error {
	d := &Digest{
		Version: 1, File: filepath.Base(l.path), FileSHA256: hex.EncodeToString(l.sum.Sum(nil)), FileSize: l.size,
		Records: l.seq - l.first + 1, FirstSequence: l.first, LastSequence: l.seq, FirstPrevHash: l.firstPrv,
		LastHash: l.prev, PreviousDigest: l.prevSig, PublicKeySHA256: l.opt.Signer.Fingerprint(),
		SignedAt: EventTime(l.opt.Now()),
	}
	b, sig, err := encodeDigest(d, l.opt.Signer)
	if err != nil {
		return err
	}
	if err := writeFileSync(l.path+digestSuffix, b, 0o644); err != nil {
		return fmt.Errorf("audit: write digest of %s: %w", l.path, err)
	}
	l.prevSig = sig
	return nil
}

// fail records a failure and raises the alarm on the first of a run.
func (l *Log) fail(err error) error {
	l.failures.Add(1)
	l.lastErr.Store(&err)
	if !l.failing.Swap(true) {
		l.log.Error("ALARM: the audit log cannot be written; requests fail with KMSInternalException until it can", "err", err)
	}
	return err
}

func (l *Log) ok() {
	if l.failing.Swap(false) {
		l.log.Warn("audit log writable again; serving requests", "failed_batches", l.failures.Load())
	}
}

// Healthy returns nil while records are being written, and the last error
// while the log is failing.
func (l *Log) Healthy() error {
	if !l.failing.Load() {
		return nil
	}
	if p := l.lastErr.Load(); p != nil {
		return *p
	}
	return errors.New("audit: log failing")
}

// Stats are the log's counters, for metrics.
type Stats struct {
	Records  uint64        // records written
	Batches  uint64        // batches committed (fsyncs)
	Failures uint64        // failed batch writes and retries
	Failing  bool          // the last attempt failed
	Queued   int           // records waiting for a commit now
	SyncTime time.Duration // total time spent in fsync of batches
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{Records: l.records.Load(), Batches: l.batches.Load(), Failures: l.failures.Load(), Failing: l.failing.Load(),
		Queued: int(l.queued.Load()), SyncTime: time.Duration(l.syncNs.Load())}
}
