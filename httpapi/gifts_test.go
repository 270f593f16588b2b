package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/node"
)

const testAdminToken = "test-admin-token-0123456789"

func giftNodeConfig(tb testing.TB) node.Config {
	tb.Helper()
	cfg := testnode.Config(tb)
	cfg.AdminToken = testAdminToken
	return cfg
}

// mustMerchant makes a merchant through the admin endpoint and returns its token.
func mustMerchant(tb testing.TB, base, name string) string {
	tb.Helper()
	r := testnode.DoJSON(tb, "POST", base+"/v1/merchants", testAdminToken, map[string]string{"name": name, "password": "password-" + name})
	if r.Status != 201 {
		tb.Fatalf("create merchant %s: %d %s", name, r.Status, r.Body)
	}
	return testnode.Login(tb, base, name)
}

func mustSendGift(tb testing.TB, base, token, clientID, to string) haetae.Gift {
	tb.Helper()
	r := testnode.DoJSON(tb, "POST", base+"/v1/gifts", token, map[string]string{"client_id": clientID, "to": to, "product": "Americano"})
	if r.Status != 201 {
		tb.Fatalf("send gift: %d %s", r.Status, r.Body)
	}
	var g haetae.Gift
	r.JSON(tb, &g)
	return g
}

// doKey sends a request with an Idempotency-Key header (none when key is "") and a raw body.
func doKey(tb testing.TB, method, url, token, key, body string) *testnode.Response {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &testnode.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// TestGiftBadInputIsRefusedAndChangesNothing: every bad input of the gift endpoints is the contract's
// 4xx, and afterwards the gift is as it was and no other gift exists.
func TestGiftBadInputIsRefusedAndChangesNothing(t *testing.T) {
	n := testnode.MustStart(t, giftNodeConfig(t))
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	bob := testnode.MustUser(t, base, "bob")
	carol := testnode.MustUser(t, base, "carol")
	cafe := mustMerchant(t, base, "cafe")
	g := mustSendGift(t, base, alice, "g1", "bob")
	redeem := base + "/v1/gifts/" + g.Code + "/redeem"
	unknown := "0000-0000-0000-0000"
	if g.Code == unknown {
		unknown = "0000-0000-0000-0001"
	}
	cases := []struct {
		name, method, url, token, key, body string
		status                              int
		code                                string
	}{
		{"merchant_no_admin_token", "POST", base + "/v1/merchants", "", "", `{"name":"shop","password":"password1"}`, 401, haetae.EUnauthorized},
		{"merchant_user_token", "POST", base + "/v1/merchants", alice, "", `{"name":"shop","password":"password1"}`, 403, haetae.EForbidden},
		{"merchant_name_taken", "POST", base + "/v1/merchants", testAdminToken, "", `{"name":"alice","password":"password1"}`, 409, haetae.ENameTaken},
		{"merchant_weak_password", "POST", base + "/v1/merchants", testAdminToken, "", `{"name":"shop","password":"short"}`, 400, haetae.EWeakPassword},
		{"merchant_unknown_field", "POST", base + "/v1/merchants", testAdminToken, "", `{"name":"shop","password":"password1","role":"admin"}`, 400, haetae.EUnknownField},
		{"send_no_token", "POST", base + "/v1/gifts", "", "", `{"client_id":"x","to":"bob","product":"p"}`, 401, haetae.EUnauthorized},
		{"send_unknown_field", "POST", base + "/v1/gifts", alice, "", `{"client_id":"x","to":"bob","product":"p","status":"redeemed"}`, 400, haetae.EUnknownField},
		{"send_no_client_id", "POST", base + "/v1/gifts", alice, "", `{"to":"bob","product":"p"}`, 400, haetae.EInvalid},
		{"send_bad_client_id", "POST", base + "/v1/gifts", alice, "", `{"client_id":"a b","to":"bob","product":"p"}`, 400, haetae.EInvalidClientID},
		{"send_no_to", "POST", base + "/v1/gifts", alice, "", `{"client_id":"x","product":"p"}`, 400, haetae.EInvalid},
		{"send_to_self", "POST", base + "/v1/gifts", alice, "", `{"client_id":"x","to":"alice","product":"p"}`, 400, haetae.EInvalid},
		{"send_to_nobody", "POST", base + "/v1/gifts", alice, "", `{"client_id":"x","to":"nobody","product":"p"}`, 404, haetae.EUserNotFound},
		{"send_no_product", "POST", base + "/v1/gifts", alice, "", `{"client_id":"x","to":"bob"}`, 400, haetae.EInvalid},
		{"send_long_product", "POST", base + "/v1/gifts", alice, "", `{"client_id":"x","to":"bob","product":"` + strings.Repeat("p", 101) + `"}`, 400, haetae.EInvalid},
		{"send_foreign_room", "POST", base + "/v1/gifts", alice, "", `{"client_id":"x","to":"bob","product":"p","room":"aaaaaaaaaaaaaaaa"}`, 404, haetae.ENotFound},
		{"send_repeat_other_body", "POST", base + "/v1/gifts", alice, "", `{"client_id":"g1","to":"bob","product":"Latte"}`, 409, haetae.EIdempotencyConflict},
		{"get_malformed_code", "GET", base + "/v1/gifts/ABC", alice, "", ``, 400, haetae.EInvalidCode},
		{"get_foreign_gift", "GET", base + "/v1/gifts/" + g.Code, carol, "", ``, 404, haetae.ENotFound},
		{"get_unknown_gift", "GET", base + "/v1/gifts/" + unknown, alice, "", ``, 404, haetae.ENotFound},
		{"list_bad_limit", "GET", base + "/v1/gifts?limit=0", alice, "", ``, 400, haetae.EInvalid},
		{"list_big_limit", "GET", base + "/v1/gifts?limit=501", alice, "", ``, 400, haetae.EInvalid},
		{"redeem_no_token", "POST", redeem, "", "k", ``, 401, haetae.EUnauthorized},
		{"redeem_by_receiver", "POST", redeem, bob, "k", ``, 403, haetae.EForbidden},
		{"redeem_by_sender", "POST", redeem, alice, "k", ``, 403, haetae.EForbidden},
		{"redeem_no_key", "POST", redeem, cafe, "", ``, 400, haetae.EInvalid},
		{"redeem_bad_key", "POST", redeem, cafe, "a.b", ``, 400, haetae.EInvalidClientID},
		{"redeem_long_key", "POST", redeem, cafe, strings.Repeat("k", 65), ``, 400, haetae.EInvalidClientID},
		{"redeem_malformed_code", "POST", base + "/v1/gifts/not-a-code/redeem", cafe, "k", ``, 400, haetae.EInvalidCode},
		{"redeem_wildcard_code", "POST", base + "/v1/gifts/AAAA-AAAA-AAAA-AAA*/redeem", cafe, "k", ``, 400, haetae.EInvalidCode},
		{"redeem_unknown_code", "POST", base + "/v1/gifts/" + unknown + "/redeem", cafe, "k", ``, 404, haetae.ENotFound},
		{"redeem_unknown_field", "POST", redeem, cafe, "k", `{"merchant":"other"}`, 400, haetae.EUnknownField},
		{"redeem_bad_json", "POST", redeem, cafe, "k", `{`, 400, haetae.EInvalidJSON},
		{"redeem_wrong_method", "GET", redeem, cafe, "k", ``, 405, haetae.EMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := doKey(t, tc.method, tc.url, tc.token, tc.key, tc.body)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
			}
		})
	}
	var got haetae.Gift
	testnode.Do(t, "GET", base+"/v1/gifts/"+g.Code, bob, nil).JSON(t, &got)
	if got.Status != haetae.GiftIssued || got.Redemption != nil {
		t.Fatalf("gift after bad input: %+v", got)
	}
	var list struct{ Gifts []haetae.Gift }
	testnode.Do(t, "GET", base+"/v1/gifts", bob, nil).JSON(t, &list)
	if len(list.Gifts) != 1 {
		t.Fatalf("bob has %d gifts after bad input, want 1", len(list.Gifts))
	}
	if r := testnode.DoJSON(t, "POST", base+"/v1/sessions", "", map[string]string{"name": "shop", "password": "password1"}); r.Status != 401 {
		t.Fatalf("a refused merchant creation made an account: %d", r.Status)
	}
}

