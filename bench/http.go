package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/node"
)

const (
	sendTimeout   = 30 * time.Second
	warmupTimeout = 30 * time.Second
	setupWorkers  = 8
	warmupID      = "warmup"
)

// startNode runs a node in dir the way `haetae serve` does, fsync always, on a free loopback port.
func startNode(ctx context.Context, dir string, adjust func(*node.Config)) (*node.Node, error) {
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.LazySync = false
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if adjust != nil {
		adjust(&cfg)
	}
	n := node.New(cfg)
	if err := n.Open(ctx); err != nil {
		return nil, fmt.Errorf("start in-process node: %w", err)
	}
	return n, nil
}

// startTempNode starts a node as startNode does, with its data in a fresh directory under tempDir ("" is
// the system's), after the adjustments (nil ones are skipped). stop closes it and removes the directory.
func startTempNode(ctx context.Context, tempDir, prefix string, adjust ...func(*node.Config)) (n *node.Node, stop func(), err error) {
	dir, err := os.MkdirTemp(tempDir, prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir: %w", err)
	}
	n, err = startNode(ctx, dir, func(c *node.Config) {
		for _, a := range adjust {
			if a != nil {
				a(c)
			}
		}
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return n, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		n.Close(cctx)
		os.RemoveAll(dir)
	}, nil
}

// follower is one subscription of one room, and what it received. Its fields other than got belong to
// its reading goroutine until done is closed.
type follower struct {
	room   int
	sub    *client.Subscription
	warm   chan struct{}
	done   chan struct{}
	got    atomic.Int64
	seen   []uint64 // bit i: message i arrived
	lat    []int64  // delivery latencies, ns
	dups   int
	ooo    int
	extra  int
	last   uint64
	warmed bool
}

// httpRun is the state of one measurement through the API.
type httpRun struct {
	cfg     Config
	id      string
	roomIDs []string
	// starts[i] is when message i's send began (UnixNano), 0 before; acked[i] is written only by the
	// sender that owns i and read after all senders finished.
	starts []atomic.Int64
	acked  []bool
	text   string
}

func runHTTP(ctx context.Context, cfg Config, servers []string, progress io.Writer) (*HTTPResult, error) {
	r := &httpRun{cfg: cfg, id: runID(), starts: make([]atomic.Int64, cfg.Messages), acked: make([]bool, cfg.Messages)}
	r.text = filler(cfg.TextBytes)
	nUsers := max(cfg.Clients, cfg.Subscribers)
	hc := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2*nUsers + 16,
		MaxIdleConnsPerHost: 2*nUsers + 16,
		IdleConnTimeout:     90 * time.Second,
	}}
	defer hc.CloseIdleConnections()

	// Users: client i sends as user i, subscriber j follows as user j.
	clients := make([]*client.Client, nUsers)
	names := make([]string, nUsers)
	password := "bench-" + r.id + "-password"
	setup := startMeter(progress, nUsers+cfg.Rooms, "setup: users, rooms")
	err := parallel(ctx, nUsers, setupWorkers, func(ctx context.Context, i int) error {
		names[i] = fmt.Sprintf("bench-%s-%d", r.id, i)
		// Client i starts at server i mod n, so a run against a cluster spreads its load over every
		// node; the others remain its failover endpoints.
		rotated := append(slices.Clone(servers[i%len(servers):]), servers[:i%len(servers)]...)
		c, err := client.New(rotated, client.WithHTTPClient(hc), client.WithDiscovery(false))
		if err != nil {
			return err
		}
		if err := c.Register(ctx, names[i], password); err != nil {
			return fmt.Errorf("register %s: %w", names[i], err)
		}
		if _, err := c.Login(ctx, names[i], password); err != nil {
			return fmt.Errorf("log in %s: %w", names[i], err)
		}
		clients[i] = c
		setup.add(1)
		return nil
	})
	if err != nil {
		setup.finish()
		return nil, err
	}
	r.roomIDs = make([]string, cfg.Rooms)
	err = parallel(ctx, cfg.Rooms, setupWorkers, func(ctx context.Context, k int) error {
		room, err := clients[0].CreateRoom(ctx, fmt.Sprintf("bench %s room %d", r.id, k), names[1:])
		if err != nil {
			return fmt.Errorf("create room %d: %w", k, err)
		}
		r.roomIDs[k] = room.ID
		setup.add(1)
		return nil
	})
	setup.finish()
	if err != nil {
		return nil, err
	}

	followers, err := r.follow(ctx, clients[:cfg.Subscribers])
	defer func() {
		for _, f := range followers {
			f.sub.Close()
		}
	}()
	if err != nil {
		return nil, err
	}

	res := &HTTPResult{}
	sendLat := r.send(ctx, clients[:cfg.Clients], res, progress)

	// Wait until every subscription has what was acknowledged in its room, or the drain time is up.
	expected := make([]int64, cfg.Rooms)
	for i, ok := range r.acked {
		if ok {
			expected[r.roomOf(i)]++
		}
	}
	drainUntil := time.Now().Add(cfg.DrainTimeout)
	for _, f := range followers {
		res.Expected += int(expected[f.room])
		f.wait(ctx, expected[f.room], drainUntil)
	}
	res.PeakRSSBytes = peakRSS()
	if len(cfg.Servers) == 0 {
		res.RSSScope = "this process: the in-process node and the bench clients"
	} else {
		res.RSSScope = "this process: the bench clients only; the remote server's memory is not measured"
	}

	var delivLat []int64
	for _, f := range followers {
		select {
		case <-f.done:
			if err := f.sub.Err(); err != nil {
				res.SubscriberErrors = append(res.SubscriberErrors, fmt.Sprintf("room %d ended early: %v", f.room, err))
			} else {
				res.SubscriberErrors = append(res.SubscriberErrors, fmt.Sprintf("room %d ended early", f.room))
			}
		default:
		}
		f.sub.Close()
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("subscription of room %d did not end after Close", f.room)
		}
		res.Deliveries += int(f.got.Load())
		res.Duplicates += f.dups
		res.OutOfOrder += f.ooo
		for i, ok := range r.acked {
			if ok && r.roomOf(i) == f.room && f.seen[i/64]&(1<<(i%64)) == 0 {
				res.Missing++
			}
		}
		delivLat = append(delivLat, f.lat...)
	}
	res.SendP50Ms, res.SendP99Ms, res.SendMaxMs = percentiles(sendLat)
	res.DeliveryP50Ms, res.DeliveryP99Ms, res.DeliveryMaxMs = percentiles(delivLat)
	return res, nil
}

