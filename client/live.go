package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/haetae/haetae"
)

const (
	// liveReadLimit bounds one server frame: a message of 4,000 characters, JSON-escaped, fits many
	// times over.
	liveReadLimit = 1 << 20
	// liveWriteTimeout bounds writing one client frame.
	liveWriteTimeout = 10 * time.Second
	// livePingEvery is how long a connection may be silent before the client checks it with a ping, and
	// livePingTimeout how long the pong may take; a connection that fails the check is redialled.
	livePingEvery   = 15 * time.Second
	livePingTimeout = 10 * time.Second
	// liveSettled is how long a connection must have lasted for its end to reset the backoff.
	liveSettled = 10 * time.Second
	// Buffers of the channels a Subscription hands out.
	liveMessageBuffer = 256
	liveEventBuffer   = 64
)

// Subscription follows one room live. It delivers every message after its cursor exactly once and in
// seq order, across disconnects and failovers, by resubscribing from its cursor and dropping any frame
// at or below it. It reconnects for as long as its context lives; only an answer that retrying cannot
// change (not_found, unauthorized) ends it on its own.
type Subscription struct {
	c    *Client
	room string

	msgs   chan *haetae.Message
	events chan haetae.Event
	cancel context.CancelFunc
	done   chan struct{}
	cursor atomic.Uint64

	mu  sync.Mutex
	err error
}

