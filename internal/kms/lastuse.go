package kms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Key last usage (GetKeyLastUsage) is kept without a store write per
// request: each successful cryptographic operation records its time,
// operation and request id in the key's usageCell in memory (a mutex and
// three stores, no allocation), and [Service.FlushKeyUsage], which the
// server runs periodically and at shutdown, writes every cell that moved
// into its key, keeping the later of the stored and the recorded use. Nodes
// that share a store therefore merge by time: the newest use wins.

// usageCell is the last use of one key on this node. It outlives the
// cachedKey snapshots of the key, so evicting or reloading a key loses
// nothing. A cell whose use has been flushed and that saw no use since is
// dropped by the next flush (dead), so the cells in memory are those of
// keys used within about one flush interval; a request that finds its
// key's cell dead takes a new one.
type usageCell struct {
	mu      sync.Mutex
	at      int64 // unix nanoseconds; 0: no use recorded
	op      string
	reqID   string
	flushed int64 // at when last written to the store
	dead    bool  // dropped from Service.usage; record in a new cell
}

// usageCell returns the live cell of ref, creating it if there is none.
func (s *Service) usageCell(ref store.KeyRef) *usageCell {
	if c, ok := s.usage.Load(ref); ok {
		return c.(*usageCell)
	}
	c, _ := s.usage.LoadOrStore(ref, &usageCell{})
	return c.(*usageCell)
}

// used records a successful cryptographic operation op (an AWS operation
// name, a constant) on ck for the caller's request. Once the key's cell
// exists it does not allocate.
func (s *Service) used(ck *cachedKey, op string, c *Caller) {
	now := s.now().UnixNano()
	u := ck.usage.Load()
	for {
		if u == nil {
			u = s.usageCell(ck.meta.Ref())
			ck.usage.Store(u)
		}
		u.mu.Lock()
		if !u.dead {
			break
		}
		u.mu.Unlock()
		u = nil
	}
	if now >= u.at {
		u.at, u.op, u.reqID = now, op, c.RequestID
	}
	u.mu.Unlock()
}

// snapshot returns the cell's last use, if any.
func (u *usageCell) snapshot() (store.KeyUsage, int64, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.at == 0 {
		return store.KeyUsage{}, 0, false
	}
	return store.KeyUsage{Time: time.Unix(0, u.at).UTC(), Operation: u.op, RequestID: u.reqID}, u.at, true
}

// later returns the later of two uses (nil counts as never).
func later(a *store.KeyUsage, b store.KeyUsage) bool {
	return a == nil || b.Time.After(a.Time)
}

// FlushKeyUsage writes the last use recorded on this node of every key
// that was used since the last flush into the key's stored document,
// keeping the stored use if it is later (another node's). It returns how
// many keys it wrote. A key deleted meanwhile is skipped and forgotten.
//
// The uses are written usageBatch keys per transaction
// ([store.RecordKeyUsage]), so a node that used a hundred thousand keys
// in a minute commits a few hundred times, not a hundred thousand, and on
// PostgreSQL the write evicts no node's cached key.
func (s *Service) FlushKeyUsage(ctx context.Context) (int, error) {
	type pending struct {
		cell *usageCell
		at   int64
	}
	var (
		batch []store.KeyUsageRecord
		cells []pending
		n     int
		errs  []error
	)
	flush := func() bool {
		written, missing, err := store.RecordKeyUsage(ctx, s.store, batch)
		n += written
		if err != nil {
			errs = append(errs, fmt.Errorf("flush usage of %d keys: %w", len(batch), err))
			batch, cells = batch[:0], cells[:0]
			return ctx.Err() == nil
		}
		for _, ref := range missing {
			s.usage.Delete(ref)
		}
		for _, p := range cells {
			p.cell.mu.Lock()
			p.cell.flushed = p.at
			p.cell.mu.Unlock()
		}
		batch, cells = batch[:0], cells[:0]
		return true
	}
	ok := true
	s.usage.Range(func(key, value any) bool {
		ref, u := key.(store.KeyRef), value.(*usageCell)
		u.mu.Lock()
		if u.at == u.flushed {
			// Idle since the last flush: drop the cell. A request that
			// still holds it sees dead and records in a new one.
			u.dead = true
			s.usage.CompareAndDelete(ref, u)
			u.mu.Unlock()
			return true
		}
		at := u.at
		batch = append(batch, store.KeyUsageRecord{Ref: ref, Usage: store.KeyUsage{Time: time.Unix(0, at).UTC(), Operation: u.op, RequestID: u.reqID}})
		cells = append(cells, pending{u, at})
		u.mu.Unlock()
		if len(batch) == usageBatch {
			ok = flush()
		}
		return ok
	})
	if ok && len(batch) > 0 {
		flush()
	}
	return n, errors.Join(errs...)
}

