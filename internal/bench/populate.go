package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/store/postgres"
	"github.com/trent-kms/trent/internal/wire"
)

// PopulateOptions says which store to fill and with how many keys.
type PopulateOptions struct {
	// DataDir is the data directory of a server that has started once
	// (so it holds root.key and, for the embedded store, trent.db).
	DataDir string
	// DatabaseURL, when set, is the PostgreSQL store the server uses
	// instead of the embedded one.
	DatabaseURL string
	AccountID   string // the account the keys belong to
	Region      string
	// Keys is how many keys the account should have in the region when
	// Populate returns; keys already there count.
	Keys int
	// Concurrency is how many CreateKey calls run at once; their store
	// writes are committed together (see Populate). 0 means 256.
	Concurrency int
	// Progress, when set, receives a line per tenth of the keys created.
	Progress io.Writer
}

// bulkCreator is the bulk insert of the embedded and PostgreSQL stores.
type bulkCreator interface {
	CreateKeys(ctx context.Context, keys []store.Key) error
}

// Populate fills a server's store, while the server is stopped, with
// SYMMETRIC_DEFAULT keys until the account has o.Keys keys in the region.
// It returns how many it created.
//
// Each key is made by the server's own code: kms.Service.CreateKey, in
// this process, over the server's store and root key, so it has fresh
// material sealed under the root key, the default key policy and the
// same document a CreateKey request writes. Only the commits are grouped:
// the store writes of up to Concurrency concurrent CreateKey calls go to
// the store in one transaction (one fsync), where a server commits each
// key on its own. That makes a million keys minutes of work instead of
// hours of fsyncs, and changes nothing the server later reads. The key
// quota is not applied while populating.
func Populate(ctx context.Context, o PopulateOptions) (int, error) {
	root, err := keystore.LoadFileRoot(filepath.Join(o.DataDir, server.RootKeyFile))
	if err != nil {
		return 0, fmt.Errorf("populate: %w", err)
	}
	var st store.Store
	if o.DatabaseURL != "" {
		st, err = postgres.Open(ctx, o.DatabaseURL)
	} else {
		st, err = embedded.Open(filepath.Join(o.DataDir, server.DatabaseFile))
	}
	if err != nil {
		return 0, fmt.Errorf("populate: %w", err)
	}
	defer st.Close()
	check, err := st.GetMeta(ctx, server.RootCheckMeta)
	if err != nil {
		return 0, fmt.Errorf("populate: read the root key check value (start the server once first): %w", err)
	}
	if !bytes.Equal(check, root.CheckValue()) {
		return 0, errors.New("populate: the root key does not belong to this store")
	}
	bulk, ok := st.(bulkCreator)
	if !ok {
		return 0, fmt.Errorf("populate: store %T has no bulk insert", st)
	}
	have, err := st.CountKeys(ctx, o.Region, o.AccountID)
	if err != nil {
		return 0, fmt.Errorf("populate: %w", err)
	}
	need := o.Keys - have
	if need <= 0 {
		return 0, nil
	}
	b := newBatcher(st, bulk)
	defer b.stop()
	svc, err := kms.New(kms.Config{Store: b, Root: root, Rand: rand.Reader, Regions: []string{o.Region}, Quotas: &kms.Quotas{}})
	if err != nil {
		return 0, err
	}
	arn := "arn:" + kms.Partition(o.Region) + ":iam::" + o.AccountID + ":root"
	caller := &kms.Caller{AccountID: o.AccountID, Principal: arn, Region: o.Region,
		Identity: policy.Principal{Type: policy.PrincipalAccount, ARN: arn, Account: o.AccountID}}
	conc := o.Concurrency
	if conc <= 0 {
		conc = 256
	}
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		errOnce    sync.Once
		firstErr   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	step := int64(max(need/10, 1))
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && next.Add(1) <= int64(need) {
				if _, err := svc.CreateKey(ctx, caller, &wire.CreateKeyRequest{Description: wire.Ptr("trent bench")}); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				if n := done.Add(1); o.Progress != nil && n%step == 0 {
					fmt.Fprintf(o.Progress, "populate: %d of %d keys (%.0f keys/s)\n", n, need, float64(n)/time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return int(done.Load()), fmt.Errorf("populate: %w", firstErr)
	}
	return int(done.Load()), ctx.Err()
}

// batcher is a store whose CreateKey waits for a group commit: a loop
// takes every pending key (up to maxBatch) and writes them in one
// CreateKeys transaction, then answers each caller with its outcome.
type batcher struct {
	store.Store
	bulk bulkCreator
	reqs chan batchReq
	quit chan struct{}
	wg   sync.WaitGroup
}

type batchReq struct {
	k    store.Key
	done chan error
}

const maxBatch = 1000

func newBatcher(st store.Store, bulk bulkCreator) *batcher {
	b := &batcher{Store: st, bulk: bulk, reqs: make(chan batchReq), quit: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

func (b *batcher) CreateKey(ctx context.Context, k store.Key) error {
	r := batchReq{k: k, done: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done
}

func (b *batcher) loop() {
	defer b.wg.Done()
	for {
		var batch []batchReq
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.quit:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		keys := make([]store.Key, len(batch))
		for i, r := range batch {
			keys[i] = r.k
		}
		err := b.bulk.CreateKeys(context.Background(), keys)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (b *batcher) stop() {
	close(b.quit)
	b.wg.Wait()
}
