// Package httpapi serves Haetae's public HTTP and WebSocket API (../shared/API.md) over the domain
// services. It decodes and checks requests, maps domain errors to statuses in one table, and never
// touches JetStream itself: any node's services can stand behind it.
package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/admission"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is the HTTP handler of one node. Its fields are its dependencies, set by the caller.
type Server struct {
	Users    haetae.UserService
	Rooms    haetae.RoomService
	Messages haetae.MessageService
	Live     haetae.LiveService
	Gifts    haetae.GiftService
	Rentals  haetae.RentalService
	Limits   haetae.Limits
	Logger   *slog.Logger
	// Ready reports whether this node can take writes now: in a cluster, whether it reaches a majority.
	// /readyz fails and every write is refused with 503 no_quorum while it returns an error.
	Ready func() error
	// Endpoints lists the API endpoints of the cluster's nodes for GET /v1/endpoints (nil: this one).
	Endpoints func() []haetae.Endpoint
	// Staleness, when set, bounds how far behind the data of reads served from this node's replica may
	// be; it is reported in the Haetae-Max-Staleness header of reads.
	Staleness func() time.Duration
	// MaxLiveConns bounds the WebSocket connections this node holds (0: 20,000); past it a new one is
	// refused with 503 overloaded.
	MaxLiveConns int
	// Registry collects the metrics served at /metrics.
	Registry *prometheus.Registry
	// RedeemRate is the redemption attempts per second each merchant may make on this node, and
	// RedeemBurst how many at once (0: DefaultRedeemRate and twice that); more get 429 rate_limited.
	RedeemRate  float64
	RedeemBurst int
	// App, when set, serves the web page at /app/ (package webapp).
	App http.Handler
	// AdminToken is the operator's credential for the admin endpoints; empty disables them.
	AdminToken string
	// Drain, when set, evacuates the node for POST /v1/admin/drain and returns the streams whose
	// leadership it handed off.
	Drain func(ctx context.Context) ([]string, error)
	// Admission admits every request and live frame by its priority class, and sheds what it cannot
	// take with 503 overloaded (nil: a limiter with [admission.DefaultConfig]).
	Admission *admission.Limiter
	// TokenRate holds each bearer token to its own rate, and AddrRate each address on the routes that
	// take no token; a client over its rate gets 429 rate_limited (nil: no limit).
	TokenRate, AddrRate *admission.RateLimiter
	// Incidents keeps the incident history and answers the status (nil: those endpoints answer 404).
	Incidents haetae.IncidentService

	metrics *metrics
	logins  *loginLimiter
	redeems *redeemLimiter
	mux     *http.ServeMux
	once    sync.Once

	liveMu    sync.Mutex
	liveConns map[*liveConn]struct{}
	draining  bool
}

// Handler returns the server's handler with every route of routes.go.
func (s *Server) Handler() http.Handler {
	s.once.Do(s.init)
	return s
}

func (s *Server) init() {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	if s.Admission == nil {
		s.Admission = admission.New(admission.DefaultConfig())
	}
	s.metrics = newMetrics(s.Registry, s.Admission, s.TokenRate, s.AddrRate)
	s.logins = newLoginLimiter()
	s.redeems = newRedeemLimiter(s.RedeemRate, s.RedeemBurst)
	s.liveConns = map[*liveConn]struct{}{}
	s.mux = http.NewServeMux()
	s.routes()
}

// ServeHTTP implements [http.Handler].
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(s.init)
	s.mux.ServeHTTP(w, r)
}

// requestPrefix and requestSeq make request ids unique across nodes and restarts without a random read
// per request.
var (
	requestPrefix = func() string {
		b := make([]byte, 4)
		rand.Read(b)
		return hex.EncodeToString(b)
	}()
	requestSeq atomic.Uint64
)

func nextRequestID() string {
	return requestPrefix + "-" + strconv.FormatUint(requestSeq.Add(1), 36)
}

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxUser
	ctxTicket
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(ctxRequestID).(string)
	return id
}

func caller(r *http.Request) string {
	name, _ := r.Context().Value(ctxUser).(string)
	return name
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// anyMethod in a methods map takes every method the map does not name.
const anyMethod = "*"

// method is how one route answers one HTTP method: whether it needs a token, its metric label, and
// its handler.
type method struct {
	auth  bool
	admin bool   // needs the admin token
	write bool   // needs a majority of the cluster: refused at once with no_quorum without one
	name  string // metric label
	h     handlerFunc
}

// handle registers one path; every method it does not list is answered with a JSON 405.
func (s *Server) handle(path string, methods map[string]method) {
	if recordRoute != nil {
		recordRoute(path, methods)
	}
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = nextRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		if cors(w, r) {
			return // a preflight, answered
		}
		ctx := context.WithValue(r.Context(), ctxRequestID, id)
		r = r.WithContext(ctx)
		m, ok := methods[r.Method]
		if !ok && r.Method == http.MethodHead {
			m, ok = methods[http.MethodGet]
		}
		if !ok {
			m, ok = methods[anyMethod]
		}
		sw := &statusWriter{ResponseWriter: w}
		name := path
		if !ok {
			allow := make([]string, 0, len(methods))
			for k := range methods {
				allow = append(allow, k)
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(sw, r, haetae.Errorf(haetae.EMethodNotAllowed, "%s does not take %s", path, r.Method))
		} else {
			name = m.name
			if err := s.serveAdmitted(sw, r, m); err != nil {
				s.writeError(sw, r, err)
			}
		}
		s.metrics.observe(name, sw.status, time.Since(start))
	})
}

