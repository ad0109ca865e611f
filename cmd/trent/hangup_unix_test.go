//go:build unix

package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestReloadOnHangup checks that SIGHUP triggers a reload, once per
// signal, while the handler is installed.
func TestReloadOnHangup(t *testing.T) {
	reloads := make(chan struct{}, 4)
	stop := reloadOnHangup(func() { reloads <- struct{}{} })
	defer stop()
	for i := range 2 {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case <-reloads:
		case <-time.After(30 * time.Second): // a guard against hanging, not a timing assertion
			t.Fatalf("SIGHUP %d did not trigger a reload", i+1)
		}
	}
}
