package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/haetae/haetae"
	"github.com/haetae/haetae/admission"
	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The surge test's node has a slow disk: it commits one message per surgeCommitCost, at most
// surgeBatchMax at a time, so that its capacity is a few sends a second. Ten times that is then within
// what this test's own clients can offer, race-instrumented on two cores shared with other work; against
// the node's real capacity (thousands a second) they could not, and the node would be starved of CPU by
// its own load generator rather than overloaded. Everything else is the real node.
const (
	surgeCommitCost = 150 * time.Millisecond
	surgeBatchMax   = 1
	surgeUsers      = 24
	surgeRoomSize   = 4
	surgeMeasure    = 5 * time.Second
	surgeHistory    = 1000 // messages in the slow consumer's room before the surge
	surgeDuration   = 10 * time.Second
	surgeFactor     = 10
	surgeOpTimeout  = 15 * time.Second
	// surgeMaxOps bounds the test's own operations in flight; past it an arrival is not started.
	surgeMaxOps = 3000
	// surgeRSSBound is the most the test process (node and clients, race detector included) may hold.
	surgeRSSBound = 1536 << 20
)

// surgeMix is the share of each operation in the surge: a third sends (critical), a third history and
// room lists (normal), a third read receipts (sheddable).
var surgeMix = []struct {
	op    string
	share float64
}{{"send", 0.34}, {"history", 0.16}, {"list_rooms", 0.17}, {"mark_read", 0.33}}

// ackLog keeps every acknowledged send: room → "from/client_id" → seq.
type ackLog struct {
	mu   sync.Mutex
	m    map[string]map[string]uint64
	seqs []uint64
}

func (a *ackLog) add(room, from, clientID string, seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]map[string]uint64{}
	}
	if a.m[room] == nil {
		a.m[room] = map[string]uint64{}
	}
	a.m[room][from+"/"+clientID] = seq
	a.seqs = append(a.seqs, seq)
}

// committed counts the acknowledged sends with a seq in (from, to]: with one message stream, seqs follow
// the order of commits, so these are the acknowledged sends committed between two readings of the
// stream's last seq.
func (a *ackLog) committed(from, to uint64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.seqs {
		if s > from && s <= to {
			n++
		}
	}
	return n
}

// lastSeq reads the message stream's last seq from JetStream.
func lastSeq(tb testing.TB, nc *nats.Conn) uint64 {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "HAETAE_MSGS_0")
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.LastSeq
}