// TestGiftRedeemOverHTTP: the 200 of a redemption, its replay byte for byte, already_redeemed naming
// the winner, the gift and system messages, and the merchant's view.
func TestGiftRedeemOverHTTP(t *testing.T) {
	n := testnode.MustStart(t, giftNodeConfig(t))
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	bob := testnode.MustUser(t, base, "bob")
	cafe := mustMerchant(t, base, "cafe")
	bakery := mustMerchant(t, base, "bakery")
	g := mustSendGift(t, base, alice, "g1", "bob")
	if again := testnode.DoJSON(t, "POST", base+"/v1/gifts", alice, map[string]string{"client_id": "g1", "to": "bob", "product": "Americano"}); again.Status != 200 || !bytes.Contains(again.Body, []byte(g.Code)) {
		t.Fatalf("repeat of a send: %d %s", again.Status, again.Body)
	}
	if r := testnode.Do(t, "GET", base+"/v1/gifts/"+strings.ToLower(g.Code), cafe, nil); r.Status != 200 {
		t.Fatalf("a merchant looks the gift up: %d %s", r.Status, r.Body)
	}
	typed := strings.ToLower(strings.ReplaceAll(g.Code, "-", ""))
	first := doKey(t, "POST", base+"/v1/gifts/"+typed+"/redeem", cafe, "till-1-0001", ``)
	if first.Status != 200 {
		t.Fatalf("redeem: %d %s", first.Status, first.Body)
	}
	var res haetae.Redeemed
	first.JSON(t, &res)
	if res.Code != g.Code || res.Status != "redeemed" || res.Redemption.Merchant != "cafe" || res.Redemption.Node != "haetae" {
		t.Fatalf("redeemed: %s", first.Body)
	}
	if bytes.Contains(first.Body, []byte("till-1-0001")) {
		t.Fatalf("the answer shows the key: %s", first.Body)
	}
	replay := doKey(t, "POST", base+"/v1/gifts/"+g.Code+"/redeem", cafe, "till-1-0001", `{}`)
	if replay.Status != 200 || !bytes.Equal(replay.Body, first.Body) {
		t.Fatalf("replay: %d %s, first %s", replay.Status, replay.Body, first.Body)
	}
	lost := doKey(t, "POST", base+"/v1/gifts/"+g.Code+"/redeem", bakery, "till-9-0001", ``)
	var e struct {
		Error struct {
			Code       string
			RedeemedAt time.Time `json:"redeemed_at"`
			Redemption haetae.Redemption
		}
	}
	lost.JSON(t, &e)
	if lost.Status != 409 || e.Error.Code != haetae.EAlreadyRedeemed || e.Error.Redemption.ID != res.Redemption.ID || e.Error.Redemption.Merchant != "cafe" || !e.Error.RedeemedAt.Equal(res.RedeemedAt) {
		t.Fatalf("another merchant: %d %s", lost.Status, lost.Body)
	}
	var got haetae.Gift
	testnode.Do(t, "GET", base+"/v1/gifts/"+g.Code, bob, nil).JSON(t, &got)
	if got.Status != haetae.GiftRedeemed || got.Redemption == nil || got.Redemption.ID != res.Redemption.ID {
		t.Fatalf("gift after redemption: %+v", got)
	}
	kinds := map[string]int{}
	for _, m := range testnode.History(t, base, bob, g.Room) {
		kinds[m.Kind]++
	}
	if kinds[haetae.KindGift] != 1 || kinds[haetae.KindSystem] != 1 {
		t.Fatalf("messages of the gift's room by kind: %v", kinds)
	}
	var raw map[string]any
	testnode.Do(t, "GET", base+"/v1/gifts/"+g.Code, cafe, nil).JSON(t, &raw)
	if b, _ := json.Marshal(raw); bytes.Contains(b, []byte("till-1")) {
		t.Fatalf("the gift shows the winner's key: %s", b)
	}
}