// Subscribe follows room from the cursor after: messages with seq > after that are already committed
// come first, then new ones as they commit. It returns at once; connecting happens in the background,
// and a failure that ends the subscription closes [Subscription.Messages] and is reported by
// [Subscription.Err].
func (c *Client) Subscribe(ctx context.Context, room string, after uint64) *Subscription {
	ctx, cancel := context.WithCancel(ctx)
	s := &Subscription{
		c:      c,
		room:   room,
		msgs:   make(chan *haetae.Message, liveMessageBuffer),
		events: make(chan haetae.Event, liveEventBuffer),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	s.cursor.Store(after)
	go s.run(ctx)
	return s
}

// Messages yields the room's messages in seq order with no gap and no duplicate. It is closed when the
// subscription ends. A reader that falls behind holds up delivery; the server then drops the connection
// and the subscription resumes from its cursor, so nothing is lost.
func (s *Subscription) Messages() <-chan *haetae.Message { return s.msgs }

// Events yields typing and read events. They are ephemeral: those that arrive while the channel is full
// are dropped. It is closed when the subscription ends.
func (s *Subscription) Events() <-chan haetae.Event { return s.events }

// Cursor is the seq of the last message delivered on [Subscription.Messages].
func (s *Subscription) Cursor() uint64 { return s.cursor.Load() }

// Err says why the subscription ended: nil while it runs and after Close or the end of its context;
// the server's error (an [*APIError], such as not_found for a room the caller is not in) otherwise.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and waits until its connection is closed and its channels are.
func (s *Subscription) Close() {
	s.cancel()
	<-s.done
}

func (s *Subscription) run(ctx context.Context) {
	defer close(s.done)
	defer close(s.events)
	defer close(s.msgs)
	defer s.cancel()
	i := s.c.current()
	failures := 0
	for {
		settled, err := s.session(ctx, i)
		if ctx.Err() != nil {
			return
		}
		var re *retryable
		if !errors.As(err, &re) {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		if settled {
			failures = 0
		}
		failures++
		i = (i + 1) % len(s.c.endpoints())
		if sleep(ctx, max(backoff(failures), re.retryAfter)) != nil {
			return
		}
	}
}

// clientFrame is a frame the client sends on the live WebSocket.
type clientFrame struct {
	Type  string `json:"type"`
	Room  string `json:"room"`
	After uint64 `json:"after"`
}

// serverFrame is any frame the server sends: a message, an event or an error.
type serverFrame struct {
	Type    string          `json:"type"`
	Message *haetae.Message `json:"message"`
	Room    string          `json:"room"`
	Name    string          `json:"name"`
	Seq     uint64          `json:"seq"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// session runs one connection to endpoint i: dial, subscribe from the cursor, deliver until the
// connection ends. A *retryable error means another connection may do better; any other error ends the
// subscription. settled reports whether the connection got far enough to reset the backoff.
func (s *Subscription) session(ctx context.Context, i int) (settled bool, err error) {
	eps := s.c.endpoints()
	base := eps[i%len(eps)]
	dctx, cancel := context.WithTimeout(ctx, s.c.timeout)
	h := http.Header{"User-Agent": {"haetae-go-client"}}
	if t := s.c.Token(); t != "" {
		h.Set("Authorization", "Bearer "+t)
	}
	conn, resp, err := websocket.Dial(dctx, base+"/v1/live", &websocket.DialOptions{HTTPClient: s.c.hc, HTTPHeader: h})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			ae := readAPIError(resp)
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
				return false, &retryable{err: ae, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
			}
			return false, ae
		}
		return false, &retryable{err: fmt.Errorf("live: dial %s: %w", base, err)}
	}
	defer conn.CloseNow()
	s.c.cur.Store(int64(i))
	conn.SetReadLimit(liveReadLimit)
	start := time.Now()
	defer func() { settled = settled || time.Since(start) >= liveSettled }()

	b, _ := json.Marshal(clientFrame{Type: "subscribe", Room: s.room, After: s.cursor.Load()})
	wctx, cancel := context.WithTimeout(ctx, liveWriteTimeout)
	err = conn.Write(wctx, websocket.MessageText, b)
	cancel()
	if err != nil {
		return false, &retryable{err: fmt.Errorf("live: subscribe on %s: %w", base, err)}
	}

	// The pinger checks a silent connection, so a node that vanished without closing it is noticed. It
	// does not ping while the reader is busy handing a message to a slow caller, since the pong would
	// wait for that.
	var lastRead atomic.Int64
	var busy atomic.Bool
	lastRead.Store(time.Now().UnixNano())
	pctx, stopPinger := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(livePingEvery / 3)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			if busy.Load() || time.Since(time.Unix(0, lastRead.Load())) < livePingEvery {
				continue
			}
			c, cancel := context.WithTimeout(pctx, livePingTimeout)
			err := conn.Ping(c)
			cancel()
			if err != nil && pctx.Err() == nil {
				conn.CloseNow()
				return
			}
			lastRead.Store(time.Now().UnixNano())
		}
	}()
	defer wg.Wait()
	defer stopPinger()

	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			return false, &retryable{err: fmt.Errorf("live: connection to %s ended: %w", base, err)}
		}
		lastRead.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			continue
		}
		var f serverFrame
		if err := json.Unmarshal(b, &f); err != nil {
			continue // a frame this client does not understand carries nothing it needs
		}
		switch f.Type {
		case "message":
			m := f.Message
			if m == nil || (m.Room != "" && m.Room != s.room) || m.Seq <= s.cursor.Load() {
				continue // a duplicate after a resubscribe, or not ours
			}
			// The cursor moves first, so that a reader who got m sees Cursor() >= m.Seq; if m is never
			// taken the subscription is over and the cursor goes back.
			prev := s.cursor.Swap(m.Seq)
			busy.Store(true)
			select {
			case s.msgs <- m:
				settled = true
			case <-ctx.Done():
				s.cursor.Store(prev)
				busy.Store(false)
				return settled, ctx.Err()
			}
			busy.Store(false)
		case "typing", "read":
			select {
			case s.events <- haetae.Event{Type: f.Type, Room: f.Room, Name: f.Name, Seq: f.Seq}:
			default:
			}
		case "error":
			if f.Error == nil {
				continue
			}
			ae := &APIError{Code: f.Error.Code, Message: f.Error.Message}
			if liveRetryable(ae.Code) {
				return settled, &retryable{err: ae}
			}
			return settled, ae
		}
	}
}

// liveRetryable reports whether an error frame's code is the server's trouble rather than the request's,
// so that the subscription should resume from its cursor, on another node if need be.
func liveRetryable(code string) bool {
	switch code {
	case haetae.ESlowConsumer, haetae.EUnavailable, haetae.ENoQuorum, haetae.EOverloaded, haetae.ERateLimited, haetae.EInternal:
		return true
	}
	return false
}
