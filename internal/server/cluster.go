package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
)

// background runs a node's goroutines that live as long as its store:
// the change listener and the periodic jobs. stop ends them and waits.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

func (b *background) goRun(fn func(ctx context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
}

func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}

// listenChanges keeps the node's caches in step with the changes every
// node commits to a shared store (store.Notifier): each change drops the
// cached state it touches in the KMS and IAM services, within moments of
// its commit; when announcements may have been lost, everything cached is
// dropped. A store that is not shared has nothing to listen to.
func (s *Server) listenChanges(db store.Store, svc *kms.Service, ids *iam.Service) {
	n, ok := db.(store.Notifier)
	if !ok {
		return
	}
	log := s.log
	s.bg.goRun(func(ctx context.Context) {
		lost := false
		n.Listen(ctx, func(c store.Change) {
			svc.Invalidate(c)
			ids.Invalidate(c)
		}, func(up bool) {
			switch {
			case !up && !lost:
				lost = true
				log.Warn("lost the database connection that carries other nodes' changes; reconnecting " +
					"(cached keys are trusted for cache_ttl at most meanwhile)")
			case up && lost:
				lost = false
				log.Info("listening for other nodes' changes again; dropped every cached key and policy")
			}
		})
	})
}

// every runs job every interval until the node stops, on one node at a
// time across the nodes that share the store (store.RunOnce: an advisory
// lock in PostgreSQL, so that a node that crashes mid-job frees it). Jobs
// must be idempotent: a node that lost its connection mid-job may still be
// finishing when another starts. Failures are logged with the job's name;
// the next tick tries again. Background work added later (automatic key
// rotation, expiry of imported material) should run through it.
func (s *Server) every(name string, interval time.Duration, job func(ctx context.Context) error) {
	s.bg.goRun(func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			ran, err := store.RunOnce(ctx, s.raw, name, job)
			if err != nil && ctx.Err() == nil {
				s.log.Error("background job failed", "job", name, "err", err)
			} else if !ran {
				s.log.Debug("background job skipped: another node runs it", "job", name)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// databaseReachable reports whether the store answers, for /readyz. A
// store without a separate database always does.
func (s *Server) databaseReachable(ctx context.Context) bool {
	p, ok := s.raw.(store.Pinger)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, readyzPingTimeout)
	defer cancel()
	err := p.Ping(ctx)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "readyz: the database does not answer", slog.Any("err", err))
	}
	return err == nil
}

// readyzPingTimeout bounds the database check of one /readyz request, so a
// load balancer's health check gets its answer before its own timeout.
const readyzPingTimeout = 2 * time.Second
