package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/internal/testnode"
)

// TestGiftCalls: a gift sent through a client whose first endpoint is dead, redeemed by a merchant made
// with the admin token; a repeat of the key answers the same, and another merchant's error names the
// winner as a *haetae.RedeemedError.
func TestGiftCalls(t *testing.T) {
	ctx := context.Background()
	cfg := testnode.Config(t)
	cfg.AdminToken = "client-test-admin-token-0123"
	n := testnode.MustStart(t, cfg)
	admin := newClient(t, []string{n.URL()}, client.WithToken(cfg.AdminToken))
	for _, m := range []string{"cafe", "bakery"} {
		if err := admin.CreateMerchant(ctx, m, password); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.CreateMerchant(ctx, "cafe", password); haetae.ErrorCode(err) != haetae.ENameTaken {
		t.Fatalf("a merchant made twice: %v", err)
	}
	alice := newClient(t, []string{deadAddr, n.URL()})
	bob := newClient(t, []string{n.URL()})
	for name, c := range map[string]*client.Client{"alice": alice, "bob": bob} {
		if err := c.Register(ctx, name, password); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, name, password); err != nil {
			t.Fatal(err)
		}
	}
	g, created, err := alice.SendGift(ctx, haetae.GiftRequest{To: "bob", Product: "Cake"})
	if err != nil || !created || g.Status != haetae.GiftIssued {
		t.Fatalf("send gift: %+v %v %v", g, created, err)
	}
	list, err := bob.Gifts(ctx, 0)
	if err != nil || len(list) != 1 || list[0].Code != g.Code {
		t.Fatalf("bob's gifts: %+v %v", list, err)
	}
	cafe := newClient(t, []string{n.URL()})
	bakery := newClient(t, []string{n.URL()})
	cafe.Login(ctx, "cafe", password)
	bakery.Login(ctx, "bakery", password)
	if seen, err := cafe.Gift(ctx, g.Code); err != nil || seen.Code != g.Code {
		t.Fatalf("the merchant looks the gift up: %+v %v", seen, err)
	}
	r1, err := cafe.Redeem(ctx, g.Code, "till-7-42")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := cafe.Redeem(ctx, g.Code, "till-7-42")
	if err != nil || *r2 != *r1 {
		t.Fatalf("repeat of the key: %+v %v, first %+v", r2, err, r1)
	}
	_, err = bakery.Redeem(ctx, g.Code, "")
	var re *haetae.RedeemedError
	if haetae.ErrorCode(err) != haetae.EAlreadyRedeemed || !errors.As(err, &re) || re.Redemption.ID != r1.Redemption.ID || re.Redemption.Merchant != "cafe" || !re.RedeemedAt.Equal(r1.RedeemedAt) || re.Code != g.Code {
		t.Fatalf("another merchant: %v (%+v)", err, re)
	}
	if _, err := bob.Redeem(ctx, g.Code, ""); haetae.ErrorCode(err) != haetae.EForbidden {
		t.Fatalf("a user redeeming: %v", err)
	}
}
