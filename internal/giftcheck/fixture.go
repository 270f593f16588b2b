package giftcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae"
)

// Fixture is a sender, a receiver and merchants on a cluster, each logged in, and an HTTP client.
type Fixture struct {
	URLs       []string
	AdminToken string
	HTTP       *http.Client
	// AttemptTimeout bounds one HTTP attempt (default 5 s).
	AttemptTimeout time.Duration
	Sender         Account
	Receiver       Account
	Merchants      []Account

	seq sync.Mutex
	n   int
}

// Account is a logged-in user; Home is the index of the URL it sends to first.
type Account struct {
	Name, Token string
	Home        int
}

const password = "giftcheck-password"

// NewFixture makes the accounts (merchants through the admin token) under names starting with prefix,
// merchant i at home URL i mod len(urls), and logs them in. Set-up retries through the URLs for up to
// a minute: a cluster that just started may still be electing.
func NewFixture(tb testing.TB, urls []string, adminToken, prefix string, merchants int) *Fixture {
	tb.Helper()
	f := &Fixture{URLs: urls, AdminToken: adminToken, AttemptTimeout: 5 * time.Second, HTTP: &http.Client{Transport: &http.Transport{
		MaxIdleConns: 512, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second,
	}}}
	tb.Cleanup(f.HTTP.CloseIdleConnections)
	f.Sender = f.mustAccount(tb, prefix+"-alice", false, 0)
	f.Receiver = f.mustAccount(tb, prefix+"-bob", false, 1%len(urls))
	f.Merchants = make([]Account, merchants)
	var wg sync.WaitGroup
	errs := make(chan string, merchants)
	sem := make(chan struct{}, 8)
	for i := range merchants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			a, err := f.account(fmt.Sprintf("%s-shop%03d", prefix, i), true, i%len(urls))
			if err != nil {
				errs <- err.Error()
				return
			}
			f.Merchants[i] = a
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		tb.Fatal(e)
	}
	return f
}

