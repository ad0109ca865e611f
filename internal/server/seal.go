package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
)

// UnsealSocket is the Unix socket in the data directory on which a node
// whose root key file is protected by a passphrase or Shamir shares
// answers `trent operator unseal` and `trent operator status`. It has mode
// 0600 inside the data directory (0700), so only the user the server runs
// as, and root, can connect: the file system authenticates the caller, and
// the passphrase or shares never cross a network.
const UnsealSocket = "unseal.sock"

// Unseal rate limit: the first freeUnsealAttempts wrong attempts in a row
// cost nothing more than the Argon2id work; after that each wrong attempt
// locks unsealing for a time that doubles from firstUnsealLockout up to
// maxUnsealLockout. A right attempt resets the count. Attempts during a
// lockout are refused unheard.
const (
	freeUnsealAttempts = 3
	firstUnsealLockout = time.Second
	maxUnsealLockout   = 5 * time.Minute
)

// SealStatus is what the unseal socket reports.
type SealStatus struct {
	Sealed     bool   `json:"sealed"`
	Protection string `json:"protection"`          // "passphrase" or "shamir"
	Threshold  int    `json:"threshold,omitempty"` // shamir: shares needed
	Shares     int    `json:"shares,omitempty"`    // shamir: shares made
	Progress   int    `json:"progress"`            // shamir: distinct valid shares received so far
	ShareSet   string `json:"share_set,omitempty"`
}

// UnsealRequest carries one passphrase or one share. It is never logged.
type UnsealRequest struct {
	Passphrase string `json:"passphrase,omitempty"`
	Share      string `json:"share,omitempty"`
}

