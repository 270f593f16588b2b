package admission

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/haetae/haetae"
)

// Config shapes a [Limiter]. Arrays are indexed by [Class]: Sheddable, Normal, Critical.
type Config struct {
	// Disabled admits everything at once: no limit, no queue, nothing shed. It exists to compare the same
	// run with the limiter off (haetae serve --no-limiter); a node without it can be driven out of memory.
	Disabled bool
	// MinLimit, MaxLimit and InitialLimit bound the adaptive limit on work in flight. The limit moves
	// between them with the measured latency of the admitted work.
	MinLimit, MaxLimit, InitialLimit int
	// MaxWait is how long work of each class may wait for a slot. Work still waiting then is shed
	// without being started.
	MaxWait [numClasses]time.Duration
	// QueueMax bounds how much work of each class may wait at once; more is shed at once.
	QueueMax [numClasses]int
	// RetryAfter is what a shed client of each class is asked to wait before it tries again.
	RetryAfter [numClasses]time.Duration
	// Now is the clock of deadlines and rates; nil is time.Now.
	Now func() time.Time
}

// DefaultConfig is what `haetae serve` runs with.
func DefaultConfig() Config {
	return Config{
		MinLimit:     16,
		MaxLimit:     1024,
		InitialLimit: 64,
		MaxWait:      [numClasses]time.Duration{Sheddable: 100 * time.Millisecond, Normal: time.Second, Critical: 3 * time.Second},
		QueueMax:     [numClasses]int{Sheddable: 256, Normal: 512, Critical: 2048},
		RetryAfter:   [numClasses]time.Duration{Sheddable: 5 * time.Second, Normal: 2 * time.Second, Critical: time.Second},
	}
}

// Validate says what is wrong with a configuration, in the words of its flags.
func (c Config) Validate() error {
	if c.Disabled {
		return nil
	}
	switch {
	case c.MinLimit < 1:
		return fmt.Errorf("limit-min must be at least 1, not %d", c.MinLimit)
	case c.MaxLimit < c.MinLimit:
		return fmt.Errorf("limit-max (%d) must be at least limit-min (%d)", c.MaxLimit, c.MinLimit)
	case c.InitialLimit < c.MinLimit || c.InitialLimit > c.MaxLimit:
		return fmt.Errorf("the initial limit (%d) must be between limit-min and limit-max", c.InitialLimit)
	}
	for _, cl := range Classes {
		if c.MaxWait[cl] < 0 || c.QueueMax[cl] < 0 || c.RetryAfter[cl] < 0 {
			return fmt.Errorf("%s: queue wait, queue size and retry-after may not be negative", cl)
		}
	}
	return nil
}

// Shed reasons, the reason label of the shed metric.
const (
	// ReasonQueueFull: the class's queue was full when the work arrived.
	ReasonQueueFull = "queue_full"
	// ReasonOutranked: more higher-class work than the limit was already waiting.
	ReasonOutranked = "outranked"
	// ReasonDeadline: the work waited its class's whole MaxWait without a slot.
	ReasonDeadline = "deadline"
	// ReasonAbandoned: the work's client gave up (its context ended) while it waited.
	ReasonAbandoned = "abandoned"
)

// Limiter admits work up to an adaptive concurrency limit and queues the rest by class. The limit is
// failsafe-go's adaptive limiter: it compares the recent latency of admitted work with its baseline and
// lowers the limit when latency climbs with concurrency (a gradient limit), raising it while latency
// stays flat. The queues are this package's: failsafe-go's own queue is first come, first served, and
// here a waiting send must go before a waiting typing notice. A freed slot goes to the oldest waiter of
// the highest class whose deadline has not passed; a waiter whose deadline passed is shed then, without
// being started. It is safe for concurrent use.
type Limiter struct {
	cfg Config
	lim adaptivelimiter.AdaptiveLimiter[any]

	mu     sync.Mutex
	queues [numClasses]list.List // of *waiter, oldest first

	admitted [numClasses]atomic.Int64
	shed     [numClasses]map[string]*atomic.Int64 // by reason; the maps are fixed at New
	inflight atomic.Int64
	window   *rateWindow
}

type waiter struct {
	class    Class
	deadline time.Time
	ready    chan grant // buffered 1: the dispatcher never blocks on it
	elem     *list.Element
}

type grant struct {
	permit adaptivelimiter.Permit
	err    error
}

