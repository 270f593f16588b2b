package jsstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/jsstore"
)

// testClock is an injected clock that tests move by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func mustGiftStore(tb testing.TB) (*jsstore.Store, *testClock) {
	tb.Helper()
	clock := newTestClock()
	st := mustStoreWith(tb, func(c *jsstore.Config) {
		c.Now = clock.Now
		c.GiftTTL = 24 * time.Hour
		c.DC, c.NodeName = "dc9", "node9"
	})
	ctx := context.Background()
	mustUsers(tb, st, "alice", "bob", "carol")
	for _, m := range []string{"cafe", "bakery"} {
		if err := st.Users.CreateMerchant(ctx, m, "password1"); err != nil {
			tb.Fatal(err)
		}
	}
	return st, clock
}

func mustGift(tb testing.TB, st *jsstore.Store, from, to, clientID string) *haetae.Gift {
	tb.Helper()
	g, created, err := st.Gifts.SendGift(context.Background(), from, haetae.GiftRequest{ClientID: clientID, To: to, Product: "Americano"})
	if err != nil || !created {
		tb.Fatalf("send gift: created=%v err=%v", created, err)
	}
	return g
}

// messagesOfKind returns the messages of a kind in a room, read as a member.
func messagesOfKind(tb testing.TB, st *jsstore.Store, member, room, kind string) []*haetae.Message {
	tb.Helper()
	msgs, _, err := st.Messages.History(context.Background(), member, room, haetae.HistoryQuery{Limit: 500})
	if err != nil {
		tb.Fatal(err)
	}
	var out []*haetae.Message
	for _, m := range msgs {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

func TestGifts(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		st, clock := mustGiftStore(t)
		g := mustGift(t, st, "alice", "bob", "g1")
		if _, err := haetae.ParseGiftCode(g.Code); err != nil || g.Status != haetae.GiftIssued || g.From != "alice" || g.To != "bob" {
			t.Fatalf("sent gift: %+v", g)
		}
		if want := clock.Now().Add(24 * time.Hour); !g.ExpiresAt.Equal(want) {
			t.Fatalf("expires_at %s, want %s", g.ExpiresAt, want)
		}
		// The gift message is in the 1:1 room of alice and bob, which both find.
		gifts := messagesOfKind(t, st, "bob", g.Room, haetae.KindGift)
		if len(gifts) != 1 || gifts[0].From != "alice" || strings.Contains(gifts[0].Text, g.Code) {
			t.Fatalf("gift messages in %s: %+v", g.Room, gifts)
		}
		rooms, _ := st.Rooms.Rooms(ctx, "bob")
		if len(rooms) != 1 || rooms[0].ID != g.Room || len(rooms[0].Members) != 2 {
			t.Fatalf("bob's rooms: %+v", rooms)
		}
		// A second gift, the other way, goes to the same room.
		g2 := mustGift(t, st, "bob", "alice", "g1")
		if g2.Room != g.Room || g2.Code == g.Code {
			t.Fatalf("second gift %+v, first %+v", g2, g)
		}
		for _, who := range []string{"alice", "bob", "cafe"} {
			got, err := st.Gifts.Gift(ctx, who, strings.ToLower(strings.ReplaceAll(g.Code, "-", "")))
			if err != nil || got.Code != g.Code {
				t.Fatalf("%s looking up the gift: %+v, %v", who, got, err)
			}
		}
		if _, err := st.Gifts.Gift(ctx, "carol", g.Code); haetae.ErrorCode(err) != haetae.ENotFound {
			t.Fatalf("carol looking up another's gift: %v, want not_found", err)
		}
		list, err := st.Gifts.Gifts(ctx, "alice", 0)
		if err != nil || len(list) != 2 || list[0].Code != g2.Code || list[1].Code != g.Code {
			t.Fatalf("alice's gifts (newest first): %+v, %v", list, err)
		}
		if list, _ := st.Gifts.Gifts(ctx, "alice", 1); len(list) != 1 || list[0].Code != g2.Code {
			t.Fatalf("alice's newest gift: %+v", list)
		}
		if list, _ := st.Gifts.Gifts(ctx, "carol", 0); len(list) != 0 {
			t.Fatalf("carol's gifts: %+v", list)
		}
	})

	t.Run("Repeat", func(t *testing.T) {
		st, _ := mustGiftStore(t)
		g := mustGift(t, st, "alice", "bob", "g1")
		again, created, err := st.Gifts.SendGift(ctx, "alice", haetae.GiftRequest{ClientID: "g1", To: "bob", Product: "Americano"})
		if err != nil || created || again.Code != g.Code {
			t.Fatalf("repeat: %+v created=%v err=%v", again, created, err)
		}
		_, _, err = st.Gifts.SendGift(ctx, "alice", haetae.GiftRequest{ClientID: "g1", To: "bob", Product: "Latte"})
		if haetae.ErrorCode(err) != haetae.EIdempotencyConflict {
			t.Fatalf("same client_id, other product: %v", err)
		}
		if n := len(messagesOfKind(t, st, "alice", g.Room, haetae.KindGift)); n != 1 {
			t.Fatalf("%d gift messages after a repeat, want 1", n)
		}
		if list, _ := st.Gifts.Gifts(ctx, "bob", 0); len(list) != 1 {
			t.Fatalf("bob has %d gifts after a repeat, want 1", len(list))
		}
		// Concurrent tries of one client_id make one gift.
		codes := make([]string, 10)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g, _, err := st.Gifts.SendGift(ctx, "alice", haetae.GiftRequest{ClientID: "g2", To: "bob", Product: "Tea"})
				if err != nil {
					t.Error(err)
					return
				}
				codes[i] = g.Code
			}()
		}
		wg.Wait()
		for _, c := range codes {
			if c != codes[0] {
				t.Fatalf("concurrent tries of one client_id made gifts %v", codes)
			}
		}
		if n := len(messagesOfKind(t, st, "alice", g.Room, haetae.KindGift)); n != 2 {
			t.Fatalf("%d gift messages after two gifts, want 2", n)
		}
	})

	t.Run("Redeem", func(t *testing.T) {
		st, clock := mustGiftStore(t)
		g := mustGift(t, st, "alice", "bob", "g1")
		clock.Advance(time.Hour)
		r, err := st.Gifts.Redeem(ctx, "cafe", g.Code, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != g.Code || r.Status != haetae.GiftRedeemed || r.Redemption.Merchant != "cafe" || r.Redemption.DC != "dc9" || r.Redemption.Node != "node9" || !r.RedeemedAt.Equal(clock.Now()) || r.Redemption.Key != "" {
			t.Fatalf("redeemed: %+v", r)
		}
		clock.Advance(time.Minute)
		again, err := st.Gifts.Redeem(ctx, "cafe", strings.ToLower(g.Code), "key-1")
		if err != nil || *again != *r {
			t.Fatalf("repeat of the winning key: %+v, %v; want %+v", again, err, r)
		}
		_, err = st.Gifts.Redeem(ctx, "bakery", g.Code, "key-2")
		var re *haetae.RedeemedError
		if haetae.ErrorCode(err) != haetae.EAlreadyRedeemed || !errors.As(err, &re) || re.Redemption.ID != r.Redemption.ID || re.Redemption.Merchant != "cafe" || !re.RedeemedAt.Equal(r.RedeemedAt) {
			t.Fatalf("another merchant: %v", err)
		}
		if _, err := st.Gifts.Redeem(ctx, "cafe", g.Code, "key-3"); haetae.ErrorCode(err) != haetae.EAlreadyRedeemed {
			t.Fatalf("the winner with another key: %v", err)
		}
		got, _ := st.Gifts.Gift(ctx, "bob", g.Code)
		if got.Status != haetae.GiftRedeemed || got.Redemption == nil || got.Redemption.ID != r.Redemption.ID || got.Redemption.Key != "" {
			t.Fatalf("gift after redemption: %+v", got)
		}
		sys := messagesOfKind(t, st, "bob", g.Room, haetae.KindSystem)
		if len(sys) != 1 || !strings.Contains(sys[0].Text, "cafe") {
			t.Fatalf("system messages after a redemption and its replay: %+v", sys)
		}
		// Even after the expiry the winner's key replays, and others are told it was redeemed.
		clock.Advance(48 * time.Hour)
		if again, err := st.Gifts.Redeem(ctx, "cafe", g.Code, "key-1"); err != nil || *again != *r {
			t.Fatalf("replay after the expiry: %+v, %v", again, err)
		}
		if _, err := st.Gifts.Redeem(ctx, "bakery", g.Code, "key-9"); haetae.ErrorCode(err) != haetae.EAlreadyRedeemed {
			t.Fatalf("another key after the expiry: %v", err)
		}
	})

	t.Run("ErrExpired", func(t *testing.T) {
		st, clock := mustGiftStore(t)
		g := mustGift(t, st, "alice", "bob", "g1")
		clock.Advance(24 * time.Hour)
		if _, err := st.Gifts.Redeem(ctx, "cafe", g.Code, "key-1"); haetae.ErrorCode(err) != haetae.EGone {
			t.Fatalf("redeeming at the expiry: %v, want expired", err)
		}
		got, _ := st.Gifts.Gift(ctx, "bob", g.Code)
		if got.Status != haetae.GiftExpired || got.Redemption != nil {
			t.Fatalf("expired gift: %+v", got)
		}
	})

	t.Run("ErrBadInputChangesNothing", func(t *testing.T) {
		st, _ := mustGiftStore(t)
		g := mustGift(t, st, "alice", "bob", "g1")
		other := strings.Replace(g.Code, g.Code[:1], map[bool]string{true: "1", false: "0"}[g.Code[:1] == "0"], 1)
		cases := []struct {
			name, who, code, key, want string
		}{
			{"not_a_merchant", "bob", g.Code, "k", haetae.EForbidden},
			{"sender_is_not_a_merchant", "alice", g.Code, "k", haetae.EForbidden},
			{"no_key", "cafe", g.Code, "", haetae.EInvalid},
			{"bad_key", "cafe", g.Code, "a b", haetae.EInvalidClientID},
			{"malformed_code", "cafe", "ABC", "k", haetae.EInvalidCode},
			{"unknown_code", "cafe", other, "k", haetae.ENotFound},
		}
		for _, c := range cases {
			if _, err := st.Gifts.Redeem(ctx, c.who, c.code, c.key); haetae.ErrorCode(err) != c.want {
				t.Errorf("%s: %v, want %s", c.name, err, c.want)
			}
		}
		sends := []struct {
			name string
			req  haetae.GiftRequest
			want string
		}{
			{"to_oneself", haetae.GiftRequest{ClientID: "x", To: "alice", Product: "p"}, haetae.EInvalid},
			{"to_nobody", haetae.GiftRequest{ClientID: "x", To: "nobody", Product: "p"}, haetae.EUserNotFound},
			{"bad_client_id", haetae.GiftRequest{ClientID: "a b", To: "bob", Product: "p"}, haetae.EInvalidClientID},
			{"no_product", haetae.GiftRequest{ClientID: "x", To: "bob"}, haetae.EInvalid},
			{"foreign_room", haetae.GiftRequest{ClientID: "x", To: "bob", Product: "p", Room: "aaaaaaaaaaaaaaaa"}, haetae.ENotFound},
		}
		for _, c := range sends {
			if _, _, err := st.Gifts.SendGift(ctx, "alice", c.req); haetae.ErrorCode(err) != c.want {
				t.Errorf("%s: %v, want %s", c.name, err, c.want)
			}
		}
		got, _ := st.Gifts.Gift(ctx, "bob", g.Code)
		if got.Status != haetae.GiftIssued {
			t.Fatalf("gift after refused redemptions: %+v", got)
		}
		if list, _ := st.Gifts.Gifts(ctx, "bob", 0); len(list) != 1 {
			t.Fatalf("bob has %d gifts after refused sends, want 1", len(list))
		}
	})

	t.Run("ErrKeyReused", func(t *testing.T) {
		st, _ := mustGiftStore(t)
		g1 := mustGift(t, st, "alice", "bob", "g1")
		g2 := mustGift(t, st, "alice", "bob", "g2")
		if _, err := st.Gifts.Redeem(ctx, "cafe", g1.Code, "key-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Gifts.Redeem(ctx, "cafe", g2.Code, "key-1"); haetae.ErrorCode(err) != haetae.EIdempotencyConflict {
			t.Fatalf("a key reused on another gift: %v", err)
		}
		if got, _ := st.Gifts.Gift(ctx, "bob", g2.Code); got.Status != haetae.GiftIssued {
			t.Fatalf("second gift after the conflict: %+v", got)
		}
		// The same key of another merchant is another key.
		if _, err := st.Gifts.Redeem(ctx, "bakery", g2.Code, "key-1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ExplicitRoom", func(t *testing.T) {
		st, _ := mustGiftStore(t)
		room, _, err := st.Rooms.CreateRoom(ctx, "alice", "", "team", []string{"bob", "carol"})
		if err != nil {
			t.Fatal(err)
		}
		g, _, err := st.Gifts.SendGift(ctx, "alice", haetae.GiftRequest{ClientID: "g1", To: "carol", Product: "Cake", Room: room.ID})
		if err != nil || g.Room != room.ID {
			t.Fatalf("gift to a group room: %+v, %v", g, err)
		}
		solo, _, _ := st.Rooms.CreateRoom(ctx, "alice", "", "solo", []string{})
		if _, _, err := st.Gifts.SendGift(ctx, "alice", haetae.GiftRequest{ClientID: "g2", To: "carol", Product: "Cake", Room: solo.ID}); haetae.ErrorCode(err) != haetae.EInvalid {
			t.Fatalf("gift to a room the receiver is not in: %v", err)
		}
	})

	t.Run("ConcurrentRedemptionsOneWinner", func(t *testing.T) {
		st, _ := mustGiftStore(t)
		const n = 20
		for i := range n {
			if err := st.Users.CreateMerchant(ctx, fmt.Sprintf("shop%02d", i), "password1"); err != nil {
				t.Fatal(err)
			}
		}
		for round := range 5 {
			g := mustGift(t, st, "alice", "bob", fmt.Sprintf("r%d", round))
			var wg sync.WaitGroup
			results := make([]error, n)
			wins := make([]*haetae.Redeemed, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					wins[i], results[i] = st.Gifts.Redeem(ctx, fmt.Sprintf("shop%02d", i), g.Code, fmt.Sprintf("r%d-k%d", round, i))
				}()
			}
			wg.Wait()
			var winner *haetae.Redeemed
			for i, err := range results {
				if err == nil {
					if winner != nil {
						t.Fatalf("round %d: two winners, %+v and %+v", round, winner, wins[i])
					}
					winner = wins[i]
				}
			}
			if winner == nil {
				t.Fatalf("round %d: no winner: %v", round, results)
			}
			for _, err := range results {
				var re *haetae.RedeemedError
				if err != nil && (!errors.As(err, &re) || re.Redemption.ID != winner.Redemption.ID) {
					t.Fatalf("round %d: a loser was told %v, winner %+v", round, err, winner)
				}
			}
		}
	})
}

// TestGiftsLostAnswers: a send or a redemption whose batch committed but whose acknowledgement was lost
// (a leader dying right after its commit) is found by the next read: the send answers its gift, the
// redemption its own 200, once, with one message each.
func TestGiftsLostAnswers(t *testing.T) {
	ctx := context.Background()
	st, _ := mustGiftStore(t)
	var lost atomic.Int32
	loseNext := func(n int32) { lost.Store(n) }
	st.Gifts.LoseGiftAnswers(func() bool { return lost.Add(-1) >= 0 })

	loseNext(1)
	g, created, err := st.Gifts.SendGift(ctx, "alice", haetae.GiftRequest{ClientID: "g1", To: "bob", Product: "Tea"})
	if err != nil || !created {
		t.Fatalf("send whose answer was lost: %+v created=%v err=%v", g, created, err)
	}
	if list, _ := st.Gifts.Gifts(ctx, "bob", 0); len(list) != 1 || list[0].Code != g.Code {
		t.Fatalf("gifts after a lost answer: %+v", list)
	}

	loseNext(1)
	r, err := st.Gifts.Redeem(ctx, "cafe", g.Code, "k1")
	if err != nil || r.Redemption.Merchant != "cafe" {
		t.Fatalf("redemption whose answer was lost: %+v %v", r, err)
	}
	again, err := st.Gifts.Redeem(ctx, "cafe", g.Code, "k1")
	if err != nil || *again != *r {
		t.Fatalf("repeat: %+v %v, want %+v", again, err, r)
	}
	if _, err := st.Gifts.Redeem(ctx, "bakery", g.Code, "k2"); haetae.ErrorCode(err) != haetae.EAlreadyRedeemed {
		t.Fatalf("another merchant after a lost answer: %v", err)
	}
	if n := len(messagesOfKind(t, st, "bob", g.Room, haetae.KindSystem)); n != 1 {
		t.Fatalf("%d system messages, want 1", n)
	}
	if n := len(messagesOfKind(t, st, "bob", g.Room, haetae.KindGift)); n != 1 {
		t.Fatalf("%d gift messages, want 1", n)
	}
}
