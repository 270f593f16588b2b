package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/admission"
	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/jsstore"
	"github.com/haetae/haetae/node"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/schollz/progressbar/v3"
)

// LoadConfig is the surge scenario of `haetae load`: a baseline of Users clients, then a surge of Factor
// times as many, then the baseline again for the recovery. Each active client does Rate operations a
// second, drawn from Mix, open-loop: an operation starts on time whether or not the client's earlier
// ones have been answered (at most MaxOutstanding at once). Typing notices are written on the live
// WebSocket and forgotten, so they are counted apart from the operations whose answers are measured.
// The zero value of a field means its default (see [DefaultLoadConfig]), except Servers, NoLimiter and
// Node.
type LoadConfig struct {
	// Servers are the API endpoints to drive; empty starts an in-process node in a temporary directory.
	Servers []string
	// Users is how many clients are active at baseline and in the recovery; Factor × Users in the surge.
	Users  int
	Factor float64
	// Rate is the operations per second of one active client.
	Rate float64
	// RoomSize is how many users share a room.
	RoomSize int
	// Baseline, Surge and Recovery are how long each phase lasts.
	Baseline, Surge, Recovery time.Duration
	// OpTimeout is how long one operation may take, its client's retries included.
	OpTimeout time.Duration
	// MaxOutstanding bounds one client's operations in flight; one more is not started and counts as
	// busy.
	MaxOutstanding int
	// Mix weighs the operations (see [DefaultMix]).
	Mix map[string]float64
	// NoLimiter starts the in-process node with its load shedding turned off.
	NoLimiter bool
	// TempDir is where the in-process node keeps its files; "" is the system's.
	TempDir string
	// Node adjusts the in-process node's configuration before it starts.
	Node func(*node.Config)
}

// Operations of the scenario, named as the API's routes (typing is a live frame).
const (
	opSend      = "send"
	opHistory   = "history"
	opListRooms = "list_rooms"
	opTyping    = "typing"
	opMarkRead  = "mark_read"
	opStatus    = "status"
)

// DefaultMix is what people and bots do on a messenger on a bad day: as many typing notices and read
// receipts as messages, some history and room lists, and bots polling the status.
var DefaultMix = map[string]float64{
	opSend:      0.25,
	opTyping:    0.20,
	opMarkRead:  0.20,
	opHistory:   0.12,
	opListRooms: 0.13,
	opStatus:    0.10,
}

// DefaultLoadConfig is what `haetae load` runs with no flags.
func DefaultLoadConfig() LoadConfig {
	return LoadConfig{
		Users:          40,
		Factor:         10,
		Rate:           2,
		RoomSize:       4,
		Baseline:       15 * time.Second,
		Surge:          30 * time.Second,
		Recovery:       30 * time.Second,
		OpTimeout:      10 * time.Second,
		MaxOutstanding: 4,
		Mix:            DefaultMix,
	}
}

func (c *LoadConfig) setDefaults() {
	d := DefaultLoadConfig()
	if c.Users <= 0 {
		c.Users = d.Users
	}
	if c.Factor < 1 {
		c.Factor = d.Factor
	}
	if c.Rate <= 0 {
		c.Rate = d.Rate
	}
	if c.RoomSize < 1 {
		c.RoomSize = d.RoomSize
	}
	if c.Baseline <= 0 {
		c.Baseline = d.Baseline
	}
	if c.Surge <= 0 {
		c.Surge = d.Surge
	}
	if c.Recovery <= 0 {
		c.Recovery = d.Recovery
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = d.OpTimeout
	}
	if c.MaxOutstanding <= 0 {
		c.MaxOutstanding = d.MaxOutstanding
	}
	if len(c.Mix) == 0 {
		c.Mix = d.Mix
	}
}

// Phases of a scenario.
var phases = []string{"baseline", "surge", "recovery"}

