package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lazyDeadline is context.WithDeadline(parent, d) that arms its timer only
// when something first asks for Done, Err or an AfterFunc. A request
// served from the key cache never does (the store, policy evaluation and
// the audit writer do not wait on the context), and
// context.WithTimeout's timer, set and stopped on every request, cost
// about a microsecond and four allocations of each. Until then Deadline
// and Value answer without it, and once armed every method is the real
// context's.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	armed  atomic.Pointer[armedDeadline]
	closed bool // release was called before arming
}

type armedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// init sets the context up; it must not be used after release.
func (c *lazyDeadline) init(parent context.Context, timeout time.Duration) {
	c.parent, c.deadline = parent, time.Now().Add(timeout)
}

// arm returns the real context, building it on the first call.
func (c *lazyDeadline) arm() *armedDeadline {
	if a := c.armed.Load(); a != nil {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.armed.Load(); a != nil {
		return a
	}
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
	if c.closed {
		cancel()
	}
	a := &armedDeadline{ctx: ctx, cancel: cancel}
	c.armed.Store(a)
	return a
}

// release is the CancelFunc. An armed context is canceled; an unarmed one
// has no one waiting on it, and is canceled as soon as something arms it.
func (c *lazyDeadline) release() {
	c.mu.Lock()
	c.closed = true
	a := c.armed.Load()
	c.mu.Unlock()
	if a != nil {
		a.cancel()
	}
}

func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if a := c.armed.Load(); a != nil {
		return a.ctx.Deadline()
	}
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *lazyDeadline) Done() <-chan struct{} { return c.arm().ctx.Done() }
func (c *lazyDeadline) Err() error            { return c.arm().ctx.Err() }

// Value answers from the parent until the context is armed, then from the
// real context, so that context.WithCancel and context.Cause below an
// armed context find its cancelCtx (parentCancelCtx calls Done first).
func (c *lazyDeadline) Value(key any) any {
	if a := c.armed.Load(); a != nil {
		return a.ctx.Value(key)
	}
	return c.parent.Value(key)
}

// AfterFunc lets context.WithCancel and friends below this context
// propagate cancellation without a goroutine (context's afterFuncer).
func (c *lazyDeadline) AfterFunc(f func()) func() bool {
	return context.AfterFunc(c.arm().ctx, f)
}