// TestSurge drives a node at ten times the rate it sustains, with a realistic mix, and checks that it
// absorbs the surge: the process stays up with its memory under a bound, no acknowledged message is lost,
// critical sends keep at least 90% of the node's measured capacity (and what it commits is acknowledged,
// not done for clients that have gone), sheddable and normal work is shed before critical work, a slow live consumer is cut off and resumes from its cursor losing nothing, and
// the backlog drains afterwards. Nothing about speed is asserted beyond the share of the capacity.
func TestSurge(t *testing.T) {
	if testing.Short() {
		t.Skip("the surge takes about a minute")
	}
	cfg := testnode.Config(t)
	// The adaptive limit moves once per window of 50 requests: at the few sends a second of this slow
	// disk that takes many seconds, so the range it may move in is set for such a disk (at most 12 in
	// flight, two seconds of its work) rather than for the thousands a second of a real one.
	cfg.Admission.MinLimit, cfg.Admission.InitialLimit, cfg.Admission.MaxLimit = 4, 8, 12
	cfg.Store.BatchMax = surgeBatchMax
	cfg.Store.LiveBuffer = 8
	// The slow disk does one message per surgeCommitCost, paced by the clock rather than added to each
	// commit: like a real device its rate does not drop when the CPU is busy (with a surge, or with the
	// tests of other packages running alongside), as long as a commit's own work takes less than that.
	var slowDisk atomic.Bool
	var diskMu sync.Mutex
	var diskFree time.Time
	cfg.Store.OnCommit = func(n int, _ time.Duration) {
		if !slowDisk.Load() {
			return
		}
		diskMu.Lock()
		if now := time.Now(); diskFree.Before(now) {
			diskFree = now
		}
		diskFree = diskFree.Add(time.Duration(n) * surgeCommitCost)
		wait := time.Until(diskFree)
		diskMu.Unlock()
		time.Sleep(wait)
	}
	n := testnode.MustStart(t, cfg)
	base := n.URL()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: surgeMaxOps, MaxIdleConnsPerHost: surgeMaxOps, IdleConnTimeout: time.Minute}}
	defer hc.CloseIdleConnections()
	type surgeUser struct {
		name, room string
		c          *client.Client
		next       atomic.Int64
	}
	users := make([]*surgeUser, surgeUsers)
	for i := range users {
		name := fmt.Sprintf("surge%d", i)
		token := testnode.MustUser(t, base, name)
		c, err := client.New([]string{base}, client.WithHTTPClient(hc), client.WithToken(token), client.WithDiscovery(false), client.WithRetryBudget(surgeOpTimeout))
		if err != nil {
			t.Fatal(err)
		}
		users[i] = &surgeUser{name: name, c: c}
	}
	var rooms []string
	for k := 0; k < surgeUsers; k += surgeRoomSize {
		var others []string
		for _, u := range users[k+1 : k+surgeRoomSize] {
			others = append(others, u.name)
		}
		rm, err := users[k].c.CreateRoom(ctx, "surge", others)
		if err != nil {
			t.Fatal(err)
		}
		rooms = append(rooms, rm.ID)
		for _, u := range users[k : k+surgeRoomSize] {
			u.room = rm.ID
		}
	}
	acks := &ackLog{}
	text := strings.Repeat("surge ", 100)
	sendWith := func(ctx context.Context, c *client.Client, u *surgeUser) error {
		id := strconv.FormatInt(u.next.Add(1), 10)
		m, _, err := c.Send(ctx, u.room, id, text)
		if err == nil {
			acks.add(u.room, u.name, id, m.Seq)
		}
		return err
	}
	send := func(ctx context.Context, u *surgeUser) error { return sendWith(ctx, u.c, u) }

	// 0. The slow consumer's room gets a history long enough to fill the live buffers, while the disk is
	// still fast.
	var wg sync.WaitGroup
	for _, u := range users[:surgeRoomSize] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < surgeHistory/surgeRoomSize; i++ {
				if err := send(ctx, u); err != nil {
					t.Errorf("fill history: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	slowDisk.Store(true)

	// 1. The node's capacity: as many sends a second as it commits and acknowledges to clients that
	// keep it busy.
	nc, err := n.NATS.Connect("surge-test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if cfg.Store.Shards != 1 {
		t.Fatal("the test reads commits from the one message stream of a single node")
	}
	measure := func() float64 {
		seq0 := lastSeq(t, nc)
		start := time.Now()
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A client of its own, which has learned nothing from a surge: it neither throttles
				// itself nor spares its retries, so that the node is kept busy.
				c, err := client.New([]string{base}, client.WithHTTPClient(hc), client.WithToken(u.c.Token()), client.WithDiscovery(false),
					client.WithThrottle(0, 0), client.WithRetryRatio(-1, 0))
				if err != nil {
					t.Error(err)
					return
				}
				for time.Since(start) < surgeMeasure && ctx.Err() == nil {
					sendWith(ctx, c, u)
				}
			}()
		}
		wg.Wait()
		return float64(acks.committed(seq0, lastSeq(t, nc))) / time.Since(start).Seconds()
	}
	capacity := measure()
	t.Logf("capacity: %.1f sends/s", capacity)
	if capacity < 2 {
		t.Fatalf("capacity of %.1f sends/s is too low to measure a surge against", capacity)
	}

	// 2. A live consumer that subscribes to the busiest room from its start and then reads nothing
	// during the surge: its catch-up fills the server's buffers, and the surge's messages overflow them.
	slow := dialSlowConsumer(t, base, users[0].c.Token(), rooms[0], func() bool {
		return counter(t, n.Registry, "haetae_live_slow_consumers_total") > 0
	})
	testnode.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if gauge(t, n.Registry, "haetae_live_subscriptions") < 1 {
			return errors.New("the slow consumer's subscription is not made yet")
		}
		return nil
	})

	// 3. The surge: ten times the capacity, open-loop (arrivals do not wait for answers), for a while.
	var peakRSS atomic.Int64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			peakRSS.Store(max(peakRSS.Load(), rss(t)))
			select {
			case <-tk.C:
			case <-stopRSS:
				return
			}
		}
	}()
	before := n.API.Admission.Stats()
	rate := surgeFactor * capacity
	var inflight atomic.Int64
	var notStarted atomic.Int64
	var outcome sync.Map // class → *[3]atomic.Int64: ok, shed, other error
	count := func(class string, err error) {
		v, _ := outcome.LoadOrStore(class, new([3]atomic.Int64))
		c := v.(*[3]atomic.Int64)
		switch haetae.ErrorCode(err) {
		case "":
			c[0].Add(1)
		case haetae.EOverloaded, haetae.ERateLimited:
			c[1].Add(1)
		default:
			if c[2].Add(1) == 1 {
				t.Logf("first %s error: %v", class, err)
			}
		}
	}
	surgeSeq := lastSeq(t, nc)
	surgeStart := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	due := 0.0
	tick := time.NewTicker(10 * time.Millisecond)
	for last := surgeStart; time.Since(surgeStart) < surgeDuration && ctx.Err() == nil; {
		now := <-tick.C
		due += rate * now.Sub(last).Seconds()
		last = now
		for ; due >= 1; due-- {
			if inflight.Load() >= surgeMaxOps {
				notStarted.Add(1)
				continue
			}
			u := users[rng.IntN(len(users))]
			if rng.IntN(2) == 0 {
				u = users[rng.IntN(surgeRoomSize)] // half the traffic is in the slow consumer's room
			}
			op, x := surgeMix[len(surgeMix)-1].op, rng.Float64()
			for _, m := range surgeMix {
				if x < m.share {
					op = m.op
					break
				}
				x -= m.share
			}
			inflight.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer inflight.Add(-1)
				octx, cancel := context.WithTimeout(ctx, surgeOpTimeout)
				defer cancel()
				var err error
				switch op {
				case "send":
					err = send(octx, u)
				case "history":
					_, _, err = u.c.History(octx, u.room, haetae.HistoryQuery{Limit: 50})
				case "list_rooms":
					_, err = u.c.Rooms(octx)
				case "mark_read":
					err = u.c.MarkRead(octx, u.room, 1)
				}
				count(admission.ClassOf(op).String(), err)
			}()
		}
	}
	tick.Stop()
	surgeEnd := time.Now()
	surgeEndSeq := lastSeq(t, nc)
	wg.Wait() // every operation ends within surgeOpTimeout
	close(stopRSS)
	<-rssDone

	// 4. The backlog drains: nothing waits or runs any more, and the node answers at once again.
	testnode.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		s := n.API.Admission.Stats()
		if q := s.Queued[admission.Critical] + s.Queued[admission.Normal] + s.Queued[admission.Sheddable]; q > 0 || s.Inflight > 0 {
			return fmt.Errorf("still %d waiting and %d in flight", q, s.Inflight)
		}
		return nil
	})
	after := n.API.Admission.Stats()
	if r := testnode.Do(t, "GET", base+"/healthz", "", nil); r.Status != 200 {
		t.Fatalf("healthz after the surge: %d", r.Status)
	}
	for i, u := range users[:5] {
		// Fresh clients: the users' own still throttle themselves after what the surge taught them.
		c, err := client.New([]string{base}, client.WithToken(u.c.Token()), client.WithDiscovery(false), client.WithThrottle(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		id := "after-" + strconv.Itoa(i)
		m, _, err := c.Send(ctx, u.room, id, text)
		if err != nil {
			t.Fatalf("send after the surge: %v", err)
		}
		acks.add(u.room, u.name, id, m.Seq)
	}

	// What the clients saw, and what the node shed.
	for _, c := range admission.Classes {
		v, _ := outcome.LoadOrStore(c.String(), new([3]atomic.Int64))
		o := v.(*[3]atomic.Int64)
		t.Logf("%-9s ok %5d  shed %5d  other errors %4d | node: admitted %5d  shed %5d %v", c, o[0].Load(), o[1].Load(), o[2].Load(),
			after.Admitted[c]-before.Admitted[c], sum(after.Shed[c])-sum(before.Shed[c]), after.Shed[c])
	}
	t.Logf("offered %.0f ops/s for %s; %d arrivals not started (test's own cap); peak RSS %d MiB; limit now %d",
		rate, surgeEnd.Sub(surgeStart).Round(time.Millisecond), notStarted.Load(), peakRSS.Load()>>20, after.Limit)

	// The process stayed within its memory bound.
	if p := peakRSS.Load(); p > surgeRSSBound {
		t.Errorf("peak RSS %d MiB, bound %d MiB", p>>20, surgeRSSBound>>20)
	}
	// Critical sends kept going: of what the node committed during the surge, what was acknowledged to
	// its clients is at least 90% of its capacity. The capacity is measured again after the surge and
	// the lower of the two is taken: this machine's other work (the tests of other packages run
	// alongside) moves it, and the node cannot commit faster than its disk and CPU allow.
	after2 := measure()
	t.Logf("capacity after the surge: %.1f sends/s", after2)
	capacity = min(capacity, after2)
	committed := surgeEndSeq - surgeSeq
	acked := acks.committed(surgeSeq, surgeEndSeq)
	goodput := float64(acked) / surgeEnd.Sub(surgeStart).Seconds()
	t.Logf("critical goodput during the surge: %.1f sends/s (%.0f%% of capacity); %d of the %d messages committed were acknowledged",
		goodput, 100*goodput/capacity, acked, committed)
	if goodput < 0.9*capacity {
		t.Errorf("critical goodput %.1f sends/s during the surge, below 90%% of the capacity (%.1f)", goodput, capacity)
	}
	if float64(acked) < 0.9*float64(committed) {
		t.Errorf("of %d messages committed during the surge only %d were acknowledged: the node worked for clients that had gone", committed, acked)
	}
	// Lower classes were shed first: a larger share of them than of critical work.
	frac := func(c admission.Class) float64 {
		shed := sum(after.Shed[c]) - sum(before.Shed[c])
		total := shed + after.Admitted[c] - before.Admitted[c]
		if total == 0 {
			return 0
		}
		return float64(shed) / float64(total)
	}
	crit, norm, shedd := frac(admission.Critical), frac(admission.Normal), frac(admission.Sheddable)
	t.Logf("share shed by the node: critical %.2f, normal %.2f, sheddable %.2f", crit, norm, shedd)
	if shedd == 0 || shedd < crit || norm < crit || shedd < norm-0.05 {
		t.Errorf("shed shares critical %.2f, normal %.2f, sheddable %.2f: the lowest class must be shed first", crit, norm, shedd)
	}

	// No acknowledged message was lost: each is in its room's history with its seq.
	acks.mu.Lock()
	want := acks.m
	acks.mu.Unlock()
	total := 0
	for room, ids := range want {
		var member *surgeUser
		for _, u := range users {
			if u.room == room {
				member = u
				break
			}
		}
		got := map[string]uint64{}
		for _, m := range testnode.History(t, base, member.c.Token(), room) {
			got[m.From+"/"+m.ClientID] = m.Seq
		}
		for id, seq := range ids {
			total++
			if got[id] != seq {
				t.Errorf("acknowledged message %s (seq %d) of room %s is not in its history (found seq %d)", id, seq, room, got[id])
			}
		}
	}
	t.Logf("%d acknowledged messages, all in history", total)

	// The slow consumer was cut off, and resuming from its cursor it gets every message once, in order.
	slow.check(t, base, users[0].c.Token(), want[rooms[0]])
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// rss is this process's resident memory now.
func rss(tb testing.TB) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status to read the memory from")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// counter and gauge read a metric of the node's registry.
func counter(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	return metric(tb, reg, name, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

func gauge(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	return metric(tb, reg, name, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
}

func metric(tb testing.TB, reg *prometheus.Registry, name string, value func(*dto.Metric) float64) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			v := 0.0
			for _, m := range f.GetMetric() {
				v += value(m)
			}
			return v
		}
	}
	return 0
}

// slowConsumer is a live connection whose reader is held up, and whose kernel receive buffer is small, so
// that the server's buffers, not the kernel's, fill. Once the server has cut it off (cutOff), it reads
// at full speed, as a reader that was only held up would: it must then find the slow_consumer error
// frame and the close 1013 behind what was already on its way.
type slowConsumer struct {
	room string
	done chan struct{}
	// Written by the reader until done is closed.
	cursor    uint64
	seen      map[string]uint64
	closeCode websocket.StatusCode
	errCode   string
	fault     string
	readErr   error
}

func dialSlowConsumer(tb testing.TB, base, token, room string, cutOff func() bool) *slowConsumer {
	tb.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return c, err
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/live?token="+token, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		tb.Fatalf("dial live: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	tb.Cleanup(func() { ws.CloseNow() })
	b, _ := json.Marshal(map[string]any{"type": "subscribe", "room": room, "after": 0})
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		tb.Fatal(err)
	}
	s := &slowConsumer{room: room, done: make(chan struct{}), seen: map[string]uint64{}, closeCode: -1}
	go func() {
		defer close(s.done)
		for !cutOff() { // a reader held up: it reads nothing until the server has cut it off
			time.Sleep(50 * time.Millisecond)
		}
		for {
			rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, b, err := ws.Read(rctx)
			cancel()
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					s.closeCode = ce.Code
				}
				s.readErr = err
				return
			}
			if s.fault = s.take(b); s.fault != "" {
				return
			}
		}
	}()
	return s
}

