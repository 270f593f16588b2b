package httpapi

import (
	"context"
	"net/http"
	"time"

	"strconv"

	"github.com/haetae/haetae"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var req credentialsRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.Users.CreateUser(r.Context(), req.Name, req.Password); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name})
	return nil
}

func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request) error {
	var req credentialsRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if left, blocked := s.logins.blocked(req.Name); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(left.Seconds())+1))
		return haetae.Errorf(haetae.ERateLimited, "too many wrong passwords for this name; try again later")
	}
	sess, err := s.Users.CreateSession(r.Context(), req.Name, req.Password)
	if haetae.ErrorCode(err) == haetae.EBadCredentials {
		s.logins.failed(req.Name)
	}
	if err != nil {
		return err
	}
	s.logins.succeeded(req.Name)
	writeJSON(w, http.StatusOK, sess)
	return nil
}

func (s *Server) handleListRooms(w http.ResponseWriter, r *http.Request) error {
	rooms, err := s.Rooms.Rooms(r.Context(), caller(r))
	if err != nil {
		return err
	}
	if rooms == nil {
		rooms = []*haetae.Room{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
	return nil
}

func (s *Server) handleCreateRoom(w http.ResponseWriter, r *http.Request) error {
	var req createRoomRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if req.Members == nil {
		return errRequired("members")
	}
	room, created, err := s.Rooms.CreateRoom(r.Context(), caller(r), r.Header.Get("Idempotency-Key"), req.Title, req.Members)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, room)
	return nil
}

func (s *Server) handleAddMember(w http.ResponseWriter, r *http.Request) error {
	room := r.PathValue("room")
	if err := haetae.ValidRoomID(room); err != nil {
		return err
	}
	var req addMemberRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	out, err := s.Rooms.AddMember(r.Context(), caller(r), room, req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) error {
	room := r.PathValue("room")
	if err := haetae.ValidRoomID(room); err != nil {
		return err
	}
	var req sendRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if req.ClientID == "" {
		if k := r.Header.Get("Idempotency-Key"); k != "" {
			req.ClientID = k
		} else {
			return errRequired("client_id")
		}
	}
	msg, created, err := s.Messages.Send(r.Context(), caller(r), room, req.ClientID, req.Text)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.metrics.sent.Inc()
	}
	writeJSON(w, status, msg)
	return nil
}

// batchResult is one item of a batch send's answer: the status and body a send of it alone would have.
type batchResult struct {
	Status  int             `json:"status"`
	Message *haetae.Message `json:"message,omitempty"`
	Error   *errorDetail    `json:"error,omitempty"`
}

// handleSendBatch commits up to 100 messages to one room in one request. The answer is 200 with one
// result per item, in order; a client retries the items whose status is 503 under the same client_id.
func (s *Server) handleSendBatch(w http.ResponseWriter, r *http.Request) error {
	room := r.PathValue("room")
	if err := haetae.ValidRoomID(room); err != nil {
		return err
	}
	var req sendBatchRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if req.Messages == nil {
		return errRequired("messages")
	}
	results, err := s.Messages.SendBatch(r.Context(), caller(r), room, req.Messages)
	if err != nil {
		return err
	}
	out := make([]batchResult, len(results))
	for i, res := range results {
		switch {
		case res.Err != nil:
			code := haetae.ErrorCode(res.Err)
			if StatusOf(code) >= 500 {
				s.Logger.Error("batch item failed", "id", requestID(r), "room", room, "code", code, "err", res.Err)
			}
			out[i] = batchResult{Status: StatusOf(code), Error: &errorDetail{Code: code, Message: haetae.ErrorMessage(res.Err)}}
		case res.Created:
			out[i] = batchResult{Status: http.StatusCreated, Message: res.Message}
			s.metrics.sent.Inc()
		default:
			out[i] = batchResult{Status: http.StatusOK, Message: res.Message}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
	return nil
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) error {
	room := r.PathValue("room")
	if err := haetae.ValidRoomID(room); err != nil {
		return err
	}
	var q haetae.HistoryQuery
	var err error
	if q.After, err = queryUint(r, "after"); err != nil {
		return err
	}
	if q.Before, err = queryUint(r, "before"); err != nil {
		return err
	}
	if q.Limit, err = queryLimit(r, s.Limits.HistoryMax); err != nil {
		return err
	}
	msgs, next, err := s.Messages.History(r.Context(), caller(r), room, q)
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []*haetae.Message{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs, "next": next})
	return nil
}

func (s *Server) handleMarkRead(w http.ResponseWriter, r *http.Request) error {
	room := r.PathValue("room")
	if err := haetae.ValidRoomID(room); err != nil {
		return err
	}
	var req readRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if req.Seq == nil {
		return errRequired("seq")
	}
	if err := s.Rooms.MarkRead(r.Context(), caller(r), room, *req.Seq); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if s.isDraining() {
		return haetae.Errorf(haetae.EUnavailable, "this node is shutting down")
	}
	if err := s.quorum(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// handleEndpoints lists the API endpoints of the cluster's nodes, so clients that know one learn the
// others. It needs no login and no quorum: a client needs it most when its node is in trouble.
func (s *Server) handleEndpoints(w http.ResponseWriter, r *http.Request) error {
	var eps []haetae.Endpoint
	if s.Endpoints != nil {
		eps = s.Endpoints()
	}
	if eps == nil {
		eps = []haetae.Endpoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": eps})
	return nil
}

// handleDrain evacuates this node ahead of a planned shutdown: stream leaders move to other data
// centers, /readyz fails, live clients move away. It answers when the hand-off is done.
func (s *Server) handleDrain(w http.ResponseWriter, r *http.Request) error {
	if s.Drain == nil {
		return haetae.Errorf(haetae.ENotFound, "this node cannot be drained")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	moved, err := s.Drain(ctx)
	if err != nil {
		return &haetae.Error{Code: haetae.EUnavailable, Op: "drain", Message: "the hand-off of stream leaders did not finish; retry", Err: err}
	}
	if moved == nil {
		moved = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"handed_off": moved, "took_ms": time.Since(start).Milliseconds()})
	return nil
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// handleApp serves the web page and its files.
func (s *Server) handleApp(w http.ResponseWriter, r *http.Request) error {
	if s.App == nil {
		return haetae.Errorf(haetae.ENotFound, "this node serves no web page")
	}
	s.App.ServeHTTP(w, r)
	return nil
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && s.App != nil {
		// A person who opens the node's address in a browser gets the web page.
		http.Redirect(w, r, "/app/", http.StatusSeeOther)
		return nil
	}
	return haetae.Errorf(haetae.ENotFound, "no such endpoint: %s", r.URL.Path)
}
