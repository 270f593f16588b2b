package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/node"
)

// deadAddr is an endpoint where nothing listens: port 1 on loopback refuses connections at once.
const deadAddr = "http://127.0.0.1:1"

const password = "correct horse battery"

// newNode starts a node on dataDir listening at listen, and closes it when the test ends.
func newNode(tb testing.TB, dataDir, listen string) *node.Node {
	tb.Helper()
	cfg := testnode.Config(tb)
	cfg.DataDir = dataDir
	cfg.Listen = listen
	cfg.ShutdownTimeout = 5 * time.Second
	return testnode.MustStart(tb, cfg)
}

func closeNode(tb testing.TB, n *node.Node) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		tb.Logf("close node: %v", err)
	}
}

func mustListen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	return ln
}

func newClient(tb testing.TB, endpoints []string, opts ...client.Option) *client.Client {
	tb.Helper()
	c, err := client.New(endpoints, opts...)
	if err != nil {
		tb.Fatalf("client.New(%q): %v", endpoints, err)
	}
	return c
}

// mustUser registers name and returns a client logged in as name.
func mustUser(tb testing.TB, ctx context.Context, endpoints []string, name string) *client.Client {
	tb.Helper()
	c := newClient(tb, endpoints)
	if err := c.Register(ctx, name, password); err != nil {
		tb.Fatalf("register %s: %v", name, err)
	}
	if _, err := c.Login(ctx, name, password); err != nil {
		tb.Fatalf("login %s: %v", name, err)
	}
	return c
}

func mustRoom(tb testing.TB, ctx context.Context, c *client.Client, members ...string) *haetae.Room {
	tb.Helper()
	room, err := c.CreateRoom(ctx, "test room", members)
	if err != nil {
		tb.Fatalf("create room: %v", err)
	}
	return room
}

func mustSend(tb testing.TB, ctx context.Context, c *client.Client, room, clientID, text string) *haetae.Message {
	tb.Helper()
	m, _, err := c.Send(ctx, room, clientID, text)
	if err != nil {
		tb.Fatalf("send %q: %v", text, err)
	}
	return m
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// wantCode fails unless err is an *APIError with status and code.
func wantCode(tb testing.TB, err error, status int, code string) {
	tb.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		tb.Fatalf("err = %v (%T), want an *APIError %d %s", err, err, status, code)
	}
	if ae.Status != status || ae.Code != code {
		tb.Fatalf("err = %d %q, want %d %q", ae.Status, ae.Code, status, code)
	}
	if got := haetae.ErrorCode(err); got != code {
		tb.Fatalf("haetae.ErrorCode = %q, want %q", got, code)
	}
}

// receive reads n messages from sub, failing if they do not come within the deadline or the
// subscription ends first.
func receive(tb testing.TB, sub *client.Subscription, n int, within time.Duration) []*haetae.Message {
	tb.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	var got []*haetae.Message
	for len(got) < n {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				tb.Fatalf("subscription ended after %d of %d messages: %v", len(got), n, sub.Err())
			}
			got = append(got, m)
		case <-timer.C:
			tb.Fatalf("received %d of %d messages within %s (cursor %d)", len(got), n, within, sub.Cursor())
		}
	}
	return got
}

// wantSeqs fails unless got are exactly the messages of want, in the same order.
func wantSeqs(tb testing.TB, got, want []*haetae.Message) {
	tb.Helper()
	seqs := func(ms []*haetae.Message) []string {
		var s []string
		for _, m := range ms {
			s = append(s, fmt.Sprintf("%d:%s", m.Seq, m.Text))
		}
		return s
	}
	if !slices.Equal(seqs(got), seqs(want)) {
		tb.Fatalf("got messages\n  %v\nwant\n  %v", seqs(got), seqs(want))
	}
}

