package admission_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/admission"
	"github.com/haetae/haetae/internal/testnode"
)

// newFixedLimiter returns a limiter whose limit cannot move (min = max = limit), so that a test decides
// exactly when it is full.
func newFixedLimiter(tb testing.TB, limit int, adjust func(*admission.Config)) *admission.Limiter {
	tb.Helper()
	cfg := admission.DefaultConfig()
	cfg.MinLimit, cfg.MaxLimit, cfg.InitialLimit = limit, limit, limit
	for _, c := range admission.Classes {
		cfg.MaxWait[c] = time.Minute // tests end waits themselves
	}
	if adjust != nil {
		adjust(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	return admission.New(cfg)
}

// mustFill takes every slot of l and returns the tickets.
func mustFill(tb testing.TB, l *admission.Limiter, n int) []*admission.Ticket {
	tb.Helper()
	var ts []*admission.Ticket
	for i := 0; i < n; i++ {
		t, err := l.Acquire(context.Background(), admission.Critical)
		if err != nil {
			tb.Fatalf("slot %d: %v", i, err)
		}
		ts = append(ts, t)
	}
	return ts
}

// checkFor polls f until it returns nil or total passes.
func checkFor(tb testing.TB, total time.Duration, f func() error) {
	tb.Helper()
	testnode.CheckFor(tb, total, 2*time.Millisecond, f)
}

func queued(l *admission.Limiter, c admission.Class, want int) func() error {
	return func() error {
		if got := l.Stats().Queued[c]; got != want {
			return fmt.Errorf("%d %s waiting, want %d", got, c, want)
		}
		return nil
	}
}

func TestLimiterServesHighestClassFirst(t *testing.T) {
	l := newFixedLimiter(t, 1, nil)
	held := mustFill(t, l, 1)

	var mu sync.Mutex
	var order []admission.Class
	var wg sync.WaitGroup
	next := make(chan struct{})
	for _, c := range []admission.Class{admission.Sheddable, admission.Normal, admission.Critical} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk, err := l.Acquire(context.Background(), c)
			if err != nil {
				t.Errorf("%s: %v", c, err)
				return
			}
			mu.Lock()
			order = append(order, c)
			mu.Unlock()
			<-next
			tk.Done()
		}()
		checkFor(t, 5*time.Second, queued(l, c, 1)) // queue them in this order: lowest first
	}
	held[0].Done()
	for i := 0; i < 3; i++ {
		checkFor(t, 5*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(order) != i+1 {
				return fmt.Errorf("%d admitted, want %d", len(order), i+1)
			}
			return nil
		})
		next <- struct{}{}
	}
	wg.Wait()
	want := []admission.Class{admission.Critical, admission.Normal, admission.Sheddable}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("admitted in order %v, want %v", order, want)
	}
	if s := l.Stats(); s.Inflight != 0 {
		t.Fatalf("inflight %d after all done", s.Inflight)
	}
}

func TestLimiterShedsExpiredWorkBeforeItStarts(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1_000_000, 0).UnixNano())
	l := newFixedLimiter(t, 1, func(c *admission.Config) {
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
		c.MaxWait[admission.Sheddable] = time.Hour // the waiter's own timer never fires in this test
	})
	held := mustFill(t, l, 1)
	var started atomic.Bool
	errc := make(chan error, 1)
	go func() {
		tk, err := l.Acquire(context.Background(), admission.Sheddable)
		if err == nil {
			started.Store(true) // the work would start here
			tk.Done()
		}
		errc <- err
	}()
	checkFor(t, 5*time.Second, queued(l, admission.Sheddable, 1))
	now.Add(int64(2 * time.Hour)) // past the waiter's deadline
	held[0].Done()                // a slot frees: the dispatcher meets the expired waiter
	err := <-errc
	if haetae.ErrorCode(err) != haetae.EOverloaded {
		t.Fatalf("expired waiter: %v, want overloaded", err)
	}
	if started.Load() {
		t.Fatal("work that waited past its deadline was started")
	}
	if got := admission.RetryAfter(err); got != admission.DefaultConfig().RetryAfter[admission.Sheddable] {
		t.Fatalf("Retry-After %s", got)
	}
	if n := l.Stats().Shed[admission.Sheddable][admission.ReasonDeadline]; n != 1 {
		t.Fatalf("shed for deadline: %d, want 1", n)
	}
}

func TestLimiterDeadlineTimer(t *testing.T) {
	l := newFixedLimiter(t, 1, func(c *admission.Config) { c.MaxWait[admission.Normal] = 20 * time.Millisecond })
	held := mustFill(t, l, 1)
	defer held[0].Done()
	_, err := l.Acquire(context.Background(), admission.Normal)
	if haetae.ErrorCode(err) != haetae.EOverloaded {
		t.Fatalf("got %v, want overloaded after the class's wait", err)
	}
	s := l.Stats()
	if s.Queued[admission.Normal] != 0 || s.Shed[admission.Normal][admission.ReasonDeadline] != 1 {
		t.Fatalf("after the deadline: %+v", s)
	}
}