// take records one server frame; it returns what is wrong with it, if anything.
func (s *slowConsumer) take(b []byte) string {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Sprintf("frame is not JSON: %q", b)
	}
	switch f.Type {
	case "message":
		m := f.Message
		if m.Seq <= s.cursor {
			return fmt.Sprintf("message seq %d after cursor %d: out of order or duplicate", m.Seq, s.cursor)
		}
		s.cursor = m.Seq
		s.seen[m.From+"/"+m.ClientID] = m.Seq
	case "error":
		s.errCode = f.Error.Code
	}
	return ""
}

// check waits for the slow connection to end, which must be the server's slow_consumer error frame and
// close 1013. It then resumes from its cursor on new connections, as a client must, until it has every
// acknowledged message of the room; each must arrive once and in seq order.
func (s *slowConsumer) check(t *testing.T, base, token string, acked map[string]uint64) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the slow consumer's connection was never closed")
	}
	if s.fault != "" {
		t.Fatal(s.fault)
	}
	if s.closeCode != websocket.StatusTryAgainLater || s.errCode != haetae.ESlowConsumer {
		t.Fatalf("the slow consumer's connection ended with close %d after error %q (%d messages, cursor %d, read error %v); want 1013 after slow_consumer", s.closeCode, s.errCode, len(s.seen), s.cursor, s.readErr)
	}
	t.Logf("slow consumer cut off at cursor %d after %d messages; resuming", s.cursor, len(s.seen))
	complete := func() bool {
		for id := range acked {
			if _, ok := s.seen[id]; !ok {
				return false
			}
		}
		return true
	}
	for attempt := 0; !complete(); attempt++ {
		if attempt == 10 {
			t.Fatalf("after 10 resumptions the consumer still lacks messages (cursor %d)", s.cursor)
		}
		ws := dialLive(t, base, token)
		ws.send(t, map[string]any{"type": "subscribe", "room": s.room, "after": s.cursor})
		for !complete() {
			f, err := ws.read(t, 15*time.Second)
			if err != nil {
				break
			}
			b, _ := json.Marshal(f)
			if fault := s.take(b); fault != "" {
				t.Fatal(fault)
			}
		}
		ws.c.Close(websocket.StatusNormalClosure, "")
	}
	for id, seq := range acked {
		if s.seen[id] != seq {
			t.Errorf("the slow consumer got %s as seq %d, acknowledged as %d", id, s.seen[id], seq)
		}
	}
}
