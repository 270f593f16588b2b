// Package testnode starts real in-process Haetae nodes for tests: an embedded JetStream in a temporary
// directory and the HTTP API on a loopback port. Nothing in it is a fake; it only shortens set-up.
package testnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/jsstore"
	"github.com/haetae/haetae/node"
)

// CheapArgon makes password hashing fast in tests; its cost is a parameter, not the logic under test.
var CheapArgon = jsstore.Argon2Params{Time: 1, Memory: 1024, Threads: 1}

// Config returns a node configuration for a test: a temporary data dir, a free loopback port.
func Config(tb testing.TB) node.Config {
	tb.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = tb.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Store.Argon2 = CheapArgon
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	// Tests send from one address and often one token as fast as they can; the tests of the per-client
	// rate limits turn them back on.
	cfg.TokenRate, cfg.AddrRate = node.RateLimit{}, node.RateLimit{}
	return cfg
}

// MustStart opens a node with cfg and closes it when the test ends.
func MustStart(tb testing.TB, cfg node.Config) *node.Node {
	tb.Helper()
	n := node.New(cfg)
	if err := n.Open(context.Background()); err != nil {
		tb.Fatalf("open node: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n.Close(ctx)
	})
	return n
}

// Response is a decoded HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it is not JSON.
func (r *Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("response %d is not JSON: %v: %q", r.Status, err, r.Body)
	}
}

// ErrorCode returns error.code of an error body, "" if there is none.
func (r *Response) ErrorCode() string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// Do sends one request with a raw body (nil for none) and an optional bearer token.
func Do(tb testing.TB, method, url, token string, body []byte) *Response {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// DoJSON is Do with v marshalled as the body.
func DoJSON(tb testing.TB, method, url, token string, v any) *Response {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return Do(tb, method, url, token, b)
}

// MustUser registers name and returns a fresh token for it.
func MustUser(tb testing.TB, base, name string) string {
	tb.Helper()
	if r := DoJSON(tb, "POST", base+"/v1/users", "", map[string]string{"name": name, "password": "password-" + name}); r.Status != 201 {
		tb.Fatalf("register %s: %d %s", name, r.Status, r.Body)
	}
	r := DoJSON(tb, "POST", base+"/v1/sessions", "", map[string]string{"name": name, "password": "password-" + name})
	if r.Status != 200 {
		tb.Fatalf("login %s: %d %s", name, r.Status, r.Body)
	}
	var s struct{ Token string }
	r.JSON(tb, &s)
	return s.Token
}

// Login returns a fresh token for a user made by MustUser.
func Login(tb testing.TB, base, name string) string {
	tb.Helper()
	r := DoJSON(tb, "POST", base+"/v1/sessions", "", map[string]string{"name": name, "password": "password-" + name})
	if r.Status != 200 {
		tb.Fatalf("login %s: %d %s", name, r.Status, r.Body)
	}
	var s struct{ Token string }
	r.JSON(tb, &s)
	return s.Token
}

// History reads a room's whole history through the API, page by page.
func History(tb testing.TB, base, token, room string) []haetae.Message {
	tb.Helper()
	var all []haetae.Message
	var after uint64
	for {
		r := Do(tb, "GET", fmt.Sprintf("%s/v1/rooms/%s/messages?after=%d&limit=500", base, room, after), token, nil)
		if r.Status != 200 {
			tb.Fatalf("history: %d %s", r.Status, r.Body)
		}
		var page struct {
			Messages []haetae.Message `json:"messages"`
			Next     uint64           `json:"next"`
		}
		r.JSON(tb, &page)
		if len(page.Messages) == 0 {
			return all
		}
		all = append(all, page.Messages...)
		after = page.Next
	}
}

// CheckFor polls f until it returns nil or total passes, then fails with f's last error.
func CheckFor(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("still failing after %s: %v", total, err)
		}
		time.Sleep(every)
	}
}