// LoadResult is what one scenario run measured.
type LoadResult struct {
	Label     string   `json:"label"`
	Servers   []string `json:"servers,omitempty"`
	InProcess bool     `json:"in_process"`
	Limiter   bool     `json:"limiter"`
	Users     int      `json:"users"`
	Factor    float64  `json:"factor"`
	Rate      float64  `json:"rate_per_client"`
	// StatusServed is false when the server has no GET /v1/status; status polls are then left out.
	StatusServed bool `json:"status_served"`
	// Phases holds per phase and class what the clients saw.
	Phases []PhaseResult `json:"phases"`
	// Timeline has one sample a second.
	Timeline []Sample `json:"timeline"`
	// Acked sends, and those of them missing from their room's history afterwards.
	Acked int `json:"acked"`
	Lost  int `json:"lost"`
	// PeakRSSBytes is the highest server RSS sampled; RSSScope says whose memory that is.
	PeakRSSBytes int64  `json:"peak_rss_bytes"`
	RSSScope     string `json:"rss_scope"`
	// DrainSeconds is how long after the surge the server's queues took to empty (-1: never seen).
	DrainSeconds float64 `json:"drain_seconds"`
	// Typing counts the typing notices written per phase; they are not in Phases (see [LoadConfig]).
	Typing []int `json:"typing"`
	// FirstErrors has the first error of each operation that failed, for a look at what went wrong.
	FirstErrors map[string]string `json:"first_errors,omitempty"`
}

