package api

import (
	"regexp"
	"sync"
	"testing"
)

// TestNewRequestID: ids are version 4 UUIDs, and ids drawn concurrently
// from the pooled generators do not repeat.
func TestNewRequestID(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	const workers, each = 8, 2000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], newRequestID())
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, l := range ids {
		for _, id := range l {
			if !uuid4.MatchString(id) {
				t.Fatalf("request id %q is not a version 4 UUID", id)
			}
			if seen[id] {
				t.Fatalf("request id %q drawn twice", id)
			}
			seen[id] = true
		}
	}
}