// follow subscribes every subscriber to its rooms (every room gets at least one subscription) and waits
// until each subscription has received a warm-up message, so that the measurement starts with live
// subscriptions rather than with their set-up.
func (r *httpRun) follow(ctx context.Context, subs []*client.Client) ([]*follower, error) {
	var followers []*follower
	rooms := r.cfg.Rooms
	for j, c := range subs {
		var mine []int
		if len(subs) >= rooms {
			mine = []int{j % rooms}
		} else {
			for k := j; k < rooms; k += len(subs) {
				mine = append(mine, k)
			}
		}
		for _, k := range mine {
			f := &follower{room: k, warm: make(chan struct{}), done: make(chan struct{}), seen: make([]uint64, (r.cfg.Messages+63)/64)}
			f.sub = c.Subscribe(ctx, r.roomIDs[k], 0)
			followers = append(followers, f)
			go r.receive(f)
		}
	}
	if len(followers) == 0 {
		return nil, nil
	}
	err := parallel(ctx, rooms, setupWorkers, func(ctx context.Context, k int) error {
		_, _, err := subs[0].Send(ctx, r.roomIDs[k], warmupID, "warm-up "+r.id)
		return err
	})
	if err != nil {
		return followers, fmt.Errorf("send warm-up messages: %w", err)
	}
	deadline := time.After(warmupTimeout)
	for _, f := range followers {
		select {
		case <-f.warm:
		case <-f.done:
			return followers, fmt.Errorf("subscription of room %d ended before the warm-up message: %v", f.room, f.sub.Err())
		case <-deadline:
			return followers, fmt.Errorf("subscription of room %d did not receive the warm-up message in %s", f.room, warmupTimeout)
		case <-ctx.Done():
			return followers, ctx.Err()
		}
	}
	return followers, nil
}

