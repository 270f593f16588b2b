package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

type room struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Members []string `json:"members"`
	LastSeq uint64   `json:"last_seq"`
	Unread  uint64   `json:"unread"`
}

func mustRoom(tb testing.TB, base, token string, members ...string) room {
	tb.Helper()
	if members == nil {
		members = []string{}
	}
	r := testnode.DoJSON(tb, "POST", base+"/v1/rooms", token, map[string]any{"title": "t", "members": members})
	if r.Status != 201 {
		tb.Fatalf("create room: %d %s", r.Status, r.Body)
	}
	var rm room
	r.JSON(tb, &rm)
	return rm
}

func mustSend(tb testing.TB, base, token, roomID, clientID, text string) haetae.Message {
	tb.Helper()
	r := testnode.DoJSON(tb, "POST", base+"/v1/rooms/"+roomID+"/messages", token, map[string]string{"client_id": clientID, "text": text})
	if r.Status != 201 && r.Status != 200 {
		tb.Fatalf("send: %d %s", r.Status, r.Body)
	}
	var m haetae.Message
	r.JSON(tb, &m)
	return m
}

// TestBadInputIsRefusedAndChangesNothing drives every route with the bad inputs of the contract: each is
// a 4xx with the JSON error body (never a 500), and afterwards the state is what it was.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	testnode.MustUser(t, base, "bob")
	carol := testnode.MustUser(t, base, "carol")
	rm := mustRoom(t, base, alice, "bob")
	mustSend(t, base, alice, rm.ID, "first", "hello")
	msgs := base + "/v1/rooms/" + rm.ID + "/messages"

	big := `{"name":"zed","password":"` + strings.Repeat("x", 70<<10) + `"}`
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("user%d", i)
	}
	manyJSON, _ := json.Marshal(map[string]any{"members": many})
	cases := []struct {
		name, method, url, token, body string
		status                         int
		code                           string
	}{
		{"user_oversized_body", "POST", base + "/v1/users", "", big, 413, haetae.ETooLarge},
		{"user_malformed_json", "POST", base + "/v1/users", "", `{"name":"zed",`, 400, haetae.EInvalidJSON},
		{"user_empty_body", "POST", base + "/v1/users", "", ``, 400, haetae.EInvalidJSON},
		{"user_array_body", "POST", base + "/v1/users", "", `[1,2]`, 400, haetae.EInvalidJSON},
		{"user_unknown_field", "POST", base + "/v1/users", "", `{"name":"zed","password":"password1","admin":true}`, 400, haetae.EUnknownField},
		{"user_bad_utf8", "POST", base + "/v1/users", "", "{\"name\":\"z\xffd\",\"password\":\"password1\"}", 400, haetae.EInvalidUTF8},
		{"user_wrong_type", "POST", base + "/v1/users", "", `{"name":42,"password":"password1"}`, 400, haetae.EInvalidJSON},
		{"user_trailing_data", "POST", base + "/v1/users", "", `{"name":"zed","password":"password1"} {}`, 400, haetae.EInvalidJSON},
		{"user_short_name", "POST", base + "/v1/users", "", `{"name":"zd","password":"password1"}`, 400, haetae.EInvalidName},
		{"user_upper_case_name", "POST", base + "/v1/users", "", `{"name":"Zed","password":"password1"}`, 400, haetae.EInvalidName},
		{"user_weak_password", "POST", base + "/v1/users", "", `{"name":"zed","password":"short"}`, 400, haetae.EWeakPassword},
		{"user_name_taken", "POST", base + "/v1/users", "", `{"name":"alice","password":"password1"}`, 409, haetae.ENameTaken},
		{"session_wrong_password", "POST", base + "/v1/sessions", "", `{"name":"alice","password":"wrong-password"}`, 401, haetae.EBadCredentials},
		{"session_unknown_user", "POST", base + "/v1/sessions", "", `{"name":"nobody","password":"password1"}`, 401, haetae.EBadCredentials},
		{"rooms_no_token", "GET", base + "/v1/rooms", "", ``, 401, haetae.EUnauthorized},
		{"rooms_bad_token", "GET", base + "/v1/rooms", "not-a-token", ``, 401, haetae.EUnauthorized},
		{"room_members_missing", "POST", base + "/v1/rooms", alice, `{"title":"x"}`, 400, haetae.EInvalid},
		{"room_members_not_array", "POST", base + "/v1/rooms", alice, `{"members":"bob"}`, 400, haetae.EInvalidJSON},
		{"room_member_bad_name", "POST", base + "/v1/rooms", alice, `{"members":["B O B"]}`, 400, haetae.EInvalidName},
		{"room_member_unknown", "POST", base + "/v1/rooms", alice, `{"members":["nobody"]}`, 404, haetae.EUserNotFound},
		{"room_too_many_members", "POST", base + "/v1/rooms", alice, string(manyJSON), 400, haetae.ETooManyMembers},
		{"room_title_control_chars", "POST", base + "/v1/rooms", alice, `{"title":"a\u0007b","members":[]}`, 400, haetae.EInvalid},
		{"rooms_wrong_method", "DELETE", base + "/v1/rooms", alice, ``, 405, haetae.EMethodNotAllowed},
		{"send_other_peoples_room", "POST", msgs, carol, `{"client_id":"c1","text":"hi"}`, 404, haetae.ENotFound},
		{"send_unknown_room", "POST", base + "/v1/rooms/aaaaaaaaaaaaaaaa/messages", alice, `{"client_id":"c1","text":"hi"}`, 404, haetae.ENotFound},
		{"send_malformed_room", "POST", base + "/v1/rooms/..%2F/messages", alice, `{"client_id":"c1","text":"hi"}`, 404, haetae.ENotFound},
		{"send_no_client_id", "POST", msgs, alice, `{"text":"hi"}`, 400, haetae.EInvalid},
		{"send_bad_client_id", "POST", msgs, alice, `{"client_id":"a b","text":"hi"}`, 400, haetae.EInvalidClientID},
		{"send_long_client_id", "POST", msgs, alice, `{"client_id":"` + strings.Repeat("a", 65) + `","text":"hi"}`, 400, haetae.EInvalidClientID},
		{"send_empty_text", "POST", msgs, alice, `{"client_id":"c1","text":""}`, 400, haetae.EInvalidText},
		{"send_blank_text", "POST", msgs, alice, `{"client_id":"c1","text":" \n\t "}`, 400, haetae.EInvalidText},
		{"send_long_text", "POST", msgs, alice, `{"client_id":"c1","text":"` + strings.Repeat("가", 4001) + `"}`, 400, haetae.EInvalidText},
		{"send_text_wrong_type", "POST", msgs, alice, `{"client_id":"c1","text":["hi"]}`, 400, haetae.EInvalidJSON},
		{"send_unknown_field", "POST", msgs, alice, `{"client_id":"c1","text":"hi","kind":"system"}`, 400, haetae.EUnknownField},
		{"send_bad_utf8", "POST", msgs, alice, "{\"client_id\":\"c1\",\"text\":\"\xc3\x28\"}", 400, haetae.EInvalidUTF8},
		{"send_no_token", "POST", msgs, "", `{"client_id":"c1","text":"hi"}`, 401, haetae.EUnauthorized},
		{"history_other_peoples_room", "GET", msgs, carol, ``, 404, haetae.ENotFound},
		{"history_bad_after", "GET", msgs + "?after=abc", alice, ``, 400, haetae.EInvalid},
		{"history_negative_after", "GET", msgs + "?after=-1", alice, ``, 400, haetae.EInvalid},
		{"history_zero_limit", "GET", msgs + "?limit=0", alice, ``, 400, haetae.EInvalid},
		{"history_big_limit", "GET", msgs + "?limit=501", alice, ``, 400, haetae.EInvalid},
		{"members_other_peoples_room", "POST", base + "/v1/rooms/" + rm.ID + "/members", carol, `{"name":"carol"}`, 404, haetae.ENotFound},
		{"members_unknown_user", "POST", base + "/v1/rooms/" + rm.ID + "/members", alice, `{"name":"nobody"}`, 404, haetae.EUserNotFound},
		{"read_missing_seq", "POST", base + "/v1/rooms/" + rm.ID + "/read", alice, `{}`, 400, haetae.EInvalid},
		{"read_negative_seq", "POST", base + "/v1/rooms/" + rm.ID + "/read", alice, `{"seq":-1}`, 400, haetae.EInvalidJSON},
		{"read_other_peoples_room", "POST", base + "/v1/rooms/" + rm.ID + "/read", carol, `{"seq":1}`, 404, haetae.ENotFound},
		{"live_without_upgrade", "GET", base + "/v1/live", alice, ``, 400, haetae.EInvalid},
		{"live_no_token", "GET", base + "/v1/live", "", ``, 400, haetae.EInvalid},
		{"unknown_path", "GET", base + "/v2/whatever", alice, ``, 404, haetae.ENotFound},
		{"unknown_path_post", "POST", base + "/nope", "", `{}`, 404, haetae.ENotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" || tc.method == "POST" {
				body = []byte(tc.body)
			}
			r := testnode.Do(t, tc.method, tc.url, tc.token, body)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("content type %q", ct)
			}
		})
	}

	// Nothing changed: no new users, the room still has its members and its one message.
	if r := testnode.DoJSON(t, "POST", base+"/v1/sessions", "", map[string]string{"name": "zed", "password": "password1"}); r.Status != 401 {
		t.Fatalf("a refused registration created a user: %d", r.Status)
	}
	h := testnode.History(t, base, alice, rm.ID)
	if len(h) != 1 || h[0].ClientID != "first" {
		t.Fatalf("history changed: %+v", h)
	}
	var list struct{ Rooms []room }
	testnode.Do(t, "GET", base+"/v1/rooms", alice, nil).JSON(t, &list)
	if len(list.Rooms) != 1 || len(list.Rooms[0].Members) != 2 {
		t.Fatalf("rooms changed: %+v", list.Rooms)
	}
	testnode.Do(t, "GET", base+"/v1/rooms", carol, nil).JSON(t, &list)
	if len(list.Rooms) != 0 {
		t.Fatalf("carol sees rooms: %+v", list.Rooms)
	}
}