// New returns a limiter configured by cfg (see [Config.Validate]).
func New(cfg Config) *Limiter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{cfg: cfg, window: newRateWindow(10, cfg.Now)}
	for _, c := range Classes {
		l.shed[c] = map[string]*atomic.Int64{ReasonQueueFull: {}, ReasonOutranked: {}, ReasonDeadline: {}, ReasonAbandoned: {}}
	}
	if !cfg.Disabled {
		l.lim = adaptivelimiter.NewBuilder[any]().
			WithLimits(uint(cfg.MinLimit), uint(cfg.MaxLimit), uint(cfg.InitialLimit)).
			// Windows of a tenth of a second (of at least 50 samples): the limit moves by about
			// log10(limit) a window, so the default one-second windows would take half a minute to
			// halve it, longer than a surge takes to fill every queue. The baseline latency remembers
			// 100 windows (about 10 s under load): with the default 10 it drifted up to the latency of
			// an overload within a second, and the limit stopped falling (measured in TestLimiterAdapts).
			WithRecentWindow(100*time.Millisecond, 5*time.Second, 50).
			WithBaselineWindow(100).
			Build()
	}
	return l
}

// Ticket is admitted work. Done must be called once when the work is over; it frees the slot for the
// highest waiting class and feeds the work's duration to the adaptive limit.
type Ticket struct {
	l      *Limiter
	permit adaptivelimiter.Permit
	once   sync.Once
}

// Done ends the work.
func (t *Ticket) Done() {
	if t == nil || t.l == nil {
		return
	}
	t.once.Do(func() {
		t.l.inflight.Add(-1)
		if t.permit != nil {
			t.permit.Record()
			t.l.dispatch()
		}
	})
}

// exempt is the ticket of work that is never limited.
var exempt = &Ticket{}

// Acquire admits work of class c, waiting for a slot if need be: at most the class's MaxWait, and not
// past ctx. It returns an overloaded error (503) when the work is shed, carrying the Retry-After the
// client should honour (see [RetryAfter]); the work must then not be started. Exempt work is always
// admitted at once.
func (l *Limiter) Acquire(ctx context.Context, c Class) (*Ticket, error) {
	return l.AcquireWithin(ctx, c, -1)
}

// AcquireWithin is [Limiter.Acquire] with a shorter wait when the work's client will not wait the class's
// whole MaxWait: wait < 0 means no bound of the caller's. Work that could not start within it is shed
// unstarted, for it would be done for nobody.
func (l *Limiter) AcquireWithin(ctx context.Context, c Class, wait time.Duration) (*Ticket, error) {
	if c == Exempt || c < 0 || c > Exempt {
		return exempt, nil
	}
	if l.lim == nil {
		l.admit(c)
		return &Ticket{l: l}, nil
	}
	l.mu.Lock()
	if !l.waitingFrom(c) {
		if p, ok := l.lim.TryAcquirePermit(); ok {
			l.mu.Unlock()
			l.admit(c)
			return &Ticket{l: l, permit: p}, nil
		}
	}
	maxWait := l.cfg.MaxWait[c]
	if wait >= 0 {
		maxWait = min(maxWait, wait)
	}
	if reason := l.refuse(c, maxWait); reason != "" {
		l.mu.Unlock()
		return nil, l.shedErr(c, reason).err
	}
	w := &waiter{class: c, deadline: l.cfg.Now().Add(maxWait), ready: make(chan grant, 1)}
	w.elem = l.queues[c].PushBack(w)
	l.mu.Unlock()

	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	var g grant
	select {
	case g = <-w.ready:
	case <-timer.C:
		g = l.abandon(w, l.shedErr(c, ReasonDeadline))
	case <-ctx.Done():
		g = l.abandon(w, l.shedErr(c, ReasonAbandoned))
	}
	if g.err != nil {
		return nil, g.err
	}
	if err := ctx.Err(); err != nil {
		// The slot came as the request ended: give it to the next waiter rather than start dead work.
		g.permit.Drop()
		l.dispatch()
		l.count(c, ReasonAbandoned)
		return nil, l.shedErr(c, ReasonAbandoned).err
	}
	l.admit(c)
	return &Ticket{l: l, permit: g.permit}, nil
}

// abandon takes w out of its queue unless the dispatcher got to it first, in which case its grant is
// what the dispatcher sent: a slot, which is then used, or its own deadline.
func (l *Limiter) abandon(w *waiter, err error) grant {
	l.mu.Lock()
	if w.elem != nil {
		l.queues[w.class].Remove(w.elem)
		w.elem = nil
		l.mu.Unlock()
		if e, ok := err.(*shedError); ok {
			l.count(w.class, e.reason)
			return grant{err: e.err}
		}
		return grant{err: err} // not reached: every caller passes a shedding
	}
	l.mu.Unlock()
	return <-w.ready
}

// waitingFrom reports whether work of class c or higher is waiting; a newcomer must not overtake it.
// Called with mu held.
func (l *Limiter) waitingFrom(c Class) bool {
	for k := c; k < numClasses; k++ {
		if l.queues[k].Len() > 0 {
			return true
		}
	}
	return false
}

