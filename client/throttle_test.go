package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
)

// sheddingServer answers every request with 503 overloaded while shedding is true, and with an empty
// room list otherwise; hits counts the requests that reached it.
func sheddingServer(tb testing.TB, shedding *atomic.Bool, hits *atomic.Int64) string {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if shedding.Load() {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"overloaded","message":"shedding load"}}`)
			return
		}
		io.WriteString(w, `{"rooms":[]}`)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// TestThrottleBacksOff makes calls to a node that sheds everything: the client must stop sending most of
// them itself (the SRE book's adaptive throttle), and send again once the node accepts.
func TestThrottleBacksOff(t *testing.T) {
	var shedding atomic.Bool
	var hits atomic.Int64
	shedding.Store(true)
	url := sheddingServer(t, &shedding, &hits)
	// A window of 2 s rather than a minute, so that the recovery is seen within the test.
	c := newClient(t, []string{url}, client.WithDiscovery(false), client.WithRetryBudget(0), client.WithRetryRatio(-1, 0),
		client.WithThrottle(client.DefaultThrottleK, 2*time.Second))
	const calls = 200
	for i := 0; i < calls; i++ {
		_, err := c.Rooms(context.Background())
		if haetae.ErrorCode(err) != haetae.EOverloaded {
			t.Fatalf("call %d: %v, want overloaded", i, err)
		}
	}
	if n := hits.Load(); n > calls/2 {
		t.Fatalf("%d of %d calls reached a node that refused all of them; the throttle should hold most back", n, calls)
	}
	shedding.Store(false)
	// Once the refusals age out of the window and accepts are at least half the requests in it (k = 2),
	// nothing is held back.
	run := 0
	deadline := time.Now().Add(30 * time.Second)
	for run < 50 && time.Now().Before(deadline) {
		if _, err := c.Rooms(context.Background()); err == nil {
			run++
		} else {
			run = 0
			time.Sleep(time.Millisecond)
		}
	}
	if run < 50 {
		t.Fatal("the throttle still held calls back 30 s after the node recovered")
	}
}

// TestRetryBudget makes calls to a node that sheds everything, with the throttle off: retries must stay
// within the reserve plus the ratio of first attempts.
func TestRetryBudget(t *testing.T) {
	var shedding atomic.Bool
	var hits atomic.Int64
	shedding.Store(true)
	url := sheddingServer(t, &shedding, &hits)
	const ratio, reserve, calls = 0.1, 3, 40
	c := newClient(t, []string{url}, client.WithDiscovery(false), client.WithThrottle(0, 0),
		client.WithRetryRatio(ratio, reserve), client.WithRetryBudget(5*time.Second))
	for i := 0; i < calls; i++ {
		if _, err := c.Rooms(context.Background()); haetae.ErrorCode(err) != haetae.EOverloaded {
			t.Fatalf("call %d: %v, want overloaded", i, err)
		}
	}
	// Every call that ran within ten seconds of the others shares the budget.
	if max := int64(calls + reserve + ratio*calls + 1); hits.Load() > max {
		t.Fatalf("%d requests for %d calls: retries beyond the budget (at most %d requests)", hits.Load(), calls, max)
	}
	if hits.Load() <= calls {
		t.Fatal("no call was retried at all: the reserve should allow a few")
	}
}