func TestIdempotentSend(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	testnode.MustUser(t, base, "bob")
	rm := mustRoom(t, base, alice, "bob")
	url := base + "/v1/rooms/" + rm.ID + "/messages"

	first := testnode.DoJSON(t, "POST", url, alice, map[string]string{"client_id": "k1", "text": "hello"})
	again := testnode.DoJSON(t, "POST", url, alice, map[string]string{"client_id": "k1", "text": "hello"})
	other := testnode.DoJSON(t, "POST", url, alice, map[string]string{"client_id": "k1", "text": "changed"})
	if first.Status != 201 || again.Status != 200 || other.Status != 409 || other.ErrorCode() != haetae.EIdempotencyConflict {
		t.Fatalf("statuses %d %d %d (%s)", first.Status, again.Status, other.Status, other.Body)
	}
	var m1, m2 haetae.Message
	first.JSON(t, &m1)
	again.JSON(t, &m2)
	if m1 != m2 {
		t.Fatalf("repeat returned %+v, original %+v", m2, m1)
	}
	// Concurrent repeats of one id commit one message.
	var wg sync.WaitGroup
	seqs := make([]uint64, 20)
	for i := range seqs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := testnode.DoJSON(t, "POST", url, alice, map[string]string{"client_id": "k2", "text": "same"})
			var m haetae.Message
			json.Unmarshal(r.Body, &m)
			seqs[i] = m.Seq
		}(i)
	}
	wg.Wait()
	for _, s := range seqs {
		if s != seqs[0] || s == 0 {
			t.Fatalf("concurrent repeats got seqs %v", seqs)
		}
	}
	// The longest text of characters that JSON encoders like to escape is stored whole.
	long := strings.Repeat("<&>", 4000/3) + "<"
	if r := testnode.DoJSON(t, "POST", url, alice, map[string]string{"client_id": "long", "text": long}); r.Status != 201 {
		t.Fatalf("longest text: %d %s", r.Status, r.Body)
	}

	// Room creation is idempotent by Idempotency-Key.
	roomURL := base + "/v1/rooms"
	var rooms [3]room
	for i, body := range []string{`{"title":"x","members":["bob"]}`, `{"title":"x","members":["bob"]}`, `{"title":"y","members":["bob"]}`} {
		req, _ := http.NewRequest("POST", roomURL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Idempotency-Key", "room-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&rooms[i])
		resp.Body.Close()
		if want := []int{201, 200, 409}[i]; resp.StatusCode != want {
			t.Fatalf("room creation %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	if rooms[0].ID == "" || rooms[0].ID != rooms[1].ID {
		t.Fatalf("repeat made another room: %q then %q", rooms[0].ID, rooms[1].ID)
	}

	// The Idempotency-Key header stands in for client_id.
	req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(`{"text":"by header"}`)))
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("Idempotency-Key", "hdr1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("send by Idempotency-Key: %d", resp.StatusCode)
	}
	if h := testnode.History(t, base, alice, rm.ID); len(h) != 4 || h[2].Text != long {
		t.Fatalf("history has %d messages, want 4 with the long one", len(h))
	}
}

