package status_test

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/status"
)

// receiver is a real HTTP server on loopback that refuses the first calls with 503, then accepts and
// checks each delivery's signature.
type receiver struct {
	mu        sync.Mutex
	calls     int
	failFirst int
	got       []status.Delivery
	badSig    int
	at        []time.Time
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	rc.at = append(rc.at, time.Now())
	if rc.calls <= rc.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if !hmac.Equal([]byte(r.Header.Get(status.SignatureHeader)), []byte(status.Sign("a-secret-of-16-chars", body))) {
		rc.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var d status.Delivery
	json.Unmarshal(body, &d)
	rc.got = append(rc.got, d)
	w.WriteHeader(http.StatusNoContent)
}

func TestWebhooks(t *testing.T) {
	rc := &receiver{failFirst: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := testnode.MustStart(t, testnode.Config(t))
	clk := newClock(time.Now())
	a := newMember(t, n.Store.Incidents, "a", "dc1", "", clk)
	var outcomes []string
	var omu sync.Mutex
	nt := &status.Notifier{Subscribers: a.svc.Subscribers, Backoff: 20 * time.Millisecond, Client: &http.Client{Timeout: 2 * time.Second},
		Logger: quiet(), Result: func(o string) { omu.Lock(); outcomes = append(outcomes, o); omu.Unlock() }}
	nt.Start()
	defer nt.Close()
	ctx := t.Context()
	hook, err := a.svc.AddWebhook(ctx, srv.URL+"/hook", "a-secret-of-16-chars")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.AddWebhook(ctx, "ftp://x", "a-secret-of-16-chars"); haetae.ErrorCode(err) != haetae.EInvalid {
		t.Fatalf("an ftp webhook: %v", err)
	}
	inc, err := a.svc.CreateIncident(ctx, haetae.NewIncident{Title: "Sends slow", Impact: "minor", Components: []string{"messaging"}})
	if err != nil {
		t.Fatal(err)
	}
	nt.Notify("incident.opened", inc)
	testnode.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.got) != 1 {
			return errorf("deliveries %d after %d calls", len(rc.got), rc.calls)
		}
		return nil
	})
	rc.mu.Lock()
	d := rc.got[0]
	calls, bad := rc.calls, rc.badSig
	gap1, gap2 := rc.at[1].Sub(rc.at[0]), rc.at[2].Sub(rc.at[1])
	rc.mu.Unlock()
	if d.Event != "incident.opened" || d.Incident == nil || d.Incident.ID != inc.ID || calls != 3 || bad != 0 {
		t.Fatalf("delivery %+v after %d calls, %d bad signatures", d, calls, bad)
	}
	if gap1 > time.Second || gap2 > time.Second {
		t.Fatalf("retries waited %s and %s; the backoff is bounded by 20 ms and 40 ms", gap1, gap2)
	}
	// The receiver has answered; the notifier records the outcome a moment later.
	testnode.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		omu.Lock()
		defer omu.Unlock()
		if len(outcomes) != 1 || outcomes[0] != "ok" {
			return errorf("outcomes %v", outcomes)
		}
		return nil
	})

	list, err := a.svc.Webhooks(ctx)
	if err != nil || len(list) != 1 || list[0].Secret != "" || list[0].ID != hook.ID {
		t.Fatalf("webhooks listed: %v %+v", err, list)
	}
	if err := a.svc.DeleteWebhook(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.DeleteWebhook(ctx, hook.ID); haetae.ErrorCode(err) != haetae.ENotFound {
		t.Fatalf("deleting twice: %v", err)
	}
}

// TestWebhookGivesUp: a receiver that always fails gets a bounded number of attempts.
func TestWebhookGivesUp(t *testing.T) {
	rc := &receiver{failFirst: 1000}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	done := make(chan string, 1)
	nt := &status.Notifier{Subscribers: func() []*haetae.Webhook {
		return []*haetae.Webhook{{ID: "w", URL: srv.URL, Secret: "a-secret-of-16-chars"}}
	}, Attempts: 4, Backoff: 5 * time.Millisecond, Logger: quiet(), Result: func(o string) { done <- o }}
	nt.Start()
	defer nt.Close()
	nt.Notify("incident.updated", &haetae.Incident{ID: "x"})
	select {
	case o := <-done:
		rc.mu.Lock()
		calls := rc.calls
		rc.mu.Unlock()
		if o != "failed" || calls != 4 {
			t.Fatalf("outcome %s after %d calls, want failed after 4", o, calls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery never ended")
	}
}
