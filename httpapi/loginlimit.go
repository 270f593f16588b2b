package httpapi

import (
	"sync"
	"time"
)

// loginLimiter slows password guessing: after maxFails wrong passwords for one name within window,
// logins for that name are refused (429) until the window has passed. It is per node and in memory: an
// attacker spreading guesses over the nodes gets the limit once per node, which still bounds the rate.
type loginLimiter struct {
	mu       sync.Mutex
	maxFails int
	window   time.Duration
	maxNames int
	now      func() time.Time
	m        map[string]*loginFails
}

type loginFails struct {
	n     int
	since time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{maxFails: 10, window: 5 * time.Minute, maxNames: 100000, now: time.Now, m: map[string]*loginFails{}}
}

// blocked reports whether name may not try now, and for how long.
func (l *loginLimiter) blocked(name string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[name]
	if f == nil {
		return 0, false
	}
	left := f.since.Add(l.window).Sub(l.now())
	if left <= 0 {
		delete(l.m, name)
		return 0, false
	}
	return left, f.n >= l.maxFails
}

// failed records a wrong password for name.
func (l *loginLimiter) failed(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.m[name]
	if f == nil || now.Sub(f.since) > l.window {
		if len(l.m) >= l.maxNames {
			for k, v := range l.m { // drop expired entries, or an arbitrary one if none has expired
				if now.Sub(v.since) > l.window || len(l.m) >= l.maxNames {
					delete(l.m, k)
				}
				if len(l.m) < l.maxNames*9/10 {
					break
				}
			}
		}
		f = &loginFails{since: now}
		l.m[name] = f
	}
	f.n++
}

// succeeded forgets the failures of name.
func (l *loginLimiter) succeeded(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, name)
}