// wait returns when f has received n messages, has ended, or until has passed.
func (f *follower) wait(ctx context.Context, n int64, until time.Time) {
	for f.got.Load() < n && time.Now().Before(until) && ctx.Err() == nil {
		select {
		case <-f.done:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// receive records what one subscription delivers until it ends.
func (r *httpRun) receive(f *follower) {
	defer close(f.done)
	for m := range f.sub.Messages() {
		now := time.Now().UnixNano()
		if m.Seq <= f.last {
			f.ooo++
		}
		f.last = max(f.last, m.Seq)
		if m.ClientID == warmupID {
			if !f.warmed {
				f.warmed = true
				close(f.warm)
			}
			continue
		}
		i, ok := messageIndex(m.ClientID)
		if !ok || i >= r.cfg.Messages || r.roomOf(i) != f.room {
			f.extra++
			continue
		}
		if f.seen[i/64]&(1<<(i%64)) != 0 {
			f.dups++
			continue
		}
		f.seen[i/64] |= 1 << (i % 64)
		if st := r.starts[i].Load(); st != 0 {
			f.lat = append(f.lat, now-st)
		}
		f.got.Add(1)
	}
}

// send runs the senders until cfg.Messages are sent or cfg.Duration is up and returns the send latencies
// of acknowledged messages, ns. Message i goes to room i mod Rooms; with a rate, it is sent no earlier
// than i/Rate seconds after the start.
func (r *httpRun) send(ctx context.Context, senders []*client.Client, res *HTTPResult, progress io.Writer) []int64 {
	cfg := r.cfg
	bar := startMeter(progress, cfg.Messages, "http send")
	defer bar.finish()
	if cfg.CPUProfile != nil && pprof.StartCPUProfile(cfg.CPUProfile) == nil {
		defer pprof.StopCPUProfile()
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      = make([]int64, 0, cfg.Messages)
		wg       sync.WaitGroup
		start    = time.Now()
		deadline = start.Add(cfg.Duration)
	)
	for _, c := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			sent, errs := 0, 0
			var firstErr error
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				res.Sent += sent
				res.Acked += len(mine)
				res.Errors += errs
				if firstErr != nil && res.FirstError == "" {
					res.FirstError = firstErr.Error()
				}
				mu.Unlock()
			}()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				// Take the next block of messages: one, or with --batch a run of Batch for one room.
				first := int(next.Add(int64(r.batch())) - int64(r.batch()))
				if first >= cfg.Messages {
					return
				}
				n := min(r.batch(), cfg.Messages-first)
				if cfg.Rate > 0 {
					at := start.Add(time.Duration(float64(first) / cfg.Rate * float64(time.Second)))
					if at.After(deadline) {
						return
					}
					if !sleepUntil(ctx, at) {
						return
					}
				}
				room := r.roomIDs[r.roomOf(first)]
				t0 := time.Now()
				for i := first; i < first+n; i++ {
					r.starts[i].Store(t0.UnixNano())
				}
				sctx, cancel := context.WithTimeout(ctx, sendTimeout)
				errsOf := r.sendBlock(sctx, c, room, first, n)
				cancel()
				d := time.Since(t0)
				for j, err := range errsOf {
					sent++
					if err != nil {
						errs++
						if firstErr == nil {
							firstErr = err
						}
						continue
					}
					r.acked[first+j] = true
					mine = append(mine, int64(d))
					bar.add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.AckedPerSec = float64(res.Acked) / res.Seconds
	}
	return lat
}

// batch is how many messages one request carries: 1, or Config.Batch.
func (r *httpRun) batch() int { return max(r.cfg.Batch, 1) }

// roomOf is the room index of message i: round robin, by message or, with batches, by batch.
func (r *httpRun) roomOf(i int) int { return (i / r.batch()) % r.cfg.Rooms }

// sendBlock sends messages first..first+n-1 to room, one request each or one batch, and returns each
// message's error (nil when acknowledged as itself).
func (r *httpRun) sendBlock(ctx context.Context, c *client.Client, room string, first, n int) []error {
	errs := make([]error, n)
	check := func(i int, msg *haetae.Message) error {
		if cid := "m" + strconv.Itoa(i); msg == nil || msg.ClientID != cid || msg.Room != room {
			return fmt.Errorf("send %s was answered with another message: %+v", cid, msg)
		}
		return nil
	}
	if r.batch() == 1 {
		msg, _, err := c.Send(ctx, room, "m"+strconv.Itoa(first), r.messageText(first))
		if err == nil {
			err = check(first, msg)
		}
		errs[0] = err
		return errs
	}
	items := make([]haetae.SendItem, n)
	for j := range items {
		items[j] = haetae.SendItem{ClientID: "m" + strconv.Itoa(first+j), Text: r.messageText(first + j)}
	}
	res, err := c.SendBatch(ctx, room, items)
	for j := range errs {
		switch {
		case err != nil:
			errs[j] = err
		case res[j].Err != nil:
			errs[j] = res[j].Err
		default:
			errs[j] = check(first+j, res[j].Message)
		}
	}
	return errs
}

// messageText is message i's text, TextBytes long.
func (r *httpRun) messageText(i int) string {
	p := fmt.Sprintf("bench %s message %d: ", r.id, i)
	if len(p) >= len(r.text) {
		return p
	}
	return p + r.text[len(p):]
}

func messageIndex(clientID string) (int, bool) {
	if !strings.HasPrefix(clientID, "m") {
		return 0, false
	}
	i, err := strconv.Atoi(clientID[1:])
	return i, err == nil && i >= 0
}

// filler is n bytes of plain text.
func filler(n int) string {
	const words = "the quick brown fox jumps over the lazy dog while haetae guards the gate; "
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words)
	}
	return b.String()[:n]
}

// runID names one run's users and rooms so that runs against the same server do not collide.
func runID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// parallel runs f(0..n-1) on at most workers goroutines and returns the first error; the others are
// canceled then.
func parallel(ctx context.Context, n, workers int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(n, workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}
