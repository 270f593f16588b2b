package admission_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/haetae/haetae/admission"
)

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	r := admission.NewRateLimiter(2, 3, 100, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if _, ok := r.Allow("alice"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	wait, ok := r.Allow("alice")
	if ok || wait != time.Second {
		t.Fatalf("over the burst: ok=%v wait=%s, want refused for 1s", ok, wait)
	}
	if _, ok := r.Allow("bob"); !ok {
		t.Fatal("another client was limited by alice's rate")
	}
	now = now.Add(500 * time.Millisecond) // one token back at 2/s
	if _, ok := r.Allow("alice"); !ok {
		t.Fatal("not allowed again after the refill")
	}
	if r.Limited() != 1 {
		t.Fatalf("limited %d, want 1", r.Limited())
	}
}

func TestRateLimiterBoundsKeys(t *testing.T) {
	now := time.Unix(1000, 0)
	r := admission.NewRateLimiter(1, 1, 50, func() time.Time { return now })
	for i := 0; i < 1000; i++ {
		r.Allow(fmt.Sprint("client-", i))
		if r.Keys() > 50 {
			t.Fatalf("%d keys remembered, bound 50", r.Keys())
		}
	}
}

func TestRateLimiterOff(t *testing.T) {
	r := admission.NewRateLimiter(0, 1, 1, nil)
	for i := 0; i < 100; i++ {
		if _, ok := r.Allow("x"); !ok {
			t.Fatal("a limiter with rate 0 refused")
		}
	}
	var none *admission.RateLimiter
	if _, ok := none.Allow("x"); !ok {
		t.Fatal("a nil limiter refused")
	}
}