func TestLimiterQueueFull(t *testing.T) {
	l := newFixedLimiter(t, 1, func(c *admission.Config) { c.QueueMax[admission.Sheddable] = 1 })
	held := mustFill(t, l, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx, admission.Sheddable)
		done <- err
	}()
	checkFor(t, 5*time.Second, queued(l, admission.Sheddable, 1))
	_, err := l.Acquire(context.Background(), admission.Sheddable)
	if haetae.ErrorCode(err) != haetae.EOverloaded {
		t.Fatalf("second sheddable: %v, want overloaded", err)
	}
	if n := l.Stats().Shed[admission.Sheddable][admission.ReasonQueueFull]; n != 1 {
		t.Fatalf("shed for a full queue: %d", n)
	}
	cancel()
	if err := <-done; haetae.ErrorCode(err) != haetae.EOverloaded {
		t.Fatalf("cancelled waiter: %v", err)
	}
	checkFor(t, 5*time.Second, queued(l, admission.Sheddable, 0))
	held[0].Done()
}

func TestLimiterShedsOutrankedWorkAtOnce(t *testing.T) {
	l := newFixedLimiter(t, 1, nil)
	held := mustFill(t, l, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if tk, err := l.Acquire(ctx, admission.Critical); err == nil {
			tk.Done()
		}
	}()
	checkFor(t, 5*time.Second, queued(l, admission.Critical, 1))
	for _, c := range []admission.Class{admission.Normal, admission.Sheddable} {
		_, err := l.Acquire(context.Background(), c)
		if haetae.ErrorCode(err) != haetae.EOverloaded {
			t.Fatalf("%s behind a full limit of critical work: %v, want overloaded", c, err)
		}
		if n := l.Stats().Shed[c][admission.ReasonOutranked]; n != 1 {
			t.Fatalf("%s shed as outranked: %d", c, n)
		}
	}
	classes, perSecond := l.Shedding()
	if fmt.Sprint(classes) != "[sheddable normal]" || perSecond <= 0 {
		t.Fatalf("Shedding() = %v, %v", classes, perSecond)
	}
	cancel()
	wg.Wait()
	held[0].Done()
}

func TestLimiterExemptAndDisabled(t *testing.T) {
	l := newFixedLimiter(t, 1, nil)
	held := mustFill(t, l, 1)
	tk, err := l.Acquire(context.Background(), admission.Exempt)
	if err != nil {
		t.Fatalf("exempt work refused by a full limiter: %v", err)
	}
	tk.Done()
	held[0].Done()

	off := admission.New(admission.Config{Disabled: true})
	var ts []*admission.Ticket
	for i := 0; i < 1000; i++ {
		tk, err := off.Acquire(context.Background(), admission.Sheddable)
		if err != nil {
			t.Fatalf("disabled limiter refused work %d: %v", i, err)
		}
		ts = append(ts, tk)
	}
	if s := off.Stats(); s.Inflight != 1000 || s.Limit != 0 || !off.Disabled() {
		t.Fatalf("disabled: %+v", s)
	}
	for _, tk := range ts {
		tk.Done()
		tk.Done() // twice is harmless
	}
	if s := off.Stats(); s.Inflight != 0 {
		t.Fatalf("inflight %d", s.Inflight)
	}
	if classes, _ := off.Shedding(); len(classes) != 0 {
		t.Fatalf("a disabled limiter shed %v", classes)
	}
}

// TestLimiterAdapts runs work on a resource that does 4 things at once (2 ms each), first lightly, then
// from 300 workers: past 4 in flight, more only waits, so latency grows with concurrency as on a
// saturated node. The limit must come down towards what the resource does at once. Nothing is asserted
// about speed, only that the limit falls.
func TestLimiterAdapts(t *testing.T) {
	cfg := admission.DefaultConfig()
	cfg.MinLimit, cfg.InitialLimit, cfg.MaxLimit = 2, 64, 500
	l := admission.New(cfg)
	resource := make(chan struct{}, 4)
	work := func(ctx context.Context) {
		for ctx.Err() == nil {
			tk, err := l.Acquire(ctx, admission.Critical)
			if err != nil {
				time.Sleep(time.Millisecond)
				continue
			}
			resource <- struct{}{}
			time.Sleep(2 * time.Millisecond)
			<-resource
			tk.Done()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() { defer wg.Done(); work(ctx) }()
	}
	time.Sleep(2 * time.Second) // a baseline of unloaded latency, as before a surge
	for w := 0; w < 300; w++ {
		wg.Add(1)
		go func() { defer wg.Done(); work(ctx) }()
	}
	checkFor(t, 30*time.Second, func() error {
		if got := l.Stats().Limit; got > 20 {
			return fmt.Errorf("limit %d with 300 workers on a resource that does 4 things at once", got)
		}
		return nil
	})
}

func TestRetryAfterOfOtherErrors(t *testing.T) {
	if d := admission.RetryAfter(errors.New("x")); d != 0 {
		t.Fatalf("RetryAfter of a plain error: %s", d)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		adjust func(*admission.Config)
		ok     bool
	}{
		{"default", func(*admission.Config) {}, true},
		{"disabled_ignores_limits", func(c *admission.Config) { *c = admission.Config{Disabled: true} }, true},
		{"min_zero", func(c *admission.Config) { c.MinLimit = 0 }, false},
		{"max_below_min", func(c *admission.Config) { c.MaxLimit = c.MinLimit - 1 }, false},
		{"initial_above_max", func(c *admission.Config) { c.InitialLimit = c.MaxLimit + 1 }, false},
		{"negative_wait", func(c *admission.Config) { c.MaxWait[admission.Normal] = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := admission.DefaultConfig()
			tt.adjust(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
