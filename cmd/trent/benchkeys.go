package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/bench"
	ikms "github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/server"
)

// benchKeys runs `trent bench --keys N`:
//
//  1. It starts the server once if its store is new (to make the root key,
//     the default account and the bench's access key), stops it and fills
//     the store with N keys in the default account ([bench.Populate]).
//  2. It starts the server again and reports the time to ready and the
//     resident memory with N keys in the store, before any is used.
//  3. It pages through every key with ListKeys (1,000 per page) and
//     reports the time per page early and late in the list.
//  4. It alternates Encrypt with one key and Encrypt with a key chosen at
//     random from a working set that fits the key cache (after touching
//     each once), --rounds times; then, if N exceeds the cache, Encrypt
//     over all N keys (mostly cache misses: the cold rate).
//  5. It runs the --ops given explicitly (e.g. CreateKey) at this scale,
//     and reports the memory again, and its peak.
func benchKeys(ctx context.Context, ts *trentServer, f benchFlags, o bench.Options) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "trent bench:", err)
		return 1
	}
	cache := f.cacheSize
	if cache <= 0 {
		cache = ikms.DefaultKeyCacheSize
	}
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	o.Region = region
	if !initialized(ts) {
		if _, err := ts.start(); err != nil {
			return fail(err)
		}
		ts.stop()
	}
	t0 := time.Now()
	n, err := bench.Populate(ctx, bench.PopulateOptions{DataDir: ts.dir, DatabaseURL: ts.dbURL, AccountID: ikms.DefaultAccountID,
		Region: region, Keys: f.keys, Progress: os.Stderr})
	if err != nil {
		return fail(err)
	}
	if n > 0 {
		fmt.Printf("populate: created %d keys in %s (%.0f keys/s, commits grouped)\n", n, time.Since(t0).Round(time.Millisecond), float64(n)/time.Since(t0).Seconds())
	}
	ready, err := ts.start()
	if err != nil {
		return fail(err)
	}
	defer ts.stop()
	o.Endpoint, o.ServerPID = ts.endpoint, ts.pid()
	store := "embedded"
	if ts.dbURL != "" {
		store = "postgres"
	}
	fmt.Printf("start-up: ready in %s with %d keys (%s store; from exec to 200 on /readyz)\n", ready.Round(100*time.Microsecond), f.keys, store)
	printMemory(ts, "after start, no key used")

	ids, pages, err := bench.ListAllKeys(ctx, o)
	if err != nil {
		return fail(err)
	}
	fmt.Println(pages)
	if len(ids) == 0 {
		return fail(fmt.Errorf("ListKeys found no key"))
	}
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ws := f.ws
	if ws <= 0 {
		ws = min(len(ids), cache)
	}
	hot := ids[:min(ws, len(ids))]
	if err := touch(ctx, o, hot); err != nil {
		return fail(err)
	}

	one := o
	one.KeyID, one.Ops = ids[0], []string{"Encrypt"}
	one.Label = label(o.Label, "1 key")
	warm := o
	warm.KeyID, warm.KeyIDs, warm.Ops = ids[0], hot, []string{"EncryptRandom"}
	warm.Label = label(o.Label, fmt.Sprintf("hot %d of %d keys, cache %d", len(hot), len(ids), cache))
	var results []bench.Result
	for range max(f.rounds, 1) {
		for _, run := range []bench.Options{one, warm} {
			rs, err := bench.Run(ctx, run)
			results = append(results, rs...)
			for _, r := range rs {
				fmt.Println(r)
			}
			if err != nil {
				return fail(err)
			}
		}
	}
	if len(ids) > cache {
		cold := o
		cold.KeyID, cold.KeyIDs, cold.Ops = ids[0], ids, []string{"EncryptRandom"}
		cold.Label = label(o.Label, fmt.Sprintf("cold: all %d keys, cache %d", len(ids), cache))
		rs, err := bench.Run(ctx, cold)
		for _, r := range rs {
			fmt.Println(r)
		}
		if err != nil {
			return fail(err)
		}
	}
	summarize(results)
	if f.opsGiven {
		extra := o
		extra.KeyID = ids[0]
		if code := report(bench.Run(ctx, extra)); code != 0 {
			return code
		}
	}
	printMemory(ts, "after the runs")
	return 0
}

// initialized reports whether the server has started on this data
// directory (and store) before.
func initialized(ts *trentServer) bool {
	if _, err := os.Stat(filepath.Join(ts.dir, server.RootKeyFile)); err != nil {
		return false
	}
	if ts.dbURL != "" {
		return true
	}
	_, err := os.Stat(filepath.Join(ts.dir, server.DatabaseFile))
	return err == nil
}

func label(base, s string) string {
	if base == "" {
		return s
	}
	return base + " " + s
}

// touch encrypts once with each key, from o.Concurrency workers, so the
// hot runs start with the working set cached.
func touch(ctx context.Context, o bench.Options, ids []string) error {
	c, err := bench.NewClient(ctx, o)
	if err != nil {
		return err
	}
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(ids)) && ctx.Err() == nil; i = next.Add(1) - 1 {
				if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(ids[i]), Plaintext: []byte("warm")}); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("touch the working set: %w", first)
	}
	fmt.Printf("touched the working set: %d keys in %s (%.0f first uses/s: store read, unseal, cache)\n",
		len(ids), time.Since(t0).Round(time.Millisecond), float64(len(ids))/time.Since(t0).Seconds())
	return ctx.Err()
}

// summarize prints the hot rate as a ratio of the one-key rate, round by
// round (the runs alternate, so each pair saw the same machine load).
func summarize(rs []bench.Result) {
	for i := 0; i+1 < len(rs); i += 2 {
		one, hot := rs[i], rs[i+1]
		fmt.Printf("round %d: hot/one-key throughput %.2f, server CPU per request %.2f\n", i/2+1,
			hot.OpsPerSec()/one.OpsPerSec(), float64(hot.CPUPerRequest())/float64(max(one.CPUPerRequest(), 1)))
	}
}

// printMemory reports the server's resident memory, its peak, and from
// its metrics the Go heap in use and the keys in its cache. (The scrape
// also counts the keys by state for trent_keys, at most every 30 s.)
func printMemory(ts *trentServer, when string) {
	rss, peak, err := bench.Memory(ts.pid())
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent bench:", err)
		return
	}
	m, err := bench.Scrape(ts.admin+"/metrics", "go_memstats_heap_inuse_bytes", `trent_cache_entries{cache="keys"}`, "trent_http_connections_total")
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent bench:", err)
	}
	fmt.Printf("memory %s: RSS %.1f MiB, peak %.1f MiB; Go heap in use %.1f MiB; %.0f keys cached; %.0f connections accepted so far\n", when,
		float64(rss)/(1<<20), float64(peak)/(1<<20), m["go_memstats_heap_inuse_bytes"]/(1<<20), m[`trent_cache_entries{cache="keys"}`],
		m["trent_http_connections_total"])
}