// serveAdmitted holds the request to its client's rate, then to the node's: it is served once the
// limiter admits its route's priority class, and shed unserved (503 overloaded, with Retry-After)
// otherwise. Its slot is freed when it is done, or, for the live WebSocket, once it is upgraded.
func (s *Server) serveAdmitted(w http.ResponseWriter, r *http.Request, m method) error {
	class := admission.ClassOf(m.name)
	if class == admission.Exempt {
		return s.serve(w, r, m)
	}
	if m.write {
		// A write this node cannot take is refused before it waits for a slot: no_quorum tells the
		// client to go to another data center, where overloaded would only tell it to wait.
		if err := s.quorum(); err != nil {
			return err
		}
	}
	if wait, ok := s.clientRate(r); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
		return haetae.Errorf(haetae.ERateLimited, "this client is over its rate; retry after %s", wait)
	}
	wait := time.Duration(-1)
	if d, ok := clientTimeout(r); ok {
		// The client waits d for its answer: the work may wait at most half of that for a slot, so
		// that it can still be done in time, and is abandoned when the client has given up.
		wait = d / 2
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		r = r.WithContext(ctx)
	}
	ticket, err := s.Admission.AcquireWithin(r.Context(), class, wait)
	if err != nil {
		if d := admission.RetryAfter(err); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
		}
		return err
	}
	defer ticket.Done()
	err = s.serve(w, r.WithContext(context.WithValue(r.Context(), ctxTicket, ticket)), m)
	if err != nil && r.Context().Err() != nil {
		err = &clientGone{err}
	}
	return err
}

// clientGone marks the error of work cut short because its client left or its Haetae-Timeout passed:
// nobody reads the answer, and under a surge there are many, so it is not logged.
type clientGone struct{ error }

func (e *clientGone) Unwrap() error { return e.error }

// TimeoutHeader carries how long a client will wait for the answer to this request, in milliseconds. A
// request that cannot start within half of it is shed unstarted, and its work is cancelled when it has
// passed; the Go client sends it with every request.
const TimeoutHeader = "Haetae-Timeout"

// clientTimeout reads [TimeoutHeader]: 1 ms to 10 minutes, else it is ignored.
func clientTimeout(r *http.Request) (time.Duration, bool) {
	v := r.Header.Get(TimeoutHeader)
	if v == "" {
		return 0, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 1 || ms > 600000 {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// clientRate takes one request from the client's bucket: its bearer token's (also ?token= on the
// WebSocket), else its address's.
func (s *Server) clientRate(r *http.Request) (time.Duration, bool) {
	token := bearer(r)
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	if token != "" {
		return s.TokenRate.Allow(tokenKey(token))
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return s.AddrRate.Allow(host)
}

// tokenSeed keys the rate limiter by a hash of the token, so that no token is kept in its memory.
var tokenSeed = maphash.MakeSeed()

func tokenKey(token string) string {
	return strconv.FormatUint(maphash.String(tokenSeed, token), 36)
}

// releaseSlot frees the request's admission slot early: the live WebSocket holds it only while it is
// being opened, not for the connection's life.
func releaseSlot(r *http.Request) {
	if t, ok := r.Context().Value(ctxTicket).(*admission.Ticket); ok {
		t.Done()
	}
}

// Shedding reports which priority classes this node shed work of in the last 10 seconds and how much
// per second: what the status page's load-shedding detector reads.
func (s *Server) Shedding() (classes []string, perSecond float64) {
	s.once.Do(s.init)
	return s.Admission.Shedding()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, m method) error {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Logger.Error("handler panicked", "id", requestID(r), "panic", v)
			s.writeError(w, r, &haetae.Error{Code: haetae.EInternal, Op: r.URL.Path})
		}
	}()
	if m.write {
		if err := s.quorum(); err != nil {
			return err
		}
	}
	if m.admin {
		if err := s.checkAdmin(r); err != nil {
			return err
		}
	}
	if m.auth {
		name, err := s.Users.Authenticate(r.Context(), bearer(r))
		if err != nil {
			return err
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxUser, name))
	}
	if r.Method == http.MethodGet && s.Staleness != nil {
		w.Header().Set("Haetae-Max-Staleness", strconv.FormatInt(s.Staleness().Milliseconds(), 10))
	}
	err := m.h(w, r)
	if m.write && haetae.ErrorCode(err) == haetae.EUnavailable {
		// A write that timed out on a node that has since lost its majority says so.
		if qerr := s.quorum(); qerr != nil {
			return qerr
		}
	}
	return err
}

// quorum returns no_quorum when this node cannot take writes now.
func (s *Server) quorum() error {
	if s.Ready == nil {
		return nil
	}
	if err := s.Ready(); err != nil {
		return &haetae.Error{Code: haetae.ENoQuorum, Op: "quorum", Message: "this node cannot reach a majority of the data centers (" + err.Error() + "); retry on another node", Err: err}
	}
	return nil
}

// cors lets pages from any origin call the API: the web page of one node fails over to the others,
// which are other origins. That is safe because the API authenticates by bearer token only, never by
// cookie, so a foreign page can do nothing its user could not. It answers a preflight itself and
// reports that it did.
func cors(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Origin") == "" {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id, Haetae-Max-Staleness")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, X-Request-Id")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// checkAdmin accepts only the admin token, compared in constant time.
func (s *Server) checkAdmin(r *http.Request) error {
	t := bearer(r)
	if t == "" {
		return haetae.Errorf(haetae.EUnauthorized, "the admin token is required")
	}
	if s.AdminToken == "" || subtle.ConstantTimeCompare([]byte(t), []byte(s.AdminToken)) != 1 {
		return haetae.Errorf(haetae.EForbidden, "this needs the admin token")
	}
	return nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and the WebSocket upgrade reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
