package httpapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// redeemLimiter bounds each merchant's redemption attempts with a token bucket (golang.org/x/time/rate):
// rate per second on average, burst at once. Like the login limiter it is per node and in memory: a
// merchant spreading attempts over the three nodes gets the rate once per node, which still bounds it.
// With 80-bit codes the limit is not what keeps codes from being guessed; it keeps one merchant's
// runaway till or script from taking a node's capacity.
type redeemLimiter struct {
	mu       sync.Mutex
	rate     rate.Limit
	burst    int
	maxNames int
	now      func() time.Time
	m        map[string]*rate.Limiter
}

func newRedeemLimiter(perSecond float64, burst int) *redeemLimiter {
	if perSecond <= 0 {
		perSecond = DefaultRedeemRate
	}
	if burst <= 0 {
		burst = max(1, int(2*perSecond))
	}
	return &redeemLimiter{rate: rate.Limit(perSecond), burst: burst, maxNames: 100000, now: time.Now, m: map[string]*rate.Limiter{}}
}

// DefaultRedeemRate is the redemption attempts per second a merchant may make on one node by default;
// the burst is twice that.
const DefaultRedeemRate = 20

// allow takes one attempt of name's budget, or says how long until it may try.
func (l *redeemLimiter) allow(name string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim := l.m[name]
	if lim == nil {
		if len(l.m) >= l.maxNames {
			// Forget merchants whose bucket has refilled: they lose nothing by it.
			for k, v := range l.m {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.m, k)
				}
			}
			if len(l.m) >= l.maxNames {
				clear(l.m)
			}
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[name] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}