// wantNoMore fails if sub delivers anything within a short grace period.
func wantNoMore(tb testing.TB, sub *client.Subscription) {
	tb.Helper()
	select {
	case m, ok := <-sub.Messages():
		if ok {
			tb.Fatalf("unexpected extra message seq %d %q", m.Seq, m.Text)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// checkNoLeak fails the test if, once it and its cleanups registered later are done, a Subscription
// still has a goroutine running.
func checkNoLeak(tb testing.TB) {
	tb.Helper()
	tb.Cleanup(func() {
		testnode.CheckFor(tb, 10*time.Second, 20*time.Millisecond, func() error {
			buf := make([]byte, 4<<20)
			buf = buf[:runtime.Stack(buf, true)]
			for _, g := range bytes.Split(buf, []byte("\n\n")) {
				if bytes.Contains(g, []byte("haetae/client.(*Subscription)")) {
					return fmt.Errorf("a subscription goroutine outlived its subscription:\n%s", g)
				}
			}
			return nil
		})
	})
}

func TestNew(t *testing.T) {
	for name, endpoints := range map[string][]string{
		"none":       nil,
		"no_scheme":  {"127.0.0.1:8080"},
		"bad_scheme": {"ftp://127.0.0.1"},
		"no_host":    {"http://"},
		"query":      {"http://127.0.0.1:8080/?x=1"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := client.New(endpoints); err == nil {
				t.Fatalf("New(%q) succeeded, want an error", endpoints)
			}
		})
	}
	c := newClient(t, []string{"http://127.0.0.1:8080/", "https://example.com/haetae/"}, client.WithToken("t0"))
	if got, want := c.Endpoints(), []string{"http://127.0.0.1:8080", "https://example.com/haetae"}; !slices.Equal(got, want) {
		t.Fatalf("Endpoints = %q, want %q", got, want)
	}
	if c.Token() != "t0" {
		t.Fatalf("Token = %q, want t0", c.Token())
	}
	c.SetToken("t1")
	if c.Token() != "t1" {
		t.Fatalf("Token after SetToken = %q, want t1", c.Token())
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := testContext(t)
	n := newNode(t, t.TempDir(), "127.0.0.1:0")
	eps := []string{n.URL()}
	alice := mustUser(t, ctx, eps, "alice")
	bob := mustUser(t, ctx, eps, "bob")

	t.Run("ErrNameTaken", func(t *testing.T) {
		wantCode(t, newClient(t, eps).Register(ctx, "alice", password), http.StatusConflict, haetae.ENameTaken)
	})
	t.Run("ErrBadCredentials", func(t *testing.T) {
		c := newClient(t, eps)
		_, err := c.Login(ctx, "alice", "wrong password")
		wantCode(t, err, http.StatusUnauthorized, haetae.EBadCredentials)
		if c.Token() != "" {
			t.Fatalf("a failed login set the token to %q", c.Token())
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		_, err := newClient(t, eps, client.WithToken("nope")).Rooms(ctx)
		wantCode(t, err, http.StatusUnauthorized, haetae.EUnauthorized)
	})

	room := mustRoom(t, ctx, alice, "bob")
	if !room.HasMember("alice") || !room.HasMember("bob") || room.Title != "test room" {
		t.Fatalf("room = %+v, want alice and bob in 'test room'", room)
	}
	var sent []*haetae.Message
	for i := range 3 {
		m, created, err := alice.Send(ctx, room.ID, fmt.Sprintf("m%d", i), fmt.Sprintf("hello %d", i))
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		if !created || m.From != "alice" || m.Room != room.ID || m.Kind != haetae.KindText {
			t.Fatalf("send = %+v created=%v", m, created)
		}
		sent = append(sent, m)
	}

	t.Run("History", func(t *testing.T) {
		msgs, next, err := bob.History(ctx, room.ID, haetae.HistoryQuery{})
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		wantSeqs(t, msgs, sent)
		if next != sent[2].Seq {
			t.Fatalf("next = %d, want %d", next, sent[2].Seq)
		}
		msgs, _, err = bob.History(ctx, room.ID, haetae.HistoryQuery{After: sent[0].Seq, Limit: 1})
		if err != nil {
			t.Fatalf("history after: %v", err)
		}
		wantSeqs(t, msgs, sent[1:2])
		msgs, _, err = bob.History(ctx, room.ID, haetae.HistoryQuery{Before: sent[2].Seq})
		if err != nil {
			t.Fatalf("history before: %v", err)
		}
		wantSeqs(t, msgs, sent[:2])
	})

	t.Run("RoomsAndMarkRead", func(t *testing.T) {
		rooms, err := bob.Rooms(ctx)
		if err != nil {
			t.Fatalf("rooms: %v", err)
		}
		if len(rooms) != 1 || rooms[0].ID != room.ID || rooms[0].LastSeq != sent[2].Seq || rooms[0].Unread != 3 {
			t.Fatalf("rooms = %+v, want room %s with last_seq %d and 3 unread", rooms, room.ID, sent[2].Seq)
		}
		if err := bob.MarkRead(ctx, room.ID, sent[1].Seq); err != nil {
			t.Fatalf("mark read: %v", err)
		}
		rooms, err = bob.Rooms(ctx)
		if err != nil {
			t.Fatalf("rooms: %v", err)
		}
		if rooms[0].Unread != 1 {
			t.Fatalf("unread = %d after reading up to %d, want 1", rooms[0].Unread, sent[1].Seq)
		}
	})

	t.Run("AddMember", func(t *testing.T) {
		carol := mustUser(t, ctx, eps, "carol")
		_, _, err := carol.History(ctx, room.ID, haetae.HistoryQuery{})
		wantCode(t, err, http.StatusNotFound, haetae.ENotFound)
		got, err := alice.AddMember(ctx, room.ID, "carol")
		if err != nil {
			t.Fatalf("add member: %v", err)
		}
		if !got.HasMember("carol") {
			t.Fatalf("room after add = %+v, want carol in it", got)
		}
		if _, err := alice.AddMember(ctx, room.ID, "carol"); err != nil {
			t.Fatalf("adding carol again: %v", err)
		}
		msgs, _, err := carol.History(ctx, room.ID, haetae.HistoryQuery{})
		if err != nil {
			t.Fatalf("history as new member: %v", err)
		}
		wantSeqs(t, msgs, sent)
		_, err = alice.AddMember(ctx, room.ID, "nobody")
		wantCode(t, err, http.StatusNotFound, haetae.EUserNotFound)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		_, _, err := alice.Send(ctx, "nosuchroom", "x", "hi")
		wantCode(t, err, http.StatusNotFound, haetae.ENotFound)
		if got := err.Error(); got != "not_found: no such room" {
			t.Fatalf("Error() = %q, want %q", got, "not_found: no such room")
		}
	})
}

func TestSendIdempotent(t *testing.T) {
	ctx := testContext(t)
	n := newNode(t, t.TempDir(), "127.0.0.1:0")
	eps := []string{n.URL()}
	alice := mustUser(t, ctx, eps, "alice")
	room := mustRoom(t, ctx, alice)

	first, created, err := alice.Send(ctx, room.ID, "same-id", "once")
	if err != nil || !created {
		t.Fatalf("first send: created=%v err=%v", created, err)
	}
	again, created, err := alice.Send(ctx, room.ID, "same-id", "once")
	if err != nil {
		t.Fatalf("repeat send: %v", err)
	}
	if created || again.Seq != first.Seq || again.ClientID != "same-id" {
		t.Fatalf("repeat = seq %d created=%v, want the original seq %d and created=false", again.Seq, created, first.Seq)
	}
	_, _, err = alice.Send(ctx, room.ID, "same-id", "a different text")
	wantCode(t, err, http.StatusConflict, haetae.EIdempotencyConflict)

	msgs, _, err := alice.History(ctx, room.ID, haetae.HistoryQuery{})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	wantSeqs(t, msgs, []*haetae.Message{first})

	t.Run("RandomClientID", func(t *testing.T) {
		m, created, err := alice.Send(ctx, room.ID, "", "no id given")
		if err != nil || !created || m.ClientID == "" {
			t.Fatalf("send without client id: %+v created=%v err=%v", m, created, err)
		}
	})
}

func TestFailover(t *testing.T) {
	ctx := testContext(t)
	n := newNode(t, t.TempDir(), "127.0.0.1:0")

	t.Run("DeadFirst", func(t *testing.T) {
		eps := []string{deadAddr, n.URL()}
		alice := mustUser(t, ctx, eps, "alice")
		room := mustRoom(t, ctx, alice)
		mustSend(t, ctx, alice, room.ID, "f1", "through the second endpoint")
		if _, err := alice.Rooms(ctx); err != nil {
			t.Fatalf("rooms: %v", err)
		}
	})
	t.Run("DeadLast", func(t *testing.T) {
		eps := []string{n.URL(), deadAddr}
		bob := mustUser(t, ctx, eps, "bob")
		mustRoom(t, ctx, bob)
	})
	t.Run("AllDead", func(t *testing.T) {
		c := newClient(t, []string{deadAddr, "http://127.0.0.1:2"}, client.WithRetryBudget(300*time.Millisecond))
		start := time.Now()
		err := c.Register(ctx, "carol", password)
		if got := haetae.ErrorCode(err); got != haetae.EUnavailable {
			t.Fatalf("err = %v (code %q), want unavailable", err, got)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("giving up took %s with a budget of 300ms", took)
		}
	})
	t.Run("ContextCanceled", func(t *testing.T) {
		c := newClient(t, []string{deadAddr})
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		err := c.Register(cctx, "dave", password)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}

// TestRetryAfter checks that 503s are retried after the server's Retry-After and that the client then
// succeeds against the same, recovered node.
func TestRetryAfter(t *testing.T) {
	ctx := testContext(t)
	n := newNode(t, t.TempDir(), "127.0.0.1:0")
	// shedding wraps the real node and answers the first two requests with 503, as a loaded node does.
	var mu sync.Mutex
	shed := 2
	proxy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/endpoints" { // discovery, not one of the attempts counted here
			n.HTTP.Handler.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		refuse := shed > 0
		shed--
		mu.Unlock()
		if refuse {
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"overloaded","message":"shedding load"}}`)
			return
		}
		n.HTTP.Handler.ServeHTTP(w, r)
	})}
	ln := mustListen(t)
	go proxy.Serve(ln)
	t.Cleanup(func() { proxy.Close() })

	c := newClient(t, []string{"http://" + ln.Addr().String()})
	if err := c.Register(ctx, "alice", password); err != nil {
		t.Fatalf("register through a shedding node: %v", err)
	}
	mu.Lock()
	asked := 2 - shed
	mu.Unlock()
	if asked != 3 {
		t.Fatalf("the node was asked %d times, want 3", asked)
	}

	t.Run("BudgetSpent", func(t *testing.T) {
		mu.Lock()
		shed = 1 << 30
		mu.Unlock()
		c := newClient(t, []string{"http://" + ln.Addr().String()}, client.WithRetryBudget(200*time.Millisecond))
		err := c.Register(ctx, "bob", password)
		wantCode(t, err, http.StatusServiceUnavailable, haetae.EOverloaded)
	})
}

func TestSubscribe(t *testing.T) {
	checkNoLeak(t)
	ctx := testContext(t)
	n := newNode(t, t.TempDir(), "127.0.0.1:0")
	eps := []string{n.URL()}
	alice := mustUser(t, ctx, eps, "alice")
	bob := mustUser(t, ctx, eps, "bob")
	room := mustRoom(t, ctx, alice, "bob")

	var sent []*haetae.Message
	for i := range 5 {
		sent = append(sent, mustSend(t, ctx, alice, room.ID, fmt.Sprintf("b%d", i), fmt.Sprintf("before %d", i)))
	}
	sub := bob.Subscribe(ctx, room.ID, 0)
	defer sub.Close()
	wantSeqs(t, receive(t, sub, 5, 10*time.Second), sent)
	for i := range 5 {
		sent = append(sent, mustSend(t, ctx, alice, room.ID, fmt.Sprintf("a%d", i), fmt.Sprintf("after %d", i)))
	}
	wantSeqs(t, receive(t, sub, 5, 10*time.Second), sent[5:])
	if sub.Cursor() != sent[9].Seq {
		t.Fatalf("cursor = %d, want %d", sub.Cursor(), sent[9].Seq)
	}
	wantNoMore(t, sub)

	t.Run("Events", func(t *testing.T) {
		if err := alice.MarkRead(ctx, room.ID, sent[9].Seq); err != nil {
			t.Fatalf("mark read: %v", err)
		}
		select {
		case ev := <-sub.Events():
			if ev.Type != "read" || ev.Name != "alice" || ev.Room != room.ID || ev.Seq != sent[9].Seq {
				t.Fatalf("event = %+v, want alice's read up to %d", ev, sent[9].Seq)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no read event within 10s")
		}
	})

	t.Run("FromCursor", func(t *testing.T) {
		sub := alice.Subscribe(ctx, room.ID, sent[6].Seq)
		defer sub.Close()
		wantSeqs(t, receive(t, sub, 3, 10*time.Second), sent[7:])
		wantNoMore(t, sub)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		carol := mustUser(t, ctx, eps, "carol")
		sub := carol.Subscribe(ctx, room.ID, 0)
		defer sub.Close()
		select {
		case m, ok := <-sub.Messages():
			if ok {
				t.Fatalf("a non-member received seq %d", m.Seq)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("subscription to a foreign room still open after 10s")
		}
		wantCode(t, sub.Err(), 0, haetae.ENotFound)
	})

	t.Run("ErrUnauthorized", func(t *testing.T) {
		sub := newClient(t, eps, client.WithToken("nope")).Subscribe(ctx, room.ID, 0)
		defer sub.Close()
		for range sub.Messages() {
			t.Fatalf("a bad token received a message")
		}
		wantCode(t, sub.Err(), http.StatusUnauthorized, haetae.EUnauthorized)
	})

	t.Run("Close", func(t *testing.T) {
		sub := bob.Subscribe(ctx, room.ID, 0)
		receive(t, sub, 1, 10*time.Second)
		sub.Close()
		for range sub.Messages() {
		}
		if err := sub.Err(); err != nil {
			t.Fatalf("Err after Close = %v, want nil", err)
		}
	})

	t.Run("ContextEnd", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		sub := bob.Subscribe(cctx, room.ID, 0)
		receive(t, sub, 1, 10*time.Second)
		cancel()
		deadline := time.After(10 * time.Second)
		for open := true; open; {
			select {
			case _, open = <-sub.Messages():
			case <-deadline:
				t.Fatalf("Messages not closed 10s after the context ended")
			}
		}
		if err := sub.Err(); err != nil {
			t.Fatalf("Err after the context ended = %v, want nil", err)
		}
	})
}

// TestSubscribeAcrossRestart drops every live connection by stopping the node, sends while it is down,
// then starts a node on the same data and address: the subscription must resume from its cursor and
// deliver every message exactly once, in order.
func TestSubscribeAcrossRestart(t *testing.T) {
	checkNoLeak(t)
	ctx := testContext(t)
	dir := t.TempDir()
	a := newNode(t, dir, "127.0.0.1:0")
	addr := a.Addr()
	eps := []string{a.URL()}
	alice := mustUser(t, ctx, eps, "alice")
	bob := mustUser(t, ctx, eps, "bob")
	room := mustRoom(t, ctx, alice, "bob")

	sub := bob.Subscribe(ctx, room.ID, 0)
	defer sub.Close()
	var sent []*haetae.Message
	for i := range 5 {
		sent = append(sent, mustSend(t, ctx, alice, room.ID, fmt.Sprintf("a%d", i), fmt.Sprintf("on a %d", i)))
	}
	wantSeqs(t, receive(t, sub, 5, 10*time.Second), sent)

	closeNode(t, a)
	// A send started while no node is up must succeed once one is, through the client's retries.
	type result struct {
		m   *haetae.Message
		err error
	}
	during := make(chan result, 1)
	go func() {
		m, _, err := alice.Send(ctx, room.ID, "down", "sent while down")
		during <- result{m, err}
	}()

	newNode(t, dir, addr)
	r := <-during
	if r.err != nil {
		t.Fatalf("send while the node restarted: %v", r.err)
	}
	sent = append(sent, r.m)
	for i := range 5 {
		sent = append(sent, mustSend(t, ctx, alice, room.ID, fmt.Sprintf("b%d", i), fmt.Sprintf("on b %d", i)))
	}
	wantSeqs(t, receive(t, sub, 6, 30*time.Second), sent[5:])
	wantNoMore(t, sub)
	if err := sub.Err(); err != nil {
		t.Fatalf("Err = %v while running", err)
	}
	if sub.Cursor() != sent[len(sent)-1].Seq {
		t.Fatalf("cursor = %d, want %d", sub.Cursor(), sent[len(sent)-1].Seq)
	}
}

// TestSubscribeFailover gives a subscription a dead endpoint first: it must find the live one.
func TestSubscribeFailover(t *testing.T) {
	ctx := testContext(t)
	n := newNode(t, t.TempDir(), "127.0.0.1:0")
	alice := mustUser(t, ctx, []string{n.URL()}, "alice")
	room := mustRoom(t, ctx, alice)
	m := mustSend(t, ctx, alice, room.ID, "x", "hello")

	c := newClient(t, []string{deadAddr, n.URL()}, client.WithToken(alice.Token()))
	sub := c.Subscribe(ctx, room.ID, 0)
	defer sub.Close()
	wantSeqs(t, receive(t, sub, 1, 10*time.Second), []*haetae.Message{m})
}

func TestErrorUnwrap(t *testing.T) {
	err := error(&client.APIError{Status: 404, Code: haetae.ENotFound, Message: "no such room"})
	var he *haetae.Error
	if !errors.As(err, &he) || he.Code != haetae.ENotFound || he.Message != "no such room" {
		t.Fatalf("errors.As haetae.Error = %+v", he)
	}
	if !strings.Contains(err.Error(), "no such room") {
		t.Fatalf("Error() = %q", err.Error())
	}
}
