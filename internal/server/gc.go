package server

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// DefaultGCMinHeap is gc_min_heap's default: the heap may grow to 64 MiB
// before the collector runs (see gcFloor).
const DefaultGCMinHeap = 64 << 20

// defaultHeapMinimum is the Go runtime's own minimum heap goal at GOGC=100
// (4 MiB, runtime/mgcpacer.go); the runtime scales it with GOGC.
const defaultHeapMinimum = 4 << 20

// gcFloor keeps the garbage collector from running while the heap is far
// smaller than minHeap. With Go's default GOGC=100 the next collection
// starts when the heap is twice what the last one found live. A node's
// live heap is a few MiB (more with a full key cache), so at thousands of
// requests a second it would collect many times a second and mark the
// same live heap each time: about 6 µs of CPU per Encrypt on the
// project's benchmark machine, a tenth of the request (docs/performance.md,
// "The collector's floor"). After every collection gcFloor raises GOGC so
// that the next goal is minHeap, and leaves it at the configured GOGC
// (never below) once the goal at that GOGC (the live heap plus GOGC
// percent of the live heap, stacks and globals) reaches minHeap anyway, so
// a large heap is collected exactly as without it. GOMEMLIMIT still caps
// the heap: the runtime collects at the limit whatever GOGC says.
type gcFloor struct {
	minHeap uint64
	base    int // the GOGC the process started with
	stopped atomic.Bool
	mu      sync.Mutex // serialises adjust with stop
	sample  []metrics.Sample
	percent int // GOGC as last set
}

// gcSentinel is allocated to be collected: its cleanup runs after each
// collection. It holds a pointer so the tiny allocator, which batches
// small pointer-free objects, never holds it.
type gcSentinel struct{ _ *int }

// StartGCFloor starts raising GOGC while the heap is below minHeap bytes
// (see gcFloor) and returns a function that stops it and restores GOGC.
// It does nothing, and says why at debug level, when minHeap is 0 or the
// environment sets GOGC (the operator's choice wins).
func StartGCFloor(minHeap int64, log *slog.Logger) (stop func()) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if minHeap <= 0 {
		log.Debug("gc_min_heap is 0: the collector runs at GOGC")
		return func() {}
	}
	if v, ok := os.LookupEnv("GOGC"); ok {
		log.Debug("GOGC is set: gc_min_heap is not applied", "GOGC", v)
		return func() {}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 {
		return func() {}
	}
	g := &gcFloor{minHeap: uint64(minHeap), base: base, percent: base,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}}
	g.adjust()
	g.arm()
	return g.stop
}

// arm allocates a sentinel whose cleanup adjusts GOGC and arms the next.
func (g *gcFloor) arm() {
	runtime.AddCleanup(new(gcSentinel), func(g *gcFloor) {
		if !g.stopped.Load() {
			g.adjust()
			g.arm()
		}
	}, g)
}

// adjust sets GOGC for the live heap the last collection found.
func (g *gcFloor) adjust() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped.Load() {
		return
	}
	metrics.Read(g.sample)
	var v [3]uint64 // live heap, scannable stacks, scannable globals
	for i, s := range g.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	p := gcPercentFor(v[0], v[1]+v[2], g.minHeap, g.base)
	if p != g.percent {
		debug.SetGCPercent(p)
		g.percent = p
	}
}

// gcPercentFor returns the GOGC that puts the next heap goal at minHeap for
// a live heap of live bytes and roots (scannable stacks and globals) of
// roots bytes, and never less than base. The runtime's goal is the larger
// of live + (live+roots)*GOGC/100 and its minimum heap, 4 MiB*GOGC/100
// (runtime/mgcpacer.go), so GOGC is also bounded to keep that minimum at
// or below minHeap. Many goroutines (many client connections) make roots
// large and GOGC small: the floor never raises the goal past minHeap.
func gcPercentFor(live, roots, minHeap uint64, base int) int {
	if live >= minHeap {
		return base
	}
	work := max(live+roots, 1)
	if minHeap > 1<<50 || work > 1<<50 {
		return base // beyond any real heap; also keeps the products below in range
	}
	p := (minHeap - live) * 100 / work
	if m := minHeap * 100 / defaultHeapMinimum; p > m {
		p = m
	}
	// The runtime multiplies the next cycle's heap and roots by GOGC;
	// keep that product in range for any heap up to the floor.
	if m := uint64(1<<62) / minHeap; p > m {
		p = m
	}
	if p > math.MaxInt32 { // debug.SetGCPercent takes an int32
		p = math.MaxInt32
	}
	if p <= uint64(base) {
		return base
	}
	return int(p)
}

// stop restores the GOGC the process started with.
func (g *gcFloor) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(g.base)
}
