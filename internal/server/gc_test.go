package server

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name                 string
		live, roots, minHeap uint64
		base, want           int
	}{
		// 64 MiB floor, 2 MiB live: live*(1+p/100) would be 64 MiB at
		// p=3100, but the runtime's minimum heap (4 MiB*p/100) would then
		// be 124 MiB, so p stops at 1600 (minimum heap 64 MiB).
		{"small-heap/bounded-by-runtime-minimum", 2 * mib, 0, 64 * mib, 100, 1600},
		{"medium-heap", 16 * mib, 0, 64 * mib, 100, 300},
		// The goal counts stacks and globals at GOGC too: 8 MiB live and
		// 48 MiB of goroutine stacks give 8 + 56*p/100 = 64, p = 100.
		{"many-goroutines/roots-counted", 8 * mib, 48 * mib, 64 * mib, 50, 100},
		{"many-goroutines/at-base", 8 * mib, 100 * mib, 64 * mib, 100, 100},
		{"half-the-floor/at-base", 32 * mib, 0, 64 * mib, 100, 100},
		{"large-heap/at-base", 500 * mib, 0, 64 * mib, 100, 100},
		{"never-below-base", 16 * mib, 0, 64 * mib, 400, 400},
		{"before-first-collection", 0, 0, 64 * mib, 100, 1600},
		{"huge-floor/base", 1 * mib, 0, 1 << 60, 100, 100},
		// The runtime multiplies heap and roots by GOGC: 2^62/floor.
		{"large-floor/product-in-range", 1, 0, 1 << 48, 100, 1 << 14},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := gcPercentFor(c.live, c.roots, c.minHeap, c.base); got != c.want {
				t.Errorf("gcPercentFor(%d, %d, %d, %d) = %d, want %d", c.live, c.roots, c.minHeap, c.base, got, c.want)
			}
		})
	}
}

// gcPercent reads GOGC without changing it (debug.SetGCPercent would
// race with the floor's own adjustments).
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// TestGCFloor: the floor raises GOGC at start and after collections while
// the live heap is small, follows a live heap that grows past half the
// floor back down to the process's GOGC, and stop restores that GOGC.
func TestGCFloor(t *testing.T) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		t.Setenv("GOGC", v) // restored after the test
		os.Unsetenv("GOGC")
	}
	base := gcPercent()
	if base <= 0 {
		t.Skip("GOGC=off in this process")
	}
	stop := StartGCFloor(1<<40, nil) // a floor no test heap reaches
	t.Cleanup(func() { stop() })
	if got := gcPercent(); got <= base {
		t.Fatalf("GOGC = %d after start, want above %d", got, base)
	}

	// A floor well above what this test process holds live, then a
	// live heap as large as the floor: after a collection the cleanup
	// sets GOGC back to base.
	runtime.GC()
	stop()
	if got := gcPercent(); got != base {
		t.Fatalf("GOGC = %d after stop, want %d", got, base)
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(s)
	held := s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64()
	floor := max(uint64(32<<20), 8*held)
	stop = StartGCFloor(int64(floor), nil)
	if got := gcPercent(); got <= base {
		t.Fatalf("GOGC = %d after start with %d bytes held and a %d-byte floor, want above %d", got, held, floor, base)
	}
	live := make([][]byte, floor>>20)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() != base {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d with the floor's size live, want %d", gcPercent(), base)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the cleanup runs on its own goroutine
	}
	runtime.KeepAlive(live)

	// Once the heap is small again, the next collections raise it again.
	live = nil
	for gcPercent() == base {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC stayed %d after the live heap was dropped", base)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if got := gcPercent(); got != base {
		t.Fatalf("GOGC = %d after stop, want %d", got, base)
	}
}

// TestGCFloorOff: gc_min_heap 0 or a GOGC in the environment leave GOGC
// alone.
func TestGCFloorOff(t *testing.T) {
	base := gcPercent()
	stop := StartGCFloor(0, nil)
	if got := gcPercent(); got != base {
		t.Errorf("gc_min_heap 0: GOGC = %d, want %d", got, base)
	}
	stop()
	t.Setenv("GOGC", "100")
	stop = StartGCFloor(64<<20, nil)
	if got := gcPercent(); got != base {
		t.Errorf("GOGC set: GOGC = %d, want %d", got, base)
	}
	stop()
}