// usageBatch is how many keys' last use FlushKeyUsage writes per
// transaction: enough to make the commit's fsync negligible, few enough
// that the embedded store's writer is not held for long.
const usageBatch = 500

// RunUsageFlusher calls FlushKeyUsage every interval until ctx is done,
// then once more (with a context of its own, bounded to ten seconds) so
// that what was recorded before shutdown is kept.
func (s *Service) RunUsageFlusher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if _, err := s.FlushKeyUsage(fctx); err != nil {
				s.log.Error("flush key usage at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
		}
		if _, err := s.FlushKeyUsage(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("flush key usage", "err", err)
		}
	}
}

// metaTrackingStart is the store meta entry that holds, as RFC 3339 text,
// when the store began tracking key usage.
const metaTrackingStart = "key_usage_tracking_start"

// StartUsageTracking reads from the store when it began tracking key
// usage, saving the current time there the first time: GetKeyLastUsage's
// TrackingStartDate for keys created before. The server calls it once at
// start, before it serves or seeds keys; without it TrackingStartDate is
// the key's creation date.
func (s *Service) StartUsageTracking(ctx context.Context) error {
	b, err := s.store.GetMeta(ctx, metaTrackingStart)
	if errors.Is(err, store.ErrNotFound) {
		b = []byte(s.now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano))
		err = s.store.PutMeta(ctx, metaTrackingStart, b)
	}
	if err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return fmt.Errorf("parse %s: %w", metaTrackingStart, err)
	}
	s.trackingStart.Store(&t)
	return nil
}

// GetKeyLastUsage returns the key's last successful cryptographic
// operation: the later of the use stored by any node's flush and the one
// recorded on this node since. TrackingStartDate is the key's creation
// date, or when the store began tracking usage if that is later (the
// model: "The date from which KMS began recording cryptographic activity
// for this key, or the date the KMS key was created, whichever is
// later"). Trent has no CloudTrail, so CloudTrailEventId is omitted;
// KmsRequestId is the x-amzn-RequestId of the request.
func (s *Service) GetKeyLastUsage(ctx context.Context, c *Caller, in *wire.GetKeyLastUsageRequest) (*wire.GetKeyLastUsageResponse, error) {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opGetKeyLastUsage, nil)
	if err != nil {
		return nil, err
	}
	k, err := s.store.GetKey(ctx, ck.meta.Ref())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errKeyNotFound(ck.arn)
	}
	if err != nil {
		return nil, err
	}
	last := k.LastUsage
	if c, ok := s.usage.Load(k.Ref()); ok {
		if use, _, ok := c.(*usageCell).snapshot(); ok && later(last, use) {
			last = &use
		}
	}
	start := k.CreationDate
	if ts := s.trackingStart.Load(); ts != nil && ts.After(start) {
		start = *ts
	}
	out := &wire.GetKeyLastUsageResponse{
		KeyId:             wire.Ptr(ck.arn),
		TrackingStartDate: wire.NewTimestamp(start),
		KeyCreationDate:   wire.NewTimestamp(k.CreationDate),
	}
	if last != nil {
		out.KeyLastUsage = &wire.KeyLastUsageData{
			Operation: wire.Ptr(last.Operation),
			Timestamp: wire.NewTimestamp(last.Time),
		}
		if last.RequestID != "" {
			out.KeyLastUsage.KmsRequestId = wire.Ptr(last.RequestID)
		}
	}
	return out, nil
}
