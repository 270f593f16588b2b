// Package client is the Go client of Haetae's HTTP and WebSocket API: accounts, rooms and messages, and
// live delivery. It knows every node a caller gives it and retries what is safe to retry across them,
// within a time budget, so a node or a data center going away costs a caller latency, not an error.
// Under overload it holds back: it honours Retry-After, backs off with jitter, spends retries from a
// budget per operation, and throttles itself by the SRE book's adaptive rule (throttle.go), so that its
// retries cannot multiply a surge. It holds no domain rules of its own and must not import the server's
// packages: it speaks only the wire contract of API.md.
package client

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haetae/haetae"
)

// DefaultRetryBudget is how long a call may spend retrying unless [WithRetryBudget] says otherwise.
const DefaultRetryBudget = 30 * time.Second

const (
	// attemptTimeout bounds one HTTP attempt (and one WebSocket handshake) on top of the caller's context.
	attemptTimeout = 10 * time.Second
	// backoffBase and backoffMax shape the exponential backoff between rounds of attempts.
	backoffBase = 100 * time.Millisecond
	backoffMax  = 5 * time.Second
	// retryAfterMax caps how long a server's Retry-After may make one wait last.
	retryAfterMax = 30 * time.Second
	// maxResponse bounds a response body: a full history page is 500 messages of up to 4,000
	// characters, JSON-escaped.
	maxResponse = 32 << 20
	// maxErrorBody bounds the part of an error response that is read.
	maxErrorBody = 64 << 10
)

// Client calls the Haetae API on a list of endpoints. It is safe for concurrent use; the token may be
// changed while calls are in flight, and each call uses the token current when it starts an attempt.
type Client struct {
	given    []string                 // the endpoints New was given, normalized
	eps      atomic.Pointer[[]string] // given, then those learned from GET /v1/endpoints
	discover bool
	hc       *http.Client
	budget   time.Duration
	timeout  time.Duration

	discoverMu   sync.Mutex
	discoveredAt time.Time

	mu    sync.RWMutex
	token string

	// cur is the index of the endpoint that last answered; calls start there.
	cur atomic.Int64

	// Self-restraint under overload: the adaptive throttle and the retry budget (throttle.go).
	throttleK      float64
	throttleWindow time.Duration
	retryRatio     float64
	retryReserve   int
	guards         guards
}

// Option configures a [Client] in [New].
type Option func(*Client)

// WithToken sets the bearer token the client sends.
func WithToken(token string) Option {
	return func(c *Client) { c.token = token }
}

// WithHTTPClient sets the HTTP client used for every request and WebSocket handshake. Its Timeout, if
// any, applies to each attempt; the client adds its own per-attempt timeout as well.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithRetryBudget sets the total time one call may spend retrying after its first attempt. Zero means a
// call makes one attempt per endpoint at most and never waits between them.
func WithRetryBudget(d time.Duration) Option {
	return func(c *Client) {
		if d >= 0 {
			c.budget = d
		}
	}
}

// WithDiscovery turns learning the cluster's other endpoints from GET /v1/endpoints on or off (on by
// default). A node lists the public URLs the cluster's nodes advertise; the client adds them after the
// endpoints it was given, so a caller who knows one node can still fail over to the others.
func WithDiscovery(on bool) Option {
	return func(c *Client) { c.discover = on }
}

// New returns a client of the nodes at endpoints, base URLs such as "http://127.0.0.1:8080". It fails if
// there are none or one is not an http or https URL.
func New(endpoints []string, opts ...Option) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("client: no endpoints given")
	}
	c := &Client{budget: DefaultRetryBudget, timeout: attemptTimeout, discover: true,
		throttleK: DefaultThrottleK, throttleWindow: DefaultThrottleWindow, retryRatio: DefaultRetryRatio, retryReserve: DefaultRetryReserve}
	for _, e := range endpoints {
		base, err := normalizeEndpoint(e)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(c.given, base) {
			c.given = append(c.given, base)
		}
	}
	eps := slices.Clone(c.given)
	c.eps.Store(&eps)
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	return c, nil
}

