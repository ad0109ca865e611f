package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kms"
)

type testKey struct{}

// wait fails unless ch closes within five seconds.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Done not closed", what)
	}
}

func TestLazyDeadlineExpires(t *testing.T) {
	var c lazyDeadline
	parent := context.WithValue(context.Background(), testKey{}, "v")
	before := time.Now()
	c.init(parent, 20*time.Millisecond)
	defer c.release()
	if d, ok := c.Deadline(); !ok || d.Before(before.Add(20*time.Millisecond)) || d.After(time.Now().Add(20*time.Millisecond)) {
		t.Fatalf("Deadline %v %v", d, ok)
	}
	if c.Value(testKey{}) != "v" || c.armed.Load() != nil {
		t.Fatal("Value did not answer from the parent without arming")
	}
	wait(t, c.Done(), "deadline")
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err %v", c.Err())
	}
	if c.Value(testKey{}) != "v" {
		t.Fatal("Value lost once armed")
	}
}

func TestLazyDeadlineParentDeadlineFirst(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var c lazyDeadline
	c.init(parent, time.Hour)
	defer c.release()
	pd, _ := parent.Deadline()
	if d, _ := c.Deadline(); !d.Equal(pd) {
		t.Fatalf("Deadline %v, want the parent's %v", d, pd)
	}
}

func TestLazyDeadlineParentCanceled(t *testing.T) {
	for _, armFirst := range []bool{false, true} {
		parent, cancel := context.WithCancelCause(context.Background())
		var c lazyDeadline
		c.init(parent, time.Hour)
		if armFirst {
			c.Done()
		}
		// A context derived below it is canceled with it, and finds its
		// cause.
		child, stop := context.WithCancel(&c)
		cause := errors.New("client went away")
		cancel(cause)
		wait(t, c.Done(), "parent canceled")
		wait(t, child.Done(), "child")
		if !errors.Is(c.Err(), context.Canceled) || context.Cause(child) != cause {
			t.Fatalf("Err %v, child's cause %v", c.Err(), context.Cause(child))
		}
		stop()
		c.release()
	}
}

func TestLazyDeadlineRelease(t *testing.T) {
	for _, armFirst := range []bool{false, true} {
		var c lazyDeadline
		c.init(context.Background(), time.Hour)
		if armFirst {
			c.Err()
		}
		c.release()
		// Asked after release, it is canceled (a call that outlived the
		// request sees it ended).
		wait(t, c.Done(), "released")
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("Err %v", c.Err())
		}
		c.release() // twice is harmless, as for a CancelFunc
	}
}

func TestLazyDeadlineAfterFunc(t *testing.T) {
	var c lazyDeadline
	c.init(context.Background(), time.Hour)
	ran := make(chan struct{})
	context.AfterFunc(&c, func() { close(ran) })
	c.release()
	wait(t, ran, "AfterFunc")
}

// TestRequestCtx checks that the exchange's contexts answer kms's request
// id and the session lookup's key, pass other keys to the parent, and let
// a context derived below them be canceled with the parent.
func TestRequestCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), testKey{}, "v"))
	rc := &requestCtx{Context: parent, id: "req-1"}
	sc := &sessionCtx{token: "t"}
	sv := &sessionValueCtx{Context: rc, sc: sc}
	if kms.RequestID(sv) != "req-1" || sv.Value(sessionCtxKey{}) != sc || sv.Value(testKey{}) != "v" {
		t.Fatalf("values: %q %v %v", kms.RequestID(sv), sv.Value(sessionCtxKey{}), sv.Value(testKey{}))
	}
	if kms.RequestID(parent) != "" || parent.Value(sessionCtxKey{}) != nil {
		t.Fatal("the parent answers the exchange's keys")
	}
	child, stop := context.WithCancel(sv)
	defer stop()
	cancel()
	wait(t, child.Done(), "child")
}