// unsealError is the body of a refused unseal request.
type unsealError struct {
	Error             string `json:"error"`
	RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`
}

// sealer holds a sealed node's state until its root key is unlocked.
type sealer struct {
	file     *keystore.RootFile
	check    []byte // recorded in the store; nil for a store without one
	database string
	now      func() time.Time
	srv      *Server

	mu          sync.Mutex
	shares      []*keystore.Share
	failures    int
	lockedUntil time.Time
	root        *keystore.FileRoot // set once unsealed
	unsealed    chan struct{}
}

// waitUnseal serves the unseal socket and waits until an operator unlocks
// the protected root key file at path, or ctx ends. check is the value the
// store recorded (nil if none): a key that does not match it is refused
// like a wrong passphrase.
func (s *Server) waitUnseal(ctx context.Context, path string, check []byte, database string) (*keystore.FileRoot, error) {
	f, err := keystore.ReadRootFile(path)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now
	if now == nil {
		now = time.Now
	}
	se := &sealer{file: f, check: check, database: database, now: now, srv: s, unsealed: make(chan struct{})}
	if err := s.serveControl(se); err != nil {
		return nil, err
	}
	s.sealed.Store(true)
	defer s.sealed.Store(false)
	p := f.Protection()
	sock := filepath.Join(s.cfg.DataDir, UnsealSocket)
	if p.Mode == keystore.ModeShamir {
		s.log.Warn("sealed: the root key is split into shares; waiting for `trent operator unseal`",
			"socket", sock, "threshold", p.Threshold, "shares", p.Shares)
	} else {
		s.log.Warn("sealed: the root key is protected by a passphrase; waiting for `trent operator unseal`", "socket", sock)
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("stopped while sealed: %w", ctx.Err())
	case <-se.unsealed:
		s.log.Info("unsealed", "protection", p.Mode)
		return se.root, nil
	}
}

// serveControl listens on the unseal socket. A socket file left by a
// node that is gone is replaced; one a running node answers on is not.
func (s *Server) serveControl(se *sealer) error {
	path := filepath.Join(s.cfg.DataDir, UnsealSocket)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if len(path) > 100 { // sun_path holds 104 bytes on BSDs, 108 on Linux
		return fmt.Errorf("unseal socket %s: the path is too long for a Unix socket; use a shorter data directory", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("unseal socket %s: a file that is not a socket is in the way", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("unseal socket %s: another Trent node is serving on it", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("unseal socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("unseal socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/seal-status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, se.status()) })
	mux.HandleFunc("POST /v1/unseal", se.serveUnseal)
	s.ctl = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	s.ctlLn = ln
	s.ctlPath = path
	go s.ctl.Serve(ln)
	return nil
}

// closeControl stops the unseal socket, if any, and removes it.
func (s *Server) closeControl() {
	if s.ctl != nil {
		s.ctl.Close()
		os.Remove(s.ctlPath)
	}
}

func (se *sealer) status() SealStatus {
	se.mu.Lock()
	defer se.mu.Unlock()
	p := se.file.Protection()
	return SealStatus{Sealed: se.root == nil, Protection: p.Mode, Threshold: p.Threshold, Shares: p.Shares,
		Progress: len(se.shares), ShareSet: p.ShareSet}
}

func (se *sealer) serveUnseal(w http.ResponseWriter, r *http.Request) {
	var req UnsealRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || (req.Passphrase == "") == (req.Share == "") {
		writeJSON(w, http.StatusBadRequest, unsealError{Error: "send one passphrase or one share"})
		return
	}
	status, err := se.attempt(req)
	var locked *lockedError
	switch {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", strconv.Itoa(locked.seconds()))
		writeJSON(w, http.StatusTooManyRequests, unsealError{Error: err.Error(), RetryAfterSeconds: locked.seconds()})
	case errors.Is(err, errAlreadyUnsealed):
		writeJSON(w, http.StatusConflict, unsealError{Error: err.Error()})
	case errors.Is(err, keystore.ErrWrongSecret):
		writeJSON(w, http.StatusForbidden, unsealError{Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadRequest, unsealError{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, status)
	}
}

var errAlreadyUnsealed = errors.New("the node is already unsealed")

type lockedError struct{ wait time.Duration }

func (e *lockedError) Error() string {
	return fmt.Sprintf("too many wrong unseal attempts; try again in %ds", e.seconds())
}

func (e *lockedError) seconds() int { return int((e.wait + time.Second - 1) / time.Second) }

// attempt applies one passphrase or share. Attempts are serialised, so
// Argon2id runs once at a time.
func (se *sealer) attempt(req UnsealRequest) (SealStatus, error) {
	se.mu.Lock()
	if se.root != nil {
		se.mu.Unlock()
		return SealStatus{}, errAlreadyUnsealed
	}
	if now := se.now(); now.Before(se.lockedUntil) {
		se.mu.Unlock()
		return SealStatus{}, &lockedError{wait: se.lockedUntil.Sub(now)}
	}
	err := se.try(req)
	log := se.srv.log
	switch {
	case errors.Is(err, keystore.ErrWrongSecret):
		se.failures++
		if se.failures >= freeUnsealAttempts {
			lock := min(firstUnsealLockout<<min(se.failures-freeUnsealAttempts, 16), maxUnsealLockout)
			se.lockedUntil = se.now().Add(lock)
		}
		log.Warn("unseal attempt refused", "reason", err.Error(), "failures", se.failures)
	case err != nil:
		log.Warn("unseal attempt refused", "reason", err.Error())
	default:
		se.failures = 0
	}
	se.mu.Unlock()
	if err != nil {
		return SealStatus{}, err
	}
	st := se.status()
	if !st.Sealed {
		close(se.unsealed)
	}
	return st, nil
}

// try unlocks with req; se.mu is held. It sets se.root on success.
func (se *sealer) try(req UnsealRequest) error {
	p := se.file.Protection()
	var key *keystore.RootKey
	switch {
	case p.Mode == keystore.ModePassphrase && req.Passphrase != "":
		var err error
		if key, err = se.file.Unlock([]byte(req.Passphrase)); err != nil {
			return err
		}
	case p.Mode == keystore.ModeShamir && req.Share != "":
		sh, err := keystore.ParseShare(req.Share)
		if err != nil {
			return fmt.Errorf("%w: %v", keystore.ErrWrongSecret, err)
		}
		if err := se.file.VerifyShare(sh); err != nil {
			return err
		}
		for _, have := range se.shares {
			if have.Number() == sh.Number() {
				return nil // already counted
			}
		}
		se.shares = append(se.shares, sh)
		if len(se.shares) < p.Threshold {
			return nil
		}
		key, err = se.file.Combine(se.shares)
		se.shares = nil
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("the root key is protected by %s; send that", p.Mode)
	}
	defer key.Destroy()
	root, err := key.Root()
	if err != nil {
		return err
	}
	if se.check != nil && subtle.ConstantTimeCompare(se.check, root.CheckValue()) != 1 {
		return fmt.Errorf("%w: it opens a root key, but not the one %s is sealed under", keystore.ErrWrongSecret, se.database)
	}
	se.root = root
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// UnsealClient talks to a node's unseal socket in a data directory.
type UnsealClient struct {
	http *http.Client
}

// NewUnsealClient returns a client for the unseal socket in dataDir.
func NewUnsealClient(dataDir string) *UnsealClient {
	path := filepath.Join(dataDir, UnsealSocket)
	return &UnsealClient{http: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Status returns the node's seal status. An error wrapping
// fs.ErrNotExist or a connection error means no sealed node serves there.
func (c *UnsealClient) Status(ctx context.Context) (SealStatus, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://trent/v1/seal-status", nil)
	return c.do(req)
}

// Unseal sends one passphrase or share. A refusal is an *UnsealRefusal.
func (c *UnsealClient) Unseal(ctx context.Context, u UnsealRequest) (SealStatus, error) {
	b, _ := json.Marshal(u)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://trent/v1/unseal", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return c.do(req)
}

// UnsealRefusal is a refused unseal request: Status is the HTTP status
// (403 wrong secret, 429 locked out, 409 already unsealed, 400 bad input).
type UnsealRefusal struct {
	Status     int
	Message    string
	RetryAfter time.Duration
}

func (e *UnsealRefusal) Error() string { return e.Message }

func (c *UnsealClient) do(req *http.Request) (SealStatus, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return SealStatus{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return SealStatus{}, err
	}
	if resp.StatusCode != http.StatusOK {
		var e unsealError
		json.Unmarshal(b, &e)
		return SealStatus{}, &UnsealRefusal{Status: resp.StatusCode, Message: e.Error, RetryAfter: time.Duration(e.RetryAfterSeconds) * time.Second}
	}
	var st SealStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return SealStatus{}, fmt.Errorf("unseal socket: %w", err)
	}
	return st, nil
}