type wsConn struct {
	c *websocket.Conn
}

func dialLive(tb testing.TB, base, token string) *wsConn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/live?token="+token, nil)
	if err != nil {
		tb.Fatalf("dial live: %v", err)
	}
	c.SetReadLimit(1 << 20)
	tb.Cleanup(func() { c.CloseNow() })
	return &wsConn{c}
}

func (w *wsConn) send(tb testing.TB, v any) {
	tb.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		tb.Fatal(err)
	}
}

type frame struct {
	Type    string          `json:"type"`
	Room    string          `json:"room"`
	Name    string          `json:"name"`
	Seq     uint64          `json:"seq"`
	Message *haetae.Message `json:"message"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (w *wsConn) read(tb testing.TB, timeout time.Duration) (frame, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("frame is not JSON: %q", b)
	}
	return f, nil
}

func TestLiveRefusesNonMembers(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	testnode.MustUser(t, base, "bob")
	carol := testnode.MustUser(t, base, "carol")
	rm := mustRoom(t, base, alice, "bob")
	mustSend(t, base, alice, rm.ID, "a", "secret")

	w := dialLive(t, base, carol)
	for _, f := range []map[string]any{
		{"type": "subscribe", "room": rm.ID, "after": 0},
		{"type": "typing", "room": rm.ID},
		{"type": "subscribe", "room": "aaaaaaaaaaaaaaaa"},
		{"type": "dance"},
	} {
		w.send(t, f)
		got, err := w.read(t, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want := haetae.ENotFound
		if f["type"] == "dance" {
			want = haetae.EInvalid
		}
		if got.Type != "error" || got.Error == nil || got.Error.Code != want {
			t.Fatalf("frame %v answered with %+v, want error %s", f, got, want)
		}
	}
	// Malformed frames get an error frame, and the connection stays usable.
	if err := w.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":`)); err != nil {
		t.Fatal(err)
	}
	if got, err := w.read(t, 10*time.Second); err != nil || got.Error == nil || got.Error.Code != haetae.EInvalidJSON {
		t.Fatalf("malformed frame answered with %+v %v", got, err)
	}
	// A bad token is refused before the upgrade.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/live?token=nope", nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("bad token dial: %v %v", resp, err)
	}
}

