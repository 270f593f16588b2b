package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/haetae/haetae"
)

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("client: encode request: " + err.Error()) // only our own request structs are encoded
	}
	return b
}

func roomPath(room, tail string) string {
	return "/v1/rooms/" + url.PathEscape(room) + tail
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Register creates the user name. Errors: invalid_name, weak_password, name_taken.
//
// If an attempt went unanswered and a retry is told name_taken, the first attempt may have created the
// account; Register then logs in with the password to tell the two apart, and succeeds if that works.
func (c *Client) Register(ctx context.Context, name, password string) error {
	body := jsonBody(credentials{name, password})
	_, attempts, err := c.do(ctx, request{op: "create_user", method: http.MethodPost, path: "/v1/users", body: body}, nil)
	if err != nil && attempts > 1 && haetae.ErrorCode(err) == haetae.ENameTaken {
		var sess haetae.Session
		if _, _, lerr := c.do(ctx, request{op: "create_session", method: http.MethodPost, path: "/v1/sessions", body: body}, &sess); lerr == nil {
			return nil
		}
	}
	return err
}

// Login opens a session for name, makes its token the client's, and returns it. Errors: bad_credentials.
func (c *Client) Login(ctx context.Context, name, password string) (*haetae.Session, error) {
	var sess haetae.Session
	if _, _, err := c.do(ctx, request{op: "create_session", method: http.MethodPost, path: "/v1/sessions", body: jsonBody(credentials{name, password})}, &sess); err != nil {
		return nil, err
	}
	c.SetToken(sess.Token)
	return &sess, nil
}

// CreateRoom makes a room of the caller and members. Errors: invalid_name, too_many_members,
// user_not_found.
//
// The request carries an Idempotency-Key, so a server that honours it for rooms answers a retry with the
// first room; one that does not may create a second room when an unanswered attempt had in fact landed.
func (c *Client) CreateRoom(ctx context.Context, title string, members []string) (*haetae.Room, error) {
	if members == nil {
		members = []string{}
	}
	body := jsonBody(struct {
		Title   string   `json:"title,omitempty"`
		Members []string `json:"members"`
	}{title, members})
	var room haetae.Room
	h := http.Header{"Idempotency-Key": {newClientID()}}
	if _, _, err := c.do(ctx, request{op: "create_room", method: http.MethodPost, path: "/v1/rooms", body: body, auth: true, header: h}, &room); err != nil {
		return nil, err
	}
	return &room, nil
}

// Rooms lists the caller's rooms with their last seq and unread count.
func (c *Client) Rooms(ctx context.Context) ([]*haetae.Room, error) {
	var out struct {
		Rooms []*haetae.Room `json:"rooms"`
	}
	if _, _, err := c.do(ctx, request{op: "list_rooms", method: http.MethodGet, path: "/v1/rooms", auth: true}, &out); err != nil {
		return nil, err
	}
	return out.Rooms, nil
}

// AddMember adds name to room; adding a member twice is not an error. Errors: not_found,
// user_not_found, too_many_members.
func (c *Client) AddMember(ctx context.Context, room, name string) (*haetae.Room, error) {
	body := jsonBody(struct {
		Name string `json:"name"`
	}{name})
	var out haetae.Room
	if _, _, err := c.do(ctx, request{op: "add_member", method: http.MethodPost, path: roomPath(room, "/members"), body: body, auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Send posts a text message. Every retry carries the same clientID, so a message is committed once
// however often it is sent within the server's dedupe window; created is false when the server already
// had it and returned the original. An empty clientID is replaced by a random one. Errors: not_found,
// invalid_client_id, invalid_text, idempotency_conflict.
func (c *Client) Send(ctx context.Context, room, clientID, text string) (msg *haetae.Message, created bool, err error) {
	if clientID == "" {
		clientID = newClientID()
	}
	body := jsonBody(struct {
		ClientID string `json:"client_id"`
		Text     string `json:"text"`
	}{clientID, text})
	var out haetae.Message
	status, _, err := c.do(ctx, request{op: "send", method: http.MethodPost, path: roomPath(room, "/messages"), body: body, auth: true}, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// SendBatch sends up to 100 messages to room in one request; they share the server's commits. Items
// without a client_id get a random one. Each result is what Send would have returned for its item;
// items the server answered 503 are sent again under the same client_id, with backoff, within the
// client's retry budget, and keep their last error if they never land. The call itself fails only when
// the request does (not_found for a room that is not the caller's, a transport failure past the budget).
func (c *Client) SendBatch(ctx context.Context, room string, items []haetae.SendItem) ([]haetae.SendResult, error) {
	items = slices.Clone(items)
	for i := range items {
		if items[i].ClientID == "" {
			items[i].ClientID = newClientID()
		}
	}
	out := make([]haetae.SendResult, len(items))
	todo := make([]int, len(items))
	for i := range todo {
		todo[i] = i
	}
	deadline := time.Now().Add(c.budget)
	for round := 1; ; round++ {
		batch := make([]haetae.SendItem, len(todo))
		for j, i := range todo {
			batch[j] = items[i]
		}
		var resp struct {
			Results []struct {
				Status  int             `json:"status"`
				Message *haetae.Message `json:"message"`
				Error   *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			} `json:"results"`
		}
		body := jsonBody(struct {
			Messages []haetae.SendItem `json:"messages"`
		}{batch})
		if _, _, err := c.do(ctx, request{op: "send", method: http.MethodPost, path: roomPath(room, "/messages/batch"), body: body, auth: true}, &resp); err != nil {
			return nil, err
		}
		if len(resp.Results) != len(todo) {
			return nil, fmt.Errorf("send batch: %d results for %d messages", len(resp.Results), len(todo))
		}
		var again []int
		for j, i := range todo {
			r := resp.Results[j]
			switch {
			case (r.Status == http.StatusCreated || r.Status == http.StatusOK) && r.Message != nil:
				out[i] = haetae.SendResult{Message: r.Message, Created: r.Status == http.StatusCreated}
			default:
				ae := &APIError{Status: r.Status, Code: codeOfStatus(r.Status)}
				if r.Error != nil {
					ae.Code, ae.Message = r.Error.Code, r.Error.Message
				}
				out[i] = haetae.SendResult{Err: ae}
				if r.Status == http.StatusServiceUnavailable {
					again = append(again, i)
				}
			}
		}
		wait := backoff(round)
		if len(again) == 0 || time.Now().Add(wait).After(deadline) {
			return out, nil
		}
		if err := sleep(ctx, wait); err != nil {
			return out, nil
		}
		todo = again
	}
}

// History reads a page of room: messages after q.After ascending, or the q.Limit just below q.Before
// when that is set. It returns the cursor of the next page. Errors: not_found.
func (c *Client) History(ctx context.Context, room string, q haetae.HistoryQuery) ([]*haetae.Message, uint64, error) {
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatUint(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out struct {
		Messages []*haetae.Message `json:"messages"`
		Next     uint64            `json:"next"`
	}
	if _, _, err := c.do(ctx, request{op: "history", method: http.MethodGet, path: roomPath(room, "/messages"), query: v, auth: true}, &out); err != nil {
		return nil, 0, err
	}
	return out.Messages, out.Next, nil
}

// MarkRead records that the caller has read room up to seq. Errors: not_found.
func (c *Client) MarkRead(ctx context.Context, room string, seq uint64) error {
	body := jsonBody(struct {
		Seq uint64 `json:"seq"`
	}{seq})
	_, _, err := c.do(ctx, request{op: "mark_read", method: http.MethodPost, path: roomPath(room, "/read"), body: body, auth: true}, nil)
	return err
}
