package admission

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter holds each client to its own rate with a token bucket per key (golang.org/x/time/rate): a
// hash of the bearer token on authenticated routes, the address on the others. A client over its rate
// is told 429 with how long to wait; the node's own overload is the [Limiter]'s business, not this. The
// keys it remembers are bounded, so that a flood of new keys costs at most that much memory: when full
// it forgets the keys whose buckets are full again (idle clients), or else an arbitrary tenth.
type RateLimiter struct {
	perSecond float64
	burst     int
	maxKeys   int
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter

	limited atomic.Int64
}

// NewRateLimiter allows each key perSecond requests on average and burst at once, remembering at most
// maxKeys keys. perSecond <= 0 turns it off. now nil is time.Now.
func NewRateLimiter(perSecond float64, burst, maxKeys int, now func() time.Time) *RateLimiter {
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{perSecond: perSecond, burst: max(burst, 1), maxKeys: max(maxKeys, 1), now: now, buckets: map[string]*rate.Limiter{}}
}

// Allow takes one request of key from its bucket. When the bucket is empty it returns false and how long
// until the next request would be allowed, rounded up to whole seconds (at least one) for Retry-After.
func (r *RateLimiter) Allow(key string) (time.Duration, bool) {
	if r == nil || r.perSecond <= 0 {
		return 0, true
	}
	now := r.now()
	r.mu.Lock()
	b := r.buckets[key]
	if b == nil {
		if len(r.buckets) >= r.maxKeys {
			r.evict(now)
		}
		b = rate.NewLimiter(rate.Limit(r.perSecond), r.burst)
		r.buckets[key] = b
	}
	r.mu.Unlock()
	if b.AllowN(now, 1) {
		return 0, true
	}
	r.limited.Add(1)
	secs := math.Ceil((1 - b.TokensAt(now)) / r.perSecond)
	return time.Duration(max(secs, 1)) * time.Second, false
}

// evict forgets idle keys, or an arbitrary tenth if none is idle. Called with mu held.
func (r *RateLimiter) evict(now time.Time) {
	for k, b := range r.buckets {
		if b.TokensAt(now) >= float64(r.burst) {
			delete(r.buckets, k)
		}
	}
	for k := range r.buckets {
		if len(r.buckets) < r.maxKeys*9/10 {
			break
		}
		delete(r.buckets, k)
	}
}

// Limited counts the requests refused since start.
func (r *RateLimiter) Limited() int64 {
	if r == nil {
		return 0
	}
	return r.limited.Load()
}

// Keys is how many clients the limiter remembers now.
func (r *RateLimiter) Keys() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}