func normalizeEndpoint(e string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(e))
	if err != nil {
		return "", fmt.Errorf("client: endpoint %q: %w", e, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("client: endpoint %q: want an http:// or https:// URL", e)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("client: endpoint %q: want scheme://host[:port][/path] only", e)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// defaultHTTPClient keeps enough idle connections per node for a busy caller such as the benchmark;
// the standard transport keeps two, which would turn every burst into new TCP connections.
func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = attemptTimeout
	return &http.Client{Transport: t}
}

// SetToken replaces the bearer token.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// Token returns the bearer token.
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// Endpoints returns the base URLs the client calls, normalized: those it was given, then those it
// learned.
func (c *Client) Endpoints() []string {
	return slices.Clone(c.endpoints())
}

func (c *Client) endpoints() []string { return *c.eps.Load() }

func (c *Client) current() int {
	return int(c.cur.Load()) % len(c.endpoints())
}

const (
	// rediscoverEvery is how often the client asks a node for the cluster's endpoints again.
	rediscoverEvery = 5 * time.Minute
	// maxEndpoints bounds the list, whatever a node answers.
	maxEndpoints = 32
)

// maybeDiscover asks the node at base for the cluster's endpoints when that is due: on the first call
// that reaches a node, then every few minutes. It runs on the calling goroutine, after a call
// succeeded, with a short time-out; a failure only means the list stays as it is.
func (c *Client) maybeDiscover(ctx context.Context, base string) {
	if !c.discover {
		return
	}
	c.discoverMu.Lock()
	if !c.discoveredAt.IsZero() && time.Since(c.discoveredAt) < rediscoverEvery {
		c.discoverMu.Unlock()
		return
	}
	c.discoveredAt = time.Now()
	c.discoverMu.Unlock()
	var out struct {
		Endpoints []struct {
			URL string `json:"url"`
		} `json:"endpoints"`
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.attempt(dctx, base, request{op: "endpoints", method: http.MethodGet, path: "/v1/endpoints"}, &out); err != nil {
		return
	}
	eps := slices.Clone(c.given)
	for _, e := range out.Endpoints {
		u, err := normalizeEndpoint(e.URL)
		if err != nil || slices.Contains(eps, u) || len(eps) >= maxEndpoints {
			continue
		}
		eps = append(eps, u)
	}
	cur := c.endpoints()[c.current()]
	c.eps.Store(&eps)
	if i := slices.Index(eps, cur); i >= 0 {
		c.cur.Store(int64(i))
	}
}

// request is one API call, independent of the endpoint it goes to.
type request struct {
	op     string // the operation, as the API's route names it: what throttles and retry budgets are kept by
	method string
	path   string // starting with /v1/, already escaped
	query  url.Values
	body   []byte // JSON, nil for none
	auth   bool
	header http.Header
}

// retryable marks an attempt's failure that another attempt may not have: no answer, a timeout, or a
// gateway or overload status.
type retryable struct {
	err        error
	retryAfter time.Duration
	throttled  bool // not sent: the adaptive throttle held it back
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// do runs r against the endpoints, round-robin from the one that last answered, until an attempt is not
// retryable or the retry budget is spent. Within one round every endpoint is tried once, at once; between
// rounds the client waits with exponential backoff and jitter, and at least as long as any server of the
// round asked with Retry-After. The first round is always completed, whatever the time budget. An
// attempt that the adaptive throttle refuses is not sent and counts as a failed one; a retry that the
// operation's retry budget refuses ends the call with the last error. It returns the response status
// and how many attempts were made (sent or throttled).
func (c *Client) do(ctx context.Context, r request, out any) (status, attempts int, err error) {
	deadline := time.Now().Add(c.budget)
	eps := c.endpoints()
	n := len(eps)
	start := c.current()
	budget := c.retryBudget(r.op)
	budget.first()
	var last *retryable
	var lastSent *retryable      // the last failure of an attempt that was sent, which says more than a throttling
	var retryAfter time.Duration // the longest Retry-After of the current round
	sent := 0
	for attempt := 0; ; attempt++ {
		i := (start + attempt) % n
		t := c.throttle(eps[i], r.op)
		var status int
		var err error
		if t != nil && !t.TryAcquirePermit() {
			t.RecordFailure() // a request the server did not accept, as the SRE book counts it
			err = &retryable{throttled: true, err: &APIError{Code: haetae.EOverloaded, Message: "not sent: this client throttles itself while " + eps[i] + " refuses most of its requests"}}
		} else {
			if sent > 0 && !budget.retry() {
				return 0, attempt, giveUp(cmp.Or(lastSent, last), eps)
			}
			sent++
			status, err = c.attempt(ctx, eps[i], r, out)
			if t != nil {
				if _, overloaded := err.(*retryable); overloaded {
					t.RecordFailure()
				} else {
					t.RecordSuccess()
				}
			}
		}
		if err == nil {
			c.cur.Store(int64(i))
			c.maybeDiscover(ctx, eps[i])
			return status, attempt + 1, nil
		}
		if ctx.Err() != nil {
			return 0, attempt + 1, fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
		}
		if !errors.As(err, &last) {
			c.cur.Store(int64(i)) // it answered, if only to say no
			return status, attempt + 1, err
		}
		if !last.throttled {
			lastSent = last
		}
		retryAfter = max(retryAfter, last.retryAfter)
		var wait time.Duration
		if (attempt+1)%n == 0 {
			wait = max(backoff((attempt+1)/n), retryAfter)
			retryAfter = 0
		}
		if attempt+1 >= n && time.Now().Add(wait).After(deadline) {
			return 0, attempt + 1, giveUp(cmp.Or(lastSent, last), eps)
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			// Waiting as the server asked would outlast the caller's deadline: end now, saying both.
			return 0, attempt + 1, fmt.Errorf("%s %s: %w before the next try: %w", r.method, r.path, context.DeadlineExceeded, giveUp(cmp.Or(lastSent, last), eps))
		}
		if err := sleep(ctx, wait); err != nil {
			return 0, attempt + 1, fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
	}
}

// giveUp turns the last retryable failure into the call's error: the server's own error if it sent one
// (so its code, such as no_quorum, reaches the caller), else unavailable.
func giveUp(last *retryable, endpoints []string) error {
	var ae *APIError
	if errors.As(last.err, &ae) {
		return ae
	}
	return &haetae.Error{Code: haetae.EUnavailable, Message: fmt.Sprintf("no server answered (tried %s)", strings.Join(endpoints, ", ")), Err: last.err}
}

// backoff is the wait before round n (from 1) of attempts: exponential, capped, with jitter over its
// upper half so that many clients that failed together do not come back together.
func backoff(n int) time.Duration {
	d := backoffMax
	if n < 16 {
		d = min(backoffBase<<max(n-1, 0), backoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt makes one HTTP request. Transport failures, timeouts and 429/502/503/504 come back as
// *retryable (a 429 asks this client to slow down, and its Retry-After says for how long); any other
// non-2xx status as *APIError.
func (c *Client) attempt(ctx context.Context, base string, r request, out any) (int, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader = http.NoBody
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "haetae-go-client")
	if dl, ok := actx.Deadline(); ok {
		// How long this attempt will wait: the server drops the request unstarted rather than do it
		// for nobody.
		req.Header.Set("Haetae-Timeout", strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.auth {
		if t := c.Token(); t != "" {
			req.Header.Set("Authorization", "Bearer "+t)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, &retryable{err: err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout || resp.StatusCode == http.StatusTooManyRequests:
		return resp.StatusCode, &retryable{err: readAPIError(resp), retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return resp.StatusCode, readAPIError(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return resp.StatusCode, &retryable{err: fmt.Errorf("%s %s: read response: %w", r.method, r.path, err)}
	}
	if len(b) > maxResponse {
		return resp.StatusCode, fmt.Errorf("%s %s: response larger than %d bytes", r.method, r.path, maxResponse)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode response: %w", r.method, r.path, err)
		}
	}
	return resp.StatusCode, nil
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if s < 0 {
			return 0
		}
		return min(time.Duration(s)*time.Second, retryAfterMax)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), retryAfterMax)
	}
	return 0
}

// newClientID returns a random client_id for sends whose caller gave none.
func newClientID() string {
	b := make([]byte, 12)
	crand.Read(b)
	return hex.EncodeToString(b)
}
