package client

import (
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivethrottler"
)

// Defaults of the client's self-restraint under overload; see [WithThrottle] and [WithRetryRatio].
const (
	// DefaultThrottleK is K of the adaptive throttle: the client sends freely while its server accepts
	// at least one request in K.
	DefaultThrottleK = 2
	// DefaultThrottleWindow is how far back the throttle counts requests and accepts.
	DefaultThrottleWindow = time.Minute
	// ThrottleMinRequests is how many requests of one operation to one endpoint the window must hold
	// before the throttle refuses any: the SRE book's rule is meant for a client's stream of requests,
	// and on a handful it would refuse a lone call's retries (after two 503s it already holds back two
	// in three), starving a call that the node would take a second later.
	ThrottleMinRequests = 10
	// DefaultRetryRatio is the share of retries among the requests of one operation: at most one retry
	// for every ten first attempts in the last ten seconds, beyond the reserve.
	DefaultRetryRatio = 0.1
	// DefaultRetryReserve is how many retries an operation may make in any ten seconds whatever the
	// ratio, so that a single call can still fail over and ride out an election.
	DefaultRetryReserve = 10
)

// WithThrottle sets the adaptive client-side throttle of the Google SRE book ("Handling Overload"): per
// endpoint and operation, the client counts over the last window the requests it made and those the
// server accepted (answered with anything but 503 or 429), and refuses a new attempt itself, without
// sending it, with probability max(0, (requests − k·accepts) / (requests + 1)), at most 0.9, once the
// window holds [ThrottleMinRequests] requests. A server
// that sheds most of a client's requests thus sees that client back off to about k times what it
// accepts, and a surge of retries never reaches it. k <= 0 turns the throttle off.
func WithThrottle(k float64, window time.Duration) Option {
	return func(c *Client) {
		c.throttleK = k
		if window > 0 {
			c.throttleWindow = window
		}
	}
}

// WithRetryRatio sets the retry budget of each operation: retries may be at most ratio of its first
// attempts over the last ten seconds, plus reserve retries in any ten seconds. A call whose retry the
// budget refuses ends with its last error instead of retrying, so that retries cannot multiply a surge.
// A negative ratio turns the budget off.
func WithRetryRatio(ratio float64, reserve int) Option {
	return func(c *Client) {
		c.retryRatio = ratio
		c.retryReserve = max(reserve, 0)
	}
}

// guards holds the throttles and retry budgets of a client, made on first use.
type guards struct {
	mu        sync.Mutex
	throttles map[string]adaptivethrottler.AdaptiveThrottler[any] // by endpoint and operation
	budgets   map[string]*retryBudget                             // by operation
}

// throttle returns the throttle of op on endpoint base, nil when throttling is off.
func (c *Client) throttle(base, op string) adaptivethrottler.AdaptiveThrottler[any] {
	if c.throttleK <= 0 {
		return nil
	}
	g := &c.guards
	g.mu.Lock()
	defer g.mu.Unlock()
	key := base + " " + op
	t := g.throttles[key]
	if t == nil {
		if g.throttles == nil {
			g.throttles = map[string]adaptivethrottler.AdaptiveThrottler[any]{}
		}
		// failsafe-go computes max(0, requests − accepts/s) / (requests + 1) with s its success-rate
		// threshold: s = 1/k is the SRE book's rule.
		t = adaptivethrottler.NewBuilder[any]().
			WithFailureRateThreshold(1-1/max(c.throttleK, 1), ThrottleMinRequests, c.throttleWindow).
			WithMaxRejectionRate(0.9).
			Build()
		g.throttles[key] = t
	}
	return t
}

// retryBudget returns the retry budget of op, nil when the budget is off.
func (c *Client) retryBudget(op string) *retryBudget {
	if c.retryRatio < 0 {
		return nil
	}
	g := &c.guards
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.budgets[op]
	if b == nil {
		if g.budgets == nil {
			g.budgets = map[string]*retryBudget{}
		}
		b = &retryBudget{ratio: c.retryRatio, reserve: c.retryReserve, now: time.Now}
		g.budgets[op] = b
	}
	return b
}

// retryBudgetSeconds is the window of a retry budget, in one-second buckets.
const retryBudgetSeconds = 10

// retryBudget bounds retries to a share of first attempts over the last ten seconds, plus a reserve (as
// Finagle's RetryBudget does). failsafe-go has a retry budget too, but it only plugs into its own
// retry executor, and the client's retry loop — round-robin over endpoints with Retry-After — is its own.
type retryBudget struct {
	mu      sync.Mutex
	ratio   float64
	reserve int
	now     func() time.Time
	buckets [retryBudgetSeconds]struct {
		sec             int64
		firsts, retries int
	}
}

// first records a first attempt.
func (b *retryBudget) first() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bucket().firsts++
}

// retry takes a retry from the budget, reporting false when none is left.
func (b *retryBudget) retry() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.bucket()
	sec := b.now().Unix()
	firsts, retries := 0, 0
	for _, k := range b.buckets {
		if k.sec > sec-retryBudgetSeconds {
			firsts += k.firsts
			retries += k.retries
		}
	}
	if float64(retries) >= float64(b.reserve)+b.ratio*float64(firsts) {
		return false
	}
	cur.retries++
	return true
}

// bucket is the current second's counts, cleared when it is a new second. Called with mu held.
func (b *retryBudget) bucket() *struct {
	sec             int64
	firsts, retries int
} {
	sec := b.now().Unix()
	k := &b.buckets[sec%retryBudgetSeconds]
	if k.sec != sec {
		k.sec, k.firsts, k.retries = sec, 0, 0
	}
	return k
}