// TestLiveResumeNoGapNoDuplicate subscribes, drops the connection while senders keep sending, resumes from
// the cursor, and checks that the subscriber saw every acknowledged message exactly once, in order.
func TestLiveResumeNoGapNoDuplicate(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	bob := testnode.MustUser(t, base, "bob")
	rm := mustRoom(t, base, alice, "bob")

	const senders, perSender = 4, 60
	acked := make(chan uint64, senders*perSender)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			<-start
			for i := 0; i < perSender; i++ {
				m := mustSend(t, base, alice, rm.ID, fmt.Sprintf("s%d-%d", s, i), "msg")
				acked <- m.Seq
			}
		}(s)
	}

	seen := map[uint64]int{}
	var cursor uint64
	receive := func(w *wsConn, until int) error {
		for len(seen) < until {
			f, err := w.read(t, 10*time.Second)
			if err != nil {
				return err
			}
			if f.Type != "message" {
				continue
			}
			if f.Message.Seq <= cursor {
				t.Fatalf("seq %d arrived after cursor %d", f.Message.Seq, cursor)
			}
			cursor = f.Message.Seq
			seen[cursor]++
		}
		return nil
	}

	w := dialLive(t, base, bob)
	w.send(t, map[string]any{"type": "subscribe", "room": rm.ID, "after": 0})
	close(start)
	if err := receive(w, 30); err != nil {
		t.Fatal(err)
	}
	w.c.Close(websocket.StatusNormalClosure, "") // drop mid-stream while senders go on
	for round := 0; round < 3; round++ {
		w = dialLive(t, base, bob)
		w.send(t, map[string]any{"type": "subscribe", "room": rm.ID, "after": cursor})
		if err := receive(w, 30*(round+2)); err != nil {
			t.Fatal(err)
		}
		w.c.Close(websocket.StatusNormalClosure, "")
	}
	wg.Wait()
	close(acked)
	want := map[uint64]bool{}
	for s := range acked {
		want[s] = true
	}
	w = dialLive(t, base, bob)
	w.send(t, map[string]any{"type": "subscribe", "room": rm.ID, "after": cursor})
	if err := receive(w, len(want)); err != nil {
		t.Fatalf("after %d of %d: %v", len(seen), len(want), err)
	}
	for s := range want {
		if seen[s] != 1 {
			t.Fatalf("acknowledged seq %d seen %d times", s, seen[s])
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("saw %d messages, %d acknowledged", len(seen), len(want))
	}
}