// PhaseResult is one class in one phase, as the clients saw it.
type PhaseResult struct {
	Phase   string  `json:"phase"`
	Class   string  `json:"class"`
	Offered int     `json:"offered"` // operations started
	OK      int     `json:"ok"`
	Shed    int     `json:"shed"`   // 503 overloaded, 429, or held back by the client's throttle or retry budget
	Errors  int     `json:"errors"` // anything else: time-outs, unavailable
	Busy    int     `json:"busy"`   // not started: the client had MaxOutstanding operations in flight
	Goodput float64 `json:"goodput"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
}

// Sample is one second of a run: what the clients got per class, and the server's own figures.
type Sample struct {
	T      float64            `json:"t"`
	Phase  string             `json:"phase"`
	OK     map[string]int     `json:"ok"`
	Shed   map[string]int     `json:"shed"`
	Errors map[string]int     `json:"errors"`
	P99Ms  map[string]float64 `json:"p99_ms"`
	// From the server's /metrics: resident memory, the adaptive limit, requests waiting, and work
	// shed per class in this second.
	RSSBytes   int64          `json:"rss_bytes"`
	Limit      int            `json:"limit"`
	Queued     int            `json:"queued"`
	ServerShed map[string]int `json:"server_shed"`
}

// outcome of one operation.
const (
	outOK = iota
	outShed
	outErr
)

// loadRun is the state of one scenario run.
type loadRun struct {
	cfg     LoadConfig
	id      string
	servers []string
	start   time.Time
	phaseAt []time.Time // when each phase starts; the last entry is the end
	text    string
	hc      *http.Client

	mu       sync.Mutex
	firstErr map[string]string // by operation
	secs     []secondStats     // by second since start
	acked    map[string]map[string]uint64
	busy     [3]map[string]int // by phase, class
	typing   [3]int            // typing notices written, by phase

	status bool
}

type secondStats struct {
	ok, shed, errs map[string]int
	lat            map[string][]float64 // ms, of successful operations
}

// maxLatencies bounds the latencies kept per class and second.
const maxLatencies = 20000

// RunLoad runs the scenario once, drawing a progress bar on progress (nil draws none).
func RunLoad(ctx context.Context, cfg LoadConfig, progress io.Writer) (*LoadResult, error) {
	cfg.setDefaults()
	if progress == nil {
		progress = io.Discard
	}
	res := &LoadResult{Servers: cfg.Servers, InProcess: len(cfg.Servers) == 0, Limiter: !cfg.NoLimiter || len(cfg.Servers) > 0,
		Users: cfg.Users, Factor: cfg.Factor, Rate: cfg.Rate, DrainSeconds: -1}
	res.Label = "limiter on"
	if !res.Limiter {
		res.Label = "limiter off (--no-limiter)"
	}
	if len(cfg.Servers) > 0 {
		res.Label = "against " + cfg.Servers[0]
	}
	servers := cfg.Servers
	res.RSSScope = "the server (process_resident_memory_bytes of its /metrics)"
	if len(servers) == 0 {
		n, stop, err := startTempNode(ctx, cfg.TempDir, "haetae-load-node-", func(c *node.Config) {
			c.Admission.Disabled = cfg.NoLimiter
			// Hundreds of users register and log in before the scenario starts: password hashing is
			// set-up here, not what is measured, so it is made cheap.
			c.Store.Argon2 = jsstore.Argon2Params{Time: 1, Memory: 1024, Threads: 1}
		}, cfg.Node)
		if err != nil {
			return nil, err
		}
		defer stop()
		servers = []string{n.URL()}
		res.RSSScope = "this process: the in-process node and the load clients"
	}
	total := int(math.Ceil(float64(cfg.Users) * cfg.Factor))
	r := &loadRun{cfg: cfg, id: runID(), servers: servers, text: filler(100), acked: map[string]map[string]uint64{}}
	for i := range r.busy {
		r.busy[i] = map[string]int{}
	}
	r.hc = &http.Client{Transport: &http.Transport{MaxIdleConns: 4 * total, MaxIdleConnsPerHost: 4 * total, IdleConnTimeout: 90 * time.Second}}
	defer r.hc.CloseIdleConnections()
	r.status = r.statusServed(ctx)
	res.StatusServed = r.status

	users, err := r.setup(ctx, total, progress) // subscriptions live on ctx, beyond the set-up
	defer func() {
		for _, u := range users {
			if u != nil && u.sub != nil {
				u.sub.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	r.start = time.Now()
	at := r.start
	r.phaseAt = []time.Time{at}
	for _, d := range []time.Duration{cfg.Baseline, cfg.Surge, cfg.Recovery} {
		at = at.Add(d)
		r.phaseAt = append(r.phaseAt, at)
	}
	sampler := r.sample(ctx, res, progress)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.drive(ctx, u, i < cfg.Users)
		}()
	}
	wg.Wait() // every operation is bounded by OpTimeout, so this ends
	sampler()
	r.summarize(res)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Acked, res.Lost, err = r.verify(ctx, users)
	return res, err
}

// user is one simulated person: a client, a room, and a live subscription to it.
type user struct {
	name   string
	c      *client.Client
	room   string
	sub    *client.Subscription
	nextID atomic.Int64
}

// setup registers and logs in every user, makes the rooms and subscribes every user to its room.
func (r *loadRun) setup(ctx context.Context, total int, progress io.Writer) ([]*user, error) {
	users := make([]*user, total)
	password := "load-" + r.id + "-password"
	m := startMeter(progress, total+(total+r.cfg.RoomSize-1)/r.cfg.RoomSize, "setup: users, rooms")
	defer m.finish()
	err := parallel(ctx, total, setupWorkers, func(ctx context.Context, i int) error {
		rotated := append(slices.Clone(r.servers[i%len(r.servers):]), r.servers[:i%len(r.servers)]...)
		c, err := client.New(rotated, client.WithHTTPClient(r.hc), client.WithDiscovery(false), client.WithRetryBudget(r.cfg.OpTimeout))
		if err != nil {
			return err
		}
		u := &user{name: fmt.Sprintf("load-%s-%d", r.id, i), c: c}
		if err := c.Register(ctx, u.name, password); err != nil {
			return fmt.Errorf("register %s: %w", u.name, err)
		}
		if _, err := c.Login(ctx, u.name, password); err != nil {
			return fmt.Errorf("log in %s: %w", u.name, err)
		}
		users[i] = u
		m.add(1)
		return nil
	})
	if err != nil {
		return users, err
	}
	size := r.cfg.RoomSize
	subCtx := ctx // the subscriptions outlive the set-up's workers
	err = parallel(ctx, (total+size-1)/size, setupWorkers, func(ctx context.Context, k int) error {
		group := users[k*size : min((k+1)*size, total)]
		var others []string
		for _, u := range group[1:] {
			others = append(others, u.name)
		}
		room, err := group[0].c.CreateRoom(ctx, "load "+r.id, others)
		if err != nil {
			return fmt.Errorf("create room %d: %w", k, err)
		}
		for _, u := range group {
			u.room = room.ID
			u.sub = u.c.Subscribe(subCtx, room.ID, 0)
			go drainMessages(u.sub)
		}
		m.add(1)
		return nil
	})
	return users, err
}

// drainMessages reads a subscription's deliveries, as an app shows them.
func drainMessages(sub *client.Subscription) {
	for range sub.Messages() {
	}
}

// statusServed asks whether the server has GET /v1/status (the status page may not be in this build).
func (r *loadRun) statusServed(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.servers[0]+"/v1/status", nil)
	if err != nil {
		return false
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// phaseOf returns the index of the phase at t, or -1 past the end.
func (r *loadRun) phaseOf(t time.Time) int {
	for i := len(phases) - 1; i >= 0; i-- {
		if !t.Before(r.phaseAt[i]) {
			if !t.Before(r.phaseAt[i+1]) {
				return -1
			}
			return i
		}
	}
	return 0
}

// drive runs one user's operations until the end of the scenario: in every phase in which the user is
// active, at Poisson arrivals of Rate a second. Surge-only users are active in the surge alone.
func (r *loadRun) drive(ctx context.Context, u *user, always bool) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, r.cfg.MaxOutstanding)
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	next := r.start.Add(time.Duration(rng.ExpFloat64() / r.cfg.Rate * float64(time.Second)))
	for {
		if !sleepUntil(ctx, next) {
			return
		}
		p := r.phaseOf(next)
		if p < 0 {
			return
		}
		at := next
		next = next.Add(time.Duration(rng.ExpFloat64() / r.cfg.Rate * float64(time.Second)))
		if !always && phases[p] != "surge" {
			if p == 0 {
				next = r.phaseAt[1] // sleep through the baseline
			}
			continue
		}
		op := r.pick(rng)
		class := opClass(op)
		select {
		case sem <- struct{}{}:
		default:
			r.mu.Lock()
			r.busy[p][class]++
			r.mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			octx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
			defer cancel()
			err := r.do(octx, u, op)
			if op == opTyping && err == nil {
				// A typing notice is written and forgotten: whether the server passed it on or shed
				// it, the client cannot tell, so it counts apart (the server's shed counts cover it).
				r.mu.Lock()
				r.typing[p]++
				r.mu.Unlock()
				return
			}
			r.record(at, time.Since(at), op, class, err)
		}()
	}
}

// pick draws an operation from the mix (status polls only where the server has them).
func (r *loadRun) pick(rng *rand.Rand) string {
	sum := 0.0
	for op, w := range r.cfg.Mix {
		if op != opStatus || r.status {
			sum += w
		}
	}
	x := rng.Float64() * sum
	for _, op := range []string{opSend, opTyping, opMarkRead, opHistory, opListRooms, opStatus} {
		w := r.cfg.Mix[op]
		if op == opStatus && !r.status {
			continue
		}
		if x < w {
			return op
		}
		x -= w
	}
	return opSend
}

// opClass is the priority class the server gives an operation.
func opClass(op string) string {
	if op == opTyping {
		return admission.FrameClass(op).String()
	}
	return admission.ClassOf(op).String()
}

// do carries out one operation through the real API.
func (r *loadRun) do(ctx context.Context, u *user, op string) error {
	switch op {
	case opSend:
		id := fmt.Sprintf("%s-%d", u.name, u.nextID.Add(1))
		m, _, err := u.c.Send(ctx, u.room, id, r.text)
		if err == nil {
			r.mu.Lock()
			if r.acked[u.room] == nil {
				r.acked[u.room] = map[string]uint64{}
			}
			r.acked[u.room][u.name+"/"+id] = m.Seq
			r.mu.Unlock()
		}
		return err
	case opHistory:
		q := haetae.HistoryQuery{Limit: 50}
		if c := u.sub.Cursor(); c > 0 {
			q.Before = c + 1
		}
		_, _, err := u.c.History(ctx, u.room, q)
		return err
	case opListRooms:
		_, err := u.c.Rooms(ctx)
		return err
	case opTyping:
		return u.sub.Typing(ctx)
	case opMarkRead:
		return u.c.MarkRead(ctx, u.room, max(u.sub.Cursor(), 1))
	case opStatus:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.servers[0]+"/v1/status", nil)
		if err != nil {
			return err
		}
		resp, err := r.hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusServiceUnavailable:
			return haetae.Errorf(haetae.EOverloaded, "status: 503")
		case http.StatusTooManyRequests:
			return haetae.Errorf(haetae.ERateLimited, "status: 429")
		}
		return fmt.Errorf("status: %s", resp.Status)
	}
	return fmt.Errorf("unknown operation %q", op)
}

// record counts one finished operation in the second it started.
func (r *loadRun) record(at time.Time, took time.Duration, op, class string, err error) {
	out := outOK
	switch haetae.ErrorCode(err) {
	case "":
	case haetae.EOverloaded, haetae.ERateLimited:
		out = outShed
	default:
		out = outErr
	}
	sec := int(at.Sub(r.start) / time.Second)
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.secs) <= sec {
		r.secs = append(r.secs, secondStats{ok: map[string]int{}, shed: map[string]int{}, errs: map[string]int{}, lat: map[string][]float64{}})
	}
	s := &r.secs[sec]
	switch out {
	case outOK:
		s.ok[class]++
		if len(s.lat[class]) < maxLatencies {
			s.lat[class] = append(s.lat[class], float64(took)/float64(time.Millisecond))
		}
	case outShed:
		s.shed[class]++
	default:
		s.errs[class]++
		if r.firstErr == nil {
			r.firstErr = map[string]string{}
		}
		if r.firstErr[op] == "" {
			r.firstErr[op] = err.Error()
		}
	}
}

// sample reads the server's /metrics every second into res.Timeline and redraws the progress bar, until
// the returned function is called.
func (r *loadRun) sample(ctx context.Context, res *LoadResult, progress io.Writer) (stop func()) {
	total := r.phaseAt[len(r.phaseAt)-1].Sub(r.start)
	bar := progressbar.NewOptions(int(total.Seconds()),
		progressbar.OptionSetWriter(progress),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionShowCount(),
		progressbar.OptionSetVisibility(progress != io.Discard),
	)
	done := make(chan struct{})
	stopped := make(chan struct{})
	var prevShed map[string]float64
	var surgeEnd = r.phaseAt[2]
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m := scrape(ctx, r.hc, r.servers[0])
			if len(m) == 0 && len(res.Timeline) > 0 { // a failed scrape: the server's figures of the second before
				last := res.Timeline[len(res.Timeline)-1]
				m = map[string]float64{"process_resident_memory_bytes": float64(last.RSSBytes), "haetae_admission_limit": float64(last.Limit), "haetae_admission_queued": float64(last.Queued)}
				for c, v := range prevShed {
					m["haetae_admission_shed_total|"+c] = v
				}
			}
			// T is the second the sample closes, from the clock: a slow scrape must not shift the timeline.
			sec := max(int(math.Round(time.Since(r.start).Seconds())), 1)
			if len(res.Timeline) > 0 && sec <= int(res.Timeline[len(res.Timeline)-1].T) {
				sec = int(res.Timeline[len(res.Timeline)-1].T) + 1
			}
			s := Sample{T: float64(sec), ServerShed: map[string]int{}, RSSBytes: int64(m["process_resident_memory_bytes"]),
				Limit: int(m["haetae_admission_limit"]), Queued: int(m["haetae_admission_queued"])}
			p := r.phaseOf(r.start.Add(time.Duration(sec-1) * time.Second))
			if p < 0 {
				p = len(phases) - 1
			}
			s.Phase = phases[p]
			shed := map[string]float64{}
			for _, c := range admission.Classes {
				shed[c.String()] = m["haetae_admission_shed_total|"+c.String()]
				if prevShed != nil {
					s.ServerShed[c.String()] = int(shed[c.String()] - prevShed[c.String()])
				}
			}
			prevShed = shed
			now := time.Now()
			if res.DrainSeconds < 0 && now.After(surgeEnd) && s.Queued == 0 && m["haetae_admission_inflight"] < float64(s.Limit) {
				res.DrainSeconds = now.Sub(surgeEnd).Seconds()
			}
			res.PeakRSSBytes = max(res.PeakRSSBytes, s.RSSBytes)
			res.Timeline = append(res.Timeline, s)
			bar.Describe(fmt.Sprintf("%-8s limit %4d queued %4d rss %4d MiB", s.Phase, s.Limit, s.Queued, s.RSSBytes>>20))
			bar.Set(min(sec, int(total.Seconds())))
		}
	}()
	return func() {
		close(done)
		<-stopped
		bar.Finish()
		if progress != io.Discard {
			fmt.Fprintln(progress)
		}
	}
}

// summarize fills the per-second client figures into the timeline and the per-phase results.
func (r *loadRun) summarize(res *LoadResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.FirstErrors = r.firstErr
	res.Typing = r.typing[:]
	for i := range res.Timeline {
		s := &res.Timeline[i]
		s.OK, s.Shed, s.Errors, s.P99Ms = map[string]int{}, map[string]int{}, map[string]int{}, map[string]float64{}
		if k := int(s.T) - 1; k >= 0 && k < len(r.secs) {
			sec := r.secs[k]
			for _, c := range admission.Classes {
				name := c.String()
				s.OK[name], s.Shed[name], s.Errors[name] = sec.ok[name], sec.shed[name], sec.errs[name]
				_, s.P99Ms[name] = msPercentiles(sec.lat[name])
			}
		}
	}
	for p, phase := range phases {
		from := int(r.phaseAt[p].Sub(r.start) / time.Second)
		to := int(r.phaseAt[p+1].Sub(r.start) / time.Second)
		secs := r.phaseAt[p+1].Sub(r.phaseAt[p]).Seconds()
		for _, c := range admission.Classes {
			name := c.String()
			pr := PhaseResult{Phase: phase, Class: name, Busy: r.busy[p][name]}
			var lat []float64
			for i := from; i < to && i < len(r.secs); i++ {
				sec := r.secs[i]
				pr.OK += sec.ok[name]
				pr.Shed += sec.shed[name]
				pr.Errors += sec.errs[name]
				lat = append(lat, sec.lat[name]...)
			}
			pr.Offered = pr.OK + pr.Shed + pr.Errors
			pr.Goodput = float64(pr.OK) / secs
			pr.P50Ms, pr.P99Ms = msPercentiles(lat)
			res.Phases = append(res.Phases, pr)
		}
	}
}

// msPercentiles returns p50 and p99 of latencies in milliseconds; zeros when empty.
func msPercentiles(ms []float64) (p50, p99 float64) {
	if len(ms) == 0 {
		return 0, 0
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(q float64) float64 { return s[max(int(math.Ceil(q*float64(len(s))))-1, 0)] }
	return at(0.5), at(0.99)
}

// verify reads every room's history and counts the acknowledged sends that are not in it.
func (r *loadRun) verify(ctx context.Context, users []*user) (acked, lost int, err error) {
	r.mu.Lock()
	want := r.acked
	r.mu.Unlock()
	// A fresh client per room reads it: the users' own clients may still throttle themselves after
	// the surge, and a reader must not be refused by its own throttle.
	byRoom := map[string]*client.Client{}
	for _, u := range users {
		if byRoom[u.room] == nil {
			c, err := client.New(r.servers, client.WithHTTPClient(r.hc), client.WithDiscovery(false), client.WithToken(u.c.Token()), client.WithThrottle(0, 0))
			if err != nil {
				return 0, 0, err
			}
			byRoom[u.room] = c
		}
	}
	for room, ids := range want {
		acked += len(ids)
		found := map[string]uint64{}
		var after uint64
		for page := 0; page < 100000; page++ { // bounded: a page holds up to 500 messages
			vctx, cancel := context.WithTimeout(ctx, time.Minute)
			msgs, next, err := byRoom[room].History(vctx, room, haetae.HistoryQuery{After: after, Limit: 500})
			cancel()
			if err != nil {
				return acked, lost, fmt.Errorf("verify: read history of %s: %w", room, err)
			}
			for _, m := range msgs {
				found[m.From+"/"+m.ClientID] = m.Seq
			}
			if len(msgs) < 500 {
				break
			}
			after = next
		}
		for id, seq := range ids {
			if found[id] != seq {
				lost++
			}
		}
	}
	return acked, lost, nil
}

// scrape reads a Prometheus text page into name → value, summing the series of a name; series of the
// admission metrics are also kept by class as "name|class". A failed scrape gives an empty map.
func scrape(ctx context.Context, hc *http.Client, base string) map[string]float64 {
	out := map[string]float64{}
	// Within the second between samples: a node too busy to answer keeps its last figures.
	ctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return out
	}
	resp, err := hc.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return out
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var v float64
			switch {
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetUntyped() != nil:
				v = m.GetUntyped().GetValue()
			default:
				continue
			}
			out[name] += v
			for _, l := range m.GetLabel() {
				if l.GetName() == "class" {
					out[name+"|"+l.GetValue()] += v
				}
			}
		}
	}
	return out
}