func (f *Fixture) mustAccount(tb testing.TB, name string, merchant bool, home int) Account {
	tb.Helper()
	a, err := f.account(name, merchant, home)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func (f *Fixture) account(name string, merchant bool, home int) (Account, error) {
	cred := map[string]string{"name": name, "password": password}
	path, token := "/v1/users", ""
	if merchant {
		path, token = "/v1/merchants", f.AdminToken
	}
	status, body, err := f.retry(http.MethodPost, path, token, "", cred, home, time.Minute)
	if err != nil || (status != 201 && status != 409) {
		return Account{}, fmt.Errorf("make %s: %d %s %v", name, status, body, err)
	}
	status, body, err = f.retry(http.MethodPost, "/v1/sessions", "", "", cred, home, time.Minute)
	if err != nil || status != 200 {
		return Account{}, fmt.Errorf("log in %s: %d %s %v", name, status, body, err)
	}
	var s struct{ Token string }
	json.Unmarshal(body, &s)
	return Account{Name: name, Token: s.Token, Home: home}, nil
}

// retry sends one request through the URLs, starting at home, until an answer other than 5xx or a
// transport error comes, or total passes.
func (f *Fixture) retry(method, path, token, key string, body any, home int, total time.Duration) (int, []byte, error) {
	deadline := time.Now().Add(total)
	var lastErr error
	for i := 0; ; i++ {
		status, b, err := f.do(context.Background(), f.URLs[(home+i)%len(f.URLs)], method, path, token, key, body)
		if err == nil && status < 500 {
			return status, b, nil
		}
		lastErr = fmt.Errorf("%d %s %v", status, b, err)
		if time.Now().After(deadline) {
			return 0, nil, fmt.Errorf("%s %s: no answer within %s: %v", method, path, total, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// do makes one HTTP attempt.
func (f *Fixture) do(ctx context.Context, base, method, path, token, key string, body any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.AttemptTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := f.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// SendGift has the sender give the receiver a gift, retrying (with one client_id) until it is made.
func (f *Fixture) SendGift(tb testing.TB) haetae.Gift {
	tb.Helper()
	f.seq.Lock()
	f.n++
	id := fmt.Sprintf("gift-%d", f.n)
	f.seq.Unlock()
	req := haetae.GiftRequest{ClientID: id, To: f.Receiver.Name, Product: "coupon " + id}
	status, body, err := f.retry(http.MethodPost, "/v1/gifts", f.Sender.Token, "", req, f.Sender.Home, time.Minute)
	if err != nil || (status != 201 && status != 200) {
		tb.Fatalf("send gift: %d %s %v", status, body, err)
	}
	var g haetae.Gift
	if err := json.Unmarshal(body, &g); err != nil {
		tb.Fatal(err)
	}
	return g
}

// Redeem makes one redemption attempt of merchant m with key at URL index at, records it in h, and
// returns it.
func (f *Fixture) Redeem(ctx context.Context, h *History, client int, m Account, code, key string, at int) Op {
	base := f.URLs[at%len(f.URLs)]
	op := Op{Client: client, Gift: code, Merchant: m.Name, Key: key, Endpoint: base, Call: h.Now()}
	status, body, err := f.do(ctx, base, http.MethodPost, "/v1/gifts/"+code+"/redeem", m.Token, key, nil)
	op.Return = h.Now()
	var r struct {
		haetae.Redeemed
		Error *struct {
			Code       string            `json:"code"`
			Redemption haetae.Redemption `json:"redemption"`
		} `json:"error"`
	}
	json.Unmarshal(body, &r)
	switch {
	case err != nil:
		op.Outcome, op.Detail = Unknown, err.Error()
	case status == 200:
		op.Outcome, op.Winner, op.RedemptionID, op.Detail = Won, r.Redemption.Merchant, r.Redemption.ID, "200"
		if op.Winner != m.Name {
			op.Outcome = Refused // a 200 naming someone else: Verify reports it
			op.Detail = fmt.Sprintf("200 naming %s", op.Winner)
		}
	case status == 409 && r.Error != nil && r.Error.Code == haetae.EAlreadyRedeemed:
		op.Outcome, op.Winner, op.RedemptionID, op.Detail = Lost, r.Error.Redemption.Merchant, r.Error.Redemption.ID, "409 already_redeemed"
	case status >= 500:
		op.Outcome, op.Detail = Unknown, fmt.Sprintf("%d %s", status, errorCode(body))
	default:
		op.Outcome, op.Detail = Refused, fmt.Sprintf("%d %s", status, errorCode(body))
	}
	h.Add(op)
	return op
}

// RedeemUntilKnown repeats merchant m's redemption with one key, first at URL index home and then at
// the others in turn, until an answer is definite or ctx ends; every attempt is recorded. This is what
// a merchant's till does when its data center is lost.
func (f *Fixture) RedeemUntilKnown(ctx context.Context, h *History, client int, m Account, code, key string, home int) Op {
	var op Op
	for i := 0; ; i++ {
		op = f.Redeem(ctx, h, client, m, code, key, home+i)
		if op.Outcome != Unknown || ctx.Err() != nil {
			return op
		}
		select {
		case <-ctx.Done():
			return op
		case <-time.After(time.Duration(50*min(i+1, 10)) * time.Millisecond):
		}
	}
}

// Read looks a gift up as the receiver at URL index at, retrying until it is answered, and records the
// read in h.
func (f *Fixture) Read(tb testing.TB, h *History, client int, code string, at int) (haetae.Gift, Op) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		base := f.URLs[(at+i)%len(f.URLs)]
		op := Op{Client: client, Gift: code, Read: true, Endpoint: base, Call: h.Now()}
		status, body, err := f.do(context.Background(), base, http.MethodGet, "/v1/gifts/"+code, f.Receiver.Token, "", nil)
		op.Return = h.Now()
		if err == nil && status == 200 {
			var g haetae.Gift
			if err := json.Unmarshal(body, &g); err != nil {
				tb.Fatal(err)
			}
			if g.Redemption != nil {
				op.Winner, op.RedemptionID = g.Redemption.Merchant, g.Redemption.ID
			}
			op.Outcome, op.Detail = Won, "200"
			if g.Redemption == nil {
				op.Outcome = Refused
			}
			h.Add(op)
			return g, op
		}
		if time.Now().After(deadline) {
			tb.Fatalf("read gift %s: %d %s %v", code, status, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Replay asks with the winner's own key whether it redeemed the gift, retrying through the URLs; it is
// how a merchant whose answers were all lost learns the truth afterwards.
func (f *Fixture) Replay(ctx context.Context, h *History, client int, m Account, code, key string) Op {
	return f.RedeemUntilKnown(ctx, h, client, m, code, key, m.Home+1)
}

// MerchantNamed returns the fixture's merchant of that name.
func (f *Fixture) MerchantNamed(name string) (Account, error) {
	for _, m := range f.Merchants {
		if m.Name == name {
			return m, nil
		}
	}
	return Account{}, errors.New("no merchant " + name)
}

func errorCode(body []byte) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(body, &e)
	if e.Error.Code == "" {
		return strings.TrimSpace(string(body[:min(len(body), 80)]))
	}
	return e.Error.Code
}