// refuse says why work of class c that found no free slot is not even queued ("" to queue it): its
// queue is full or it may not wait at all, or more higher-class work than the whole limit is waiting, so
// it could not be served before that is. Called with mu held.
func (l *Limiter) refuse(c Class, maxWait time.Duration) string {
	if l.queues[c].Len() >= l.cfg.QueueMax[c] || maxWait <= 0 {
		return ReasonQueueFull
	}
	above := 0
	for k := c + 1; k < numClasses; k++ {
		above += l.queues[k].Len()
	}
	if above > 0 && above >= l.lim.Limit() {
		return ReasonOutranked
	}
	return ""
}

// dispatch hands free slots to waiters, the highest class first and the oldest first within a class,
// shedding every waiter it meets whose deadline has passed.
func (l *Limiter) dispatch() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	for {
		var w *waiter
		for k := numClasses - 1; k >= 0 && w == nil; k-- {
			if e := l.queues[k].Front(); e != nil {
				w = e.Value.(*waiter)
			}
		}
		if w == nil {
			return
		}
		if now.After(w.deadline) {
			l.queues[w.class].Remove(w.elem)
			w.elem = nil
			l.count(w.class, ReasonDeadline)
			w.ready <- grant{err: l.shedErr(w.class, ReasonDeadline).err}
			continue
		}
		p, ok := l.lim.TryAcquirePermit()
		if !ok {
			return
		}
		l.queues[w.class].Remove(w.elem)
		w.elem = nil
		w.ready <- grant{permit: p}
	}
}

func (l *Limiter) admit(c Class) {
	l.admitted[c].Add(1)
	l.inflight.Add(1)
}

func (l *Limiter) count(c Class, reason string) {
	l.shed[c][reason].Add(1)
	l.window.add(c, 1)
}

// shedError carries the reason of a shedding to [Limiter.abandon], which counts it once.
type shedError struct {
	reason string
	err    error
}

func (e *shedError) Error() string { return e.err.Error() }

// shedErr returns the error for shed work; for reasons other than a deadline or an abandoned wait (which
// are counted where the waiter leaves its queue) it also counts it.
func (l *Limiter) shedErr(c Class, reason string) *shedError {
	if reason != ReasonDeadline && reason != ReasonAbandoned {
		l.count(c, reason)
	}
	err := &haetae.Error{Code: haetae.EOverloaded, Op: "admit " + c.String(),
		Message: fmt.Sprintf("this node is shedding %s work; retry after %s, here or on another node", c, l.cfg.RetryAfter[c]),
		Err:     &retryHint{l.cfg.RetryAfter[c]}}
	return &shedError{reason: reason, err: err}
}

// retryHint rides in the chain of a shed request's error to say how long its client should wait.
type retryHint struct{ d time.Duration }

func (h *retryHint) Error() string { return "retry after " + h.d.String() }

// RetryAfter returns how long the client of shed work should wait before retrying, from an error of
// [Limiter.Acquire]; 0 if err is not a shedding.
func RetryAfter(err error) time.Duration {
	var h *retryHint
	if errors.As(err, &h) {
		return h.d
	}
	return 0
}

// Stats is a snapshot of a limiter, for metrics and the status page.
type Stats struct {
	// Limit is the current adaptive limit on work in flight (0 when disabled); Inflight the work
	// admitted and not done.
	Limit    int
	Inflight int
	// By class: waiting now, admitted and shed since start (shed by reason).
	Queued   [numClasses]int
	Admitted [numClasses]int64
	Shed     [numClasses]map[string]int64
}

// Stats returns the limiter's current figures.
func (l *Limiter) Stats() Stats {
	var s Stats
	if l.lim != nil {
		s.Limit = l.lim.Limit()
	}
	s.Inflight = int(l.inflight.Load())
	l.mu.Lock()
	for _, c := range Classes {
		s.Queued[c] = l.queues[c].Len()
	}
	l.mu.Unlock()
	for _, c := range Classes {
		s.Admitted[c] = l.admitted[c].Load()
		s.Shed[c] = map[string]int64{}
		for r, n := range l.shed[c] {
			s.Shed[c][r] = n.Load()
		}
	}
	return s
}

// Shedding reports the classes this node shed work of in the last 10 seconds, the lowest first, and how
// much work it shed per second over them: what the status page's load-shedding detector opens and
// resolves its incident on. No class means the node is not shedding.
func (l *Limiter) Shedding() (classes []string, perSecond float64) {
	per, total := l.window.rates()
	for _, c := range []Class{Sheddable, Normal, Critical} {
		if per[c] > 0 {
			classes = append(classes, c.String())
		}
	}
	return classes, total
}

// Disabled reports whether the limiter admits everything.
func (l *Limiter) Disabled() bool { return l.lim == nil }
