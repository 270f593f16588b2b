package status

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/haetae/haetae"
)

// Webhook deliveries: each incident change a node writes is POSTed by that node to every subscriber as
//
//	{"id":"<delivery id>","event":"incident.opened|incident.updated|incident.resolved","at":"...","incident":{...}}
//
// with the headers Haetae-Event, Haetae-Delivery and Haetae-Signature-256: "sha256=" and the hex
// HMAC-SHA256 of the body under the subscriber's secret. A delivery that fails (no answer, a 5xx, 408 or
// 429) is retried with exponential backoff and full jitter, a bounded number of times; other 4xx answers
// are final. Every call has a timeout.

// SignatureHeader carries a delivery's HMAC-SHA256 signature.
const SignatureHeader = "Haetae-Signature-256"

// Sign is the signature header value of body under secret; receivers compute the same and compare in
// constant time ([hmac.Equal]).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Delivery is the JSON body of a webhook call.
type Delivery struct {
	ID       string           `json:"id"`
	Event    string           `json:"event"`
	At       time.Time        `json:"at"`
	Incident *haetae.Incident `json:"incident"`
}

// Notifier sends webhook deliveries from a bounded queue with a few workers.
type Notifier struct {
	// Subscribers lists where to send (Service.Subscribers).
	Subscribers func() []*haetae.Webhook
	// Client sends the calls; its Timeout bounds each (default 10 s).
	Client *http.Client
	// Attempts bounds the tries of one delivery (default 6); Backoff is the first pause, doubled each
	// time up to MaxBackoff (defaults 500 ms and 30 s), each drawn at random below that bound.
	Attempts            int
	Backoff, MaxBackoff time.Duration
	// Queue bounds the deliveries waiting (default 1,024); past it new ones are dropped and counted.
	Queue int
	// Result, when set, is told how each delivery ended: "ok", "failed" or "dropped".
	Result func(outcome string)
	Logger *slog.Logger
	Now    func() time.Time

	q      chan job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type job struct {
	hook *haetae.Webhook
	body []byte
	id   string
	ev   string
}

// Start runs the workers.
func (n *Notifier) Start() {
	if n.Client == nil {
		n.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if n.Attempts == 0 {
		n.Attempts = 6
	}
	if n.Backoff == 0 {
		n.Backoff = 500 * time.Millisecond
	}
	if n.MaxBackoff == 0 {
		n.MaxBackoff = 30 * time.Second
	}
	if n.Queue == 0 {
		n.Queue = 1024
	}
	if n.Logger == nil {
		n.Logger = slog.Default()
	}
	if n.Now == nil {
		n.Now = time.Now
	}
	n.q = make(chan job, n.Queue)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for range 2 {
		n.wg.Add(1)
		go n.work()
	}
}

// Close stops the workers; deliveries still queued or being retried are given up.
func (n *Notifier) Close() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.wg.Wait()
}

// Notify queues a delivery of one change to every subscriber. It never blocks.
func (n *Notifier) Notify(event string, inc *haetae.Incident) {
	if n.q == nil || n.Subscribers == nil {
		return
	}
	for _, h := range n.Subscribers() {
		id := deliveryID()
		body, err := json.Marshal(Delivery{ID: id, Event: event, At: n.Now().UTC(), Incident: inc})
		if err != nil {
			continue
		}
		select {
		case n.q <- job{hook: h, body: body, id: id, ev: event}:
		default:
			n.result("dropped")
			n.Logger.Warn("webhook queue full; delivery dropped", "webhook", h.ID, "event", event)
		}
	}
}

func (n *Notifier) result(outcome string) {
	if n.Result != nil {
		n.Result(outcome)
	}
}

func deliveryID() string {
	b := make([]byte, 8)
	crand.Read(b)
	return hex.EncodeToString(b)
}

func (n *Notifier) work() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case j := <-n.q:
			n.deliver(j)
		}
	}
}

// deliver tries one delivery until it is accepted, refused for good, or out of attempts.
func (n *Notifier) deliver(j job) {
	var last error
	for attempt := 0; attempt < n.Attempts; attempt++ {
		if attempt > 0 {
			bound := min(n.Backoff<<(attempt-1), n.MaxBackoff)
			t := time.NewTimer(mrand.N(bound) + 1)
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		retry, err := n.post(j)
		if err == nil {
			n.result("ok")
			return
		}
		last = err
		if !retry {
			break
		}
	}
	n.result("failed")
	n.Logger.Warn("webhook delivery failed", "webhook", j.hook.ID, "event", j.ev, "delivery", j.id, "err", last)
}

// post makes one call; retry says whether another attempt may succeed.
func (n *Notifier) post(j job) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.Client.Timeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.hook.URL, bytes.NewReader(j.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "haetae-webhook/1")
	req.Header.Set("Haetae-Event", j.ev)
	req.Header.Set("Haetae-Delivery", j.id)
	req.Header.Set(SignatureHeader, Sign(j.hook.Secret, j.body))
	resp, err := n.Client.Do(req)
	if err != nil {
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("answered %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("answered %d", resp.StatusCode)
	}
}