func TestTypingAndReadEventsReachMembers(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	bob := testnode.MustUser(t, base, "bob")
	rm := mustRoom(t, base, alice, "bob")
	m := mustSend(t, base, alice, rm.ID, "a", "hi")

	w := dialLive(t, base, alice)
	w.send(t, map[string]any{"type": "subscribe", "room": rm.ID, "after": m.Seq})
	// Read alice's frames in the background: a read that times out would close the WebSocket.
	frames := make(chan frame, 100)
	go func() {
		for {
			_, b, err := w.c.Read(context.Background())
			if err != nil {
				close(frames)
				return
			}
			var f frame
			if json.Unmarshal(b, &f) == nil {
				frames <- f
			}
		}
	}()
	wb := dialLive(t, base, bob)
	// Events are not stored: keep announcing until the subscription is in place and both have arrived.
	got := map[string]bool{}
	testnode.CheckFor(t, 15*time.Second, 10*time.Millisecond, func() error {
		wb.send(t, map[string]any{"type": "typing", "room": rm.ID})
		if r := testnode.DoJSON(t, "POST", base+"/v1/rooms/"+rm.ID+"/read", bob, map[string]uint64{"seq": m.Seq}); r.Status != 204 {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("alice's connection closed")
			}
			if f.Room == rm.ID && f.Name == "bob" {
				got[f.Type] = true
			}
		case <-time.After(200 * time.Millisecond):
		}
		if !got["typing"] {
			return fmt.Errorf("no typing frame yet (got %v)", got)
		}
		return nil
	})
	var list struct{ Rooms []room }
	testnode.Do(t, "GET", base+"/v1/rooms", bob, nil).JSON(t, &list)
	if len(list.Rooms) != 1 || list.Rooms[0].Unread != 0 || list.Rooms[0].LastSeq != m.Seq {
		t.Fatalf("bob's rooms after reading: %+v", list.Rooms)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := testnode.Do(t, "GET", n.URL()+p, "", nil); r.Status != 200 {
			t.Fatalf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	alice := testnode.MustUser(t, n.URL(), "alice")
	rm := mustRoom(t, n.URL(), alice)
	mustSend(t, n.URL(), alice, rm.ID, "x", "y")
	r := testnode.Do(t, "GET", n.URL()+"/metrics", "", nil)
	for _, want := range []string{"haetae_messages_sent_total 1", "haetae_commit_batch_messages_count", `haetae_http_requests_total{route="send",status="201"} 1`} {
		if !strings.Contains(string(r.Body), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
	n.API.DrainLive(context.Background())
	if r := testnode.Do(t, "GET", n.URL()+"/readyz", "", nil); r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz while draining: %d %v", r.Status, r.Header)
	}
}

// TestShutdownTellsLiveClientsToGoElsewhere checks that a node closing down closes WebSockets with 1001
// (going away), so clients resume from their cursors on another node instead of waiting.
func TestShutdownTellsLiveClientsToGoElsewhere(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	alice := testnode.MustUser(t, n.URL(), "alice")
	rm := mustRoom(t, n.URL(), alice)
	m := mustSend(t, n.URL(), alice, rm.ID, "a", "hi")
	w := dialLive(t, n.URL(), alice)
	w.send(t, map[string]any{"type": "subscribe", "room": rm.ID, "after": 0})
	if f, err := w.read(t, 10*time.Second); err != nil || f.Message == nil || f.Message.Seq != m.Seq {
		t.Fatalf("first frame: %+v %v", f, err)
	}
	go n.Close(context.Background())
	for {
		_, err := w.read(t, 10*time.Second)
		if err == nil {
			continue // the unavailable error frame may come first
		}
		if st := websocket.CloseStatus(err); st != websocket.StatusGoingAway {
			t.Fatalf("connection ended with %v (status %d), want 1001 going away", err, st)
		}
		return
	}
}

func TestPasswordGuessingIsLimited(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	testnode.MustUser(t, n.URL(), "alice")
	var r *testnode.Response
	for i := 0; i < 10; i++ {
		r = testnode.DoJSON(t, "POST", n.URL()+"/v1/sessions", "", map[string]string{"name": "alice", "password": fmt.Sprintf("guess-%d", i)})
		if r.Status != 401 {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	// Now even the right password waits: the limit is on the name, not on being wrong.
	r = testnode.DoJSON(t, "POST", n.URL()+"/v1/sessions", "", map[string]string{"name": "alice", "password": "password-alice"})
	if r.Status != 429 || r.ErrorCode() != haetae.ERateLimited || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 10 wrong passwords: %d %v %s", r.Status, r.Header, r.Body)
	}
	// Other names are not affected.
	testnode.MustUser(t, n.URL(), "bob")
}

// TestFullDiskIsUnavailableNotInternal fills a node whose JetStream may use little disk: writes past
// the cap are 503 with Retry-After (the operator's problem, not the client's and not a bug), and what was
// acknowledged before stays readable.
func TestFullDiskIsUnavailableNotInternal(t *testing.T) {
	cfg := testnode.Config(t)
	cfg.MaxStore = 2 << 20
	n := testnode.MustStart(t, cfg)
	alice := testnode.MustUser(t, n.URL(), "alice")
	rm := mustRoom(t, n.URL(), alice)
	text := strings.Repeat("가", 4000)
	acked := 0
	for i := 0; i < 1000; i++ { // 1000 × 12 KB is far past the 2 MiB cap
		r := testnode.DoJSON(t, "POST", n.URL()+"/v1/rooms/"+rm.ID+"/messages", alice, map[string]string{"client_id": fmt.Sprintf("m%d", i), "text": text})
		if r.Status == 201 {
			acked++
			continue
		}
		if r.Status != 503 || r.ErrorCode() != haetae.EUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("send past the disk cap: %d %s", r.Status, r.Body)
		}
		break
	}
	if acked == 0 || acked == 1000 {
		t.Fatalf("%d sends acknowledged: the cap was never reached or hit at once", acked)
	}
	if h := testnode.History(t, n.URL(), alice, rm.ID); len(h) != acked {
		t.Fatalf("history holds %d of %d acknowledged messages", len(h), acked)
	}
}

func TestRoomsPerUserAreBounded(t *testing.T) {
	cfg := testnode.Config(t)
	cfg.Store.Limits.RoomsMax = 3
	n := testnode.MustStart(t, cfg)
	alice := testnode.MustUser(t, n.URL(), "alice")
	bob := testnode.MustUser(t, n.URL(), "bob")
	var last room
	for i := 0; i < 3; i++ {
		last = mustRoom(t, n.URL(), alice)
	}
	r := testnode.DoJSON(t, "POST", n.URL()+"/v1/rooms", alice, map[string]any{"members": []string{}})
	if r.Status != 400 || r.ErrorCode() != haetae.ETooManyRooms {
		t.Fatalf("fourth room: %d %s", r.Status, r.Body)
	}
	// bob is free, but cannot be put into a fourth room with alice, nor can alice add him to a full one
	// of his: the bound holds for every member.
	r = testnode.DoJSON(t, "POST", n.URL()+"/v1/rooms", bob, map[string]any{"members": []string{"alice"}})
	if r.Status != 400 || r.ErrorCode() != haetae.ETooManyRooms {
		t.Fatalf("room with a full member: %d %s", r.Status, r.Body)
	}
	for i := 0; i < 3; i++ {
		mustRoom(t, n.URL(), bob)
	}
	r = testnode.DoJSON(t, "POST", n.URL()+"/v1/rooms/"+last.ID+"/members", alice, map[string]string{"name": "bob"})
	if r.Status != 400 || r.ErrorCode() != haetae.ETooManyRooms {
		t.Fatalf("adding a full member: %d %s", r.Status, r.Body)
	}
	var list struct{ Rooms []room }
	testnode.Do(t, "GET", n.URL()+"/v1/rooms", alice, nil).JSON(t, &list)
	if len(list.Rooms) != 3 {
		t.Fatalf("alice has %d rooms, want 3", len(list.Rooms))
	}
}
