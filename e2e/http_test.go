package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

var hc = &http.Client{Timeout: 10 * time.Second}

// trySend posts one message and reports the status; a transport error (server gone) is err.
func trySend(base, token, room, clientID string) (*haetae.Message, int, error) {
	b, _ := json.Marshal(map[string]string{"client_id": clientID, "text": "message " + clientID})
	req, err := http.NewRequest("POST", base+"/v1/rooms/"+room+"/messages", bytes.NewReader(b))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	var m haetae.Message
	if resp.StatusCode == 200 || resp.StatusCode == 201 {
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, resp.StatusCode, err
		}
	}
	return &m, resp.StatusCode, nil
}

func login(tb testing.TB, base, name string) string {
	tb.Helper()
	r := testnode.DoJSON(tb, "POST", base+"/v1/sessions", "", map[string]string{"name": name, "password": "password-" + name})
	if r.Status != 200 {
		tb.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var s haetae.Session
	r.JSON(tb, &s)
	return s.Token
}

func fullHistory(tb testing.TB, base, token, room string) []haetae.Message {
	tb.Helper()
	var all []haetae.Message
	var after uint64
	for {
		r := testnode.Do(tb, "GET", fmt.Sprintf("%s/v1/rooms/%s/messages?after=%d&limit=500", base, room, after), token, nil)
		if r.Status != 200 {
			tb.Fatalf("history: %d %s", r.Status, r.Body)
		}
		var page struct {
			Messages []haetae.Message
			Next     uint64
		}
		r.JSON(tb, &page)
		if len(page.Messages) == 0 {
			return all
		}
		all = append(all, page.Messages...)
		after = page.Next
	}
}
