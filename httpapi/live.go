package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/haetae/haetae"
)

// Server frames of the live WebSocket.
type (
	messageFrame struct {
		Type    string          `json:"type"`
		Message *haetae.Message `json:"message"`
	}
	eventFrame struct {
		Type string `json:"type"`
		Room string `json:"room"`
		Name string `json:"name"`
		Seq  uint64 `json:"seq,omitempty"`
	}
	errorFrame struct {
		Type  string      `json:"type"`
		Room  string      `json:"room,omitempty"`
		Error errorDetail `json:"error"`
	}
)

const (
	liveWriteTimeout = 10 * time.Second
	livePingEvery    = 30 * time.Second
	liveOutbound     = 256 // frames queued for one connection's writer
	liveMaxRooms     = 1000
	// defaultMaxLiveConns bounds the WebSockets one node holds; each costs two goroutines and buffers.
	defaultMaxLiveConns = 20000
)

// liveConn is one WebSocket connection with its room subscriptions.
type liveConn struct {
	ws        *websocket.Conn
	user      string
	out       chan []byte
	ctx       context.Context
	cancel    context.CancelFunc
	mu        sync.Mutex
	subs      map[string]haetae.Subscription
	closeOnce sync.Once
	closed    chan struct{} // closed when closeWith has finished
	typedAt   map[string]time.Time
}

// typingAllowed rate-limits typing notices to one a second per room, so a client cannot flood a room's
// members through the server. Only the read loop calls it.
func (c *liveConn) typingAllowed(room string) bool {
	now := time.Now()
	if c.typedAt == nil {
		c.typedAt = map[string]time.Time{}
	}
	if now.Sub(c.typedAt[room]) < time.Second {
		return false
	}
	if len(c.typedAt) >= liveMaxRooms {
		clear(c.typedAt)
	}
	c.typedAt[room] = now
	return true
}

// handleLive upgrades to the live WebSocket. The token comes from the Authorization header or, since
// browsers cannot set headers on a WebSocket, from ?token=. Origins are not checked: authentication is
// by bearer token, never by cookie, so a foreign page gains nothing from a user's browser.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) error {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return haetae.Errorf(haetae.EInvalid, "GET /v1/live upgrades to a WebSocket; send the Upgrade headers")
	}
	token := bearer(r)
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	user, err := s.Users.Authenticate(r.Context(), token)
	if err != nil {
		return err
	}
	if s.isDraining() {
		return haetae.Errorf(haetae.EUnavailable, "this node is shutting down; connect to another")
	}
	if s.liveCount() >= s.maxLive() {
		return haetae.Errorf(haetae.EOverloaded, "this node has as many live connections as it takes; connect to another or retry")
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil // Accept has written the response
	}
	ws.SetReadLimit(s.Limits.BodyMax)
	ctx, cancel := context.WithCancel(context.Background())
	c := &liveConn{ws: ws, user: user, out: make(chan []byte, liveOutbound), ctx: ctx, cancel: cancel, subs: map[string]haetae.Subscription{}, closed: make(chan struct{})}
	if !s.addLive(c) {
		ws.Close(websocket.StatusTryAgainLater, "server shutting down or full")
		cancel()
		return nil
	}
	s.metrics.liveConn.Inc()
	defer s.metrics.liveConn.Dec()
	defer s.removeLive(c)
	go c.writer()
	go c.pinger()
	s.readLoop(c)
	c.closeSubs(s)
	cancel()
	ws.CloseNow()
	return nil
}

func (s *Server) readLoop(c *liveConn) {
	for {
		typ, b, err := c.ws.Read(c.ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.StatusMessageTooBig {
				return
			}
			return
		}
		if typ != websocket.MessageText {
			c.sendError("", haetae.Errorf(haetae.EInvalid, "frames are JSON text"))
			continue
		}
		var f liveFrame
		if err := decodeJSON(b, &f); err != nil {
			c.sendError("", err)
			continue
		}
		switch f.Type {
		case "subscribe":
			s.subscribe(c, f)
		case "unsubscribe":
			c.mu.Lock()
			sub := c.subs[f.Room]
			delete(c.subs, f.Room)
			c.mu.Unlock()
			if sub != nil {
				sub.Close()
			}
		case "typing":
			if !c.typingAllowed(f.Room) {
				continue // a typing notice a second per room is plenty; more is dropped
			}
			if err := s.Live.Typing(c.ctx, c.user, f.Room); err != nil {
				c.sendError(f.Room, err)
			}
		default:
			c.sendError(f.Room, haetae.Errorf(haetae.EInvalid, "unknown frame type %q; use subscribe, unsubscribe or typing", truncate(f.Type, 32)))
		}
	}
}