// TestGiftRedeemRateLimited: past its burst a merchant gets 429 with Retry-After, and other merchants
// are not affected.
func TestGiftRedeemRateLimited(t *testing.T) {
	cfg := giftNodeConfig(t)
	cfg.RedeemRate = 0.1 // a burst of 1, then one attempt every 10 s
	n := testnode.MustStart(t, cfg)
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	testnode.MustUser(t, base, "bob")
	cafe := mustMerchant(t, base, "cafe")
	bakery := mustMerchant(t, base, "bakery")
	g := mustSendGift(t, base, alice, "g1", "bob")
	url := base + "/v1/gifts/" + g.Code + "/redeem"
	if r := doKey(t, "POST", url, cafe, "k1", ``); r.Status != 200 {
		t.Fatalf("within the burst: %d %s", r.Status, r.Body)
	}
	r := doKey(t, "POST", url, cafe, "k1", ``)
	if r.Status != 429 || r.ErrorCode() != haetae.ERateLimited || r.Header.Get("Retry-After") == "" {
		t.Fatalf("past the burst: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if r := testnode.Do(t, "GET", base+"/v1/gifts/"+g.Code, cafe, nil); r.Status != 429 {
		t.Fatalf("a lookup past the budget: %d %s", r.Status, r.Body)
	}
	if r := doKey(t, "POST", url, bakery, "k2", ``); r.Status != 409 {
		t.Fatalf("another merchant meanwhile: %d %s", r.Status, r.Body)
	}
}
