package httpapi_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae/admission"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/node"
)

// TestShedsByClassWithRetryAfter fills a node's limit by holding its slots directly, then checks what
// each class of request gets: sheddable and normal work is shed at once with 503 overloaded and the
// class's Retry-After, probes and metrics are still answered, and everything is served again once the
// slots are free.
func TestShedsByClassWithRetryAfter(t *testing.T) {
	cfg := testnode.Config(t)
	cfg.Admission.MinLimit, cfg.Admission.InitialLimit, cfg.Admission.MaxLimit = 2, 2, 2
	for _, c := range admission.Classes {
		cfg.Admission.MaxWait[c] = 0 // nothing waits: a full limiter sheds at once
	}
	n := testnode.MustStart(t, cfg)
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	rm := mustRoom(t, base, alice)
	m := mustSend(t, base, alice, rm.ID, "before", "hi")

	var held []*admission.Ticket
	for range 2 {
		tk, err := n.API.Admission.Acquire(context.Background(), admission.Critical)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, tk)
	}
	for _, tt := range []struct {
		method, path string
		body         any
		retryAfter   time.Duration
	}{
		{"POST", "/v1/rooms/" + rm.ID + "/read", map[string]uint64{"seq": m.Seq}, cfg.Admission.RetryAfter[admission.Sheddable]},
		{"GET", "/v1/rooms", nil, cfg.Admission.RetryAfter[admission.Normal]},
		{"POST", "/v1/rooms/" + rm.ID + "/messages", map[string]string{"client_id": "during", "text": "hi"}, cfg.Admission.RetryAfter[admission.Critical]},
	} {
		var r *testnode.Response
		if tt.body != nil {
			r = testnode.DoJSON(t, tt.method, base+tt.path, alice, tt.body)
		} else {
			r = testnode.Do(t, tt.method, base+tt.path, alice, nil)
		}
		if r.Status != 503 || r.ErrorCode() != "overloaded" {
			t.Fatalf("%s %s on a full node: %d %s, want 503 overloaded", tt.method, tt.path, r.Status, r.Body)
		}
		if got := r.Header.Get("Retry-After"); got != strconv.Itoa(int(tt.retryAfter/time.Second)) {
			t.Fatalf("%s %s: Retry-After %q, want %s", tt.method, tt.path, got, tt.retryAfter)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := testnode.Do(t, "GET", base+p, "", nil); r.Status != 200 {
			t.Fatalf("%s on a full node: %d, want 200: probes and metrics are never shed", p, r.Status)
		}
	}
	metrics := string(testnode.Do(t, "GET", base+"/metrics", "", nil).Body)
	for _, want := range []string{
		`haetae_admission_shed_total{class="sheddable",reason="queue_full"} 1`,
		`haetae_admission_shed_total{class="critical",reason="queue_full"} 1`,
		`haetae_admission_limit 2`,
		`haetae_admission_inflight 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if classes, perSecond := n.API.Shedding(); len(classes) != 3 || perSecond <= 0 {
		t.Errorf("Shedding() = %v, %v; want all three classes", classes, perSecond)
	}
	for _, tk := range held {
		tk.Done()
	}
	// The status page's detector reads the shedding and opens an incident by itself.
	testnode.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		r := testnode.Do(t, "GET", base+"/v1/incidents?limit=20", "", nil)
		if r.Status != 200 {
			return fmt.Errorf("incidents: %d %s", r.Status, r.Body)
		}
		if !strings.Contains(string(r.Body), "Load being shed") {
			return fmt.Errorf("no load-shedding incident yet: %s", r.Body)
		}
		return nil
	})
	if r := testnode.DoJSON(t, "POST", base+"/v1/rooms/"+rm.ID+"/messages", alice, map[string]string{"client_id": "after", "text": "hi"}); r.Status != 201 {
		t.Fatalf("send once the slots are free: %d %s", r.Status, r.Body)
	}
	if h := testnode.History(t, base, alice, rm.ID); len(h) != 2 {
		t.Fatalf("history has %d messages, want 2: the shed send must not have been stored", len(h))
	}
}

// TestClientOverItsRateGets429 checks the per-token and per-address limits.
func TestClientOverItsRateGets429(t *testing.T) {
	cfg := testnode.Config(t)
	cfg.TokenRate = node.RateLimit{PerSecond: 0.001, Burst: 3}
	cfg.AddrRate = node.RateLimit{PerSecond: 0.001, Burst: 4}
	n := testnode.MustStart(t, cfg)
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice") // 2 requests of the address's 4
	bob := testnode.MustUser(t, base, "bob")     // 2 more
	for i := range 3 {
		if r := testnode.Do(t, "GET", base+"/v1/rooms", alice, nil); r.Status != 200 {
			t.Fatalf("request %d within alice's burst: %d %s", i, r.Status, r.Body)
		}
	}
	r := testnode.Do(t, "GET", base+"/v1/rooms", alice, nil)
	if r.Status != 429 || r.ErrorCode() != "rate_limited" {
		t.Fatalf("over alice's rate: %d %s, want 429 rate_limited", r.Status, r.Body)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if r := testnode.Do(t, "GET", base+"/v1/rooms", bob, nil); r.Status != 200 {
		t.Fatalf("bob limited by alice's rate: %d", r.Status)
	}
	if r := testnode.DoJSON(t, "POST", base+"/v1/users", "", map[string]string{"name": "carol", "password": "password-carol"}); r.Status != 429 {
		t.Fatalf("a fifth unauthenticated request from one address: %d %s, want 429", r.Status, r.Body)
	}
	if r := testnode.Do(t, "GET", base+"/healthz", "", nil); r.Status != 200 {
		t.Fatalf("healthz is never rate limited: %d", r.Status)
	}
}