func (s *Server) subscribe(c *liveConn, f liveFrame) {
	if err := haetae.ValidRoomID(f.Room); err != nil {
		c.sendError(f.Room, err)
		return
	}
	c.mu.Lock()
	old := c.subs[f.Room]
	n := len(c.subs)
	c.mu.Unlock()
	if old == nil && n >= liveMaxRooms {
		c.sendError(f.Room, haetae.Errorf(haetae.EInvalid, "a connection follows at most %d rooms", liveMaxRooms))
		return
	}
	if old != nil {
		old.Close() // a new subscribe replaces the old cursor
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	sub, err := s.Live.Subscribe(ctx, c.user, f.Room, f.After)
	cancel()
	if err != nil {
		c.sendError(f.Room, err)
		return
	}
	c.mu.Lock()
	c.subs[f.Room] = sub
	c.mu.Unlock()
	s.metrics.liveSubs.Inc()
	go s.forward(c, f.Room, sub)
}

// forward copies one subscription's deliveries to the connection. When the subscription ends for a reason
// of the server's (slow consumer, shutdown) the client is told, and the connection is closed so that it
// resumes from its cursor, here or on another node.
func (s *Server) forward(c *liveConn, room string, sub haetae.Subscription) {
	defer s.metrics.liveSubs.Dec()
	for d := range sub.Deliveries() {
		var frame any
		switch {
		case d.Message != nil:
			frame = messageFrame{Type: "message", Message: d.Message}
		case d.Event != nil:
			frame = eventFrame{Type: d.Event.Type, Room: d.Event.Room, Name: d.Event.Name, Seq: d.Event.Seq}
		default:
			continue
		}
		b, _ := json.Marshal(frame)
		select {
		case c.out <- b:
		case <-c.ctx.Done():
			return
		}
	}
	if err := sub.Err(); err != nil {
		c.sendError(room, err)
		code := websocket.StatusTryAgainLater
		if haetae.ErrorCode(err) == haetae.EUnavailable {
			code = websocket.StatusGoingAway
		}
		c.closeWith(code, haetae.ErrorCode(err))
	}
}

func (c *liveConn) sendError(room string, err error) {
	b, _ := json.Marshal(errorFrame{Type: "error", Room: room, Error: errorDetail{Code: haetae.ErrorCode(err), Message: haetae.ErrorMessage(err)}})
	select {
	case c.out <- b:
	case <-c.ctx.Done():
	case <-time.After(liveWriteTimeout):
		c.closeWith(websocket.StatusTryAgainLater, "slow_consumer")
	}
}

// closeWith flushes what is queued (for at most a second), then closes the connection with a code the
// client can act on. It returns at once; closed is closed when the close handshake is over.
func (c *liveConn) closeWith(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		go func() {
			defer close(c.closed)
			deadline := time.Now().Add(time.Second)
			for len(c.out) > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			c.ws.Close(code, reason)
			c.cancel()
		}()
	})
}

func (c *liveConn) writer() {
	for {
		select {
		case b := <-c.out:
			ctx, cancel := context.WithTimeout(c.ctx, liveWriteTimeout)
			err := c.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.cancel()
				return
			}
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *liveConn) pinger() {
	t := time.NewTicker(livePingEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.ctx, liveWriteTimeout)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				c.cancel()
				return
			}
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *liveConn) closeSubs(s *Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for room, sub := range c.subs {
		sub.Close()
		delete(c.subs, room)
	}
}

func (s *Server) liveCount() int {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	return len(s.liveConns)
}

func (s *Server) maxLive() int {
	if s.MaxLiveConns > 0 {
		return s.MaxLiveConns
	}
	return defaultMaxLiveConns
}

func (s *Server) addLive(c *liveConn) bool {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if s.draining || len(s.liveConns) >= s.maxLive() {
		return false
	}
	s.liveConns[c] = struct{}{}
	return true
}

func (s *Server) removeLive(c *liveConn) {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	delete(s.liveConns, c)
}

func (s *Server) isDraining() bool {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	return s.draining
}

// DrainLive marks the node as going away: /readyz fails, new WebSockets are refused, and open ones are
// closed with 1001 "going away" so their clients resume from their cursors on another node. It returns
// when every close handshake is over or ctx is done. http.Server's Shutdown cannot do this itself
// because upgraded connections are hijacked.
func (s *Server) DrainLive(ctx context.Context) {
	s.once.Do(s.init)
	s.liveMu.Lock()
	s.draining = true
	conns := make([]*liveConn, 0, len(s.liveConns))
	for c := range s.liveConns {
		conns = append(conns, c)
	}
	s.liveMu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.StatusGoingAway, "server shutting down")
	}
	for _, c := range conns {
		select {
		case <-c.closed:
		case <-ctx.Done():
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
