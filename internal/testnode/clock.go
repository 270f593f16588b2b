package testnode

import (
	"sync"
	"time"
)

// Clock is a clock that tests move by hand, for nodes whose billing, expiry or review deadlines
// depend on time: set it as node.Config.Store.Now. It starts at a fixed instant and never moves by
// itself.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
