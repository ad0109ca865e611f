package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
)

// AuditDirName is the audit directory's name in the data directory, the
// default of [Config.AuditDir].
const AuditDirName = "audit"

// openAudit opens the audit log: in the audit directory with the signing
// key sealed in the store, or, for a --dev server, with a throwaway key and
// no file at all (stdout only, when audit_stdout is set).
func (s *Server) openAudit(ctx context.Context, db store.Store, root keystore.Root) error {
	cfg := s.cfg
	if cfg.AuditDisabled {
		s.log.Warn("audit_disabled is set: requests are answered without an audit record; for benchmarking and testing only")
		return nil
	}
	if cfg.AuditDir == "" && !cfg.Dev {
		cfg.AuditDir = filepath.Join(cfg.DataDir, AuditDirName)
	}
	opt := audit.Options{Dir: cfg.AuditDir, FailOpen: cfg.AuditFailOpen, Logger: s.log,
		MaxFileSize: cfg.AuditMaxFileSize, MaxFileAge: cfg.AuditRotateInterval}
	if cfg.AuditStdout {
		opt.Stdout = os.Stdout
	}
	var err error
	if cfg.Dev {
		opt.Signer, err = audit.GenerateSigner(rand.Reader)
	} else {
		opt.Signer, err = audit.LoadSigner(ctx, db, root, rand.Reader, func(err error) bool { return errors.Is(err, store.ErrNotFound) })
	}
	if err != nil {
		return err
	}
	s.audit, err = audit.Open(opt)
	if err != nil {
		return fmt.Errorf("open the audit log: %w", err)
	}
	if cfg.AuditFailOpen {
		s.log.Warn("audit_fail_open is set: requests succeed even when their audit record cannot be written; for test environments only")
	}
	if cfg.AuditDir != "" {
		s.log.Info("audit log", "dir", cfg.AuditDir, "signing_key_fingerprint", opt.Signer.Fingerprint())
	}
	return nil
}

// Audit returns the node's audit log (for metrics: [audit.Log.Stats]).
func (s *Server) Audit() *audit.Log { return s.audit }

// auditNotReady returns why the audit log keeps the node from being
// ready, or "" when it does not.
func (s *Server) auditNotReady() string {
	if s.audit == nil || s.cfg.AuditFailOpen {
		return ""
	}
	if err := s.audit.Healthy(); err != nil {
		return "not ready: the audit log cannot be written\n"
	}
	return ""
}
