package giftcheck

import (
	"fmt"
	"testing"
	"time"
)

// contended is one gift's history: n merchants at once, merchant w wins, the others lose naming it,
// and the merchants listed in unknown got no answer.
func contended(gift string, n, w int, unknown ...int) []Op {
	var ops []Op
	for i := range n {
		op := Op{Client: i, Gift: gift, Merchant: fmt.Sprintf("m%d", i), Call: int64(i), Return: int64(1000 + i)}
		switch {
		case i == w:
			op.Outcome, op.Winner, op.RedemptionID = Won, op.Merchant, "r"
		default:
			op.Outcome, op.Winner, op.RedemptionID = Lost, fmt.Sprintf("m%d", w), "r"
		}
		for _, u := range unknown {
			if u == i {
				op.Outcome, op.Winner, op.RedemptionID = Unknown, "", ""
			}
		}
		ops = append(ops, op)
	}
	return ops
}

func TestCouponModel(t *testing.T) {
	twoWinners := contended("g", 5, 1)
	twoWinners[3].Outcome, twoWinners[3].Winner = Won, "m3"
	lateLoss := []Op{
		{Gift: "g", Merchant: "m1", Call: 0, Return: 10, Outcome: Won, Winner: "m1"},
		{Gift: "g", Merchant: "m2", Call: 20, Return: 30, Outcome: Lost, Winner: "m1"},
	}
	lossBeforeWin := []Op{
		{Gift: "g", Merchant: "m2", Call: 0, Return: 10, Outcome: Lost, Winner: "m1"},
		{Gift: "g", Merchant: "m1", Call: 20, Return: 30, Outcome: Won, Winner: "m1"},
	}
	unknownWon := []Op{
		{Gift: "g", Merchant: "m1", Call: 0, Return: 5, Outcome: Unknown},
		{Gift: "g", Merchant: "m2", Call: 20, Return: 30, Outcome: Lost, Winner: "m1"},
		{Gift: "g", Read: true, Call: 40, Return: 50, Outcome: Won, Winner: "m1"},
	}
	readBeforeRedeem := []Op{
		{Gift: "g", Read: true, Call: 0, Return: 5, Outcome: Won, Winner: "m1"},
		{Gift: "g", Merchant: "m1", Call: 20, Return: 30, Outcome: Won, Winner: "m1"},
	}
	replays := []Op{
		{Gift: "g", Merchant: "m1", Call: 0, Return: 10, Outcome: Won, Winner: "m1"},
		{Gift: "g", Merchant: "m1", Call: 20, Return: 30, Outcome: Won, Winner: "m1"},
	}
	var many []Op
	for g := range 100 {
		many = append(many, contended(fmt.Sprintf("g%d", g), 50, g%50, (g+7)%50, (g+13)%50)...)
	}
	cases := []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"one_winner", contended("g", 50, 17), true},
		{"one_winner_some_unknown", contended("g", 50, 17, 3, 40), true},
		{"unknown_winner", contended("g", 50, 17, 17), true},
		{"two_winners", twoWinners, false},
		{"lost_after_win", lateLoss, true},
		{"lost_to_a_later_winner", lossBeforeWin, false},
		{"unknown_took_effect", unknownWon, true},
		{"read_sees_the_future", readBeforeRedeem, false},
		{"winner_replays", replays, true},
		{"hundred_gifts_of_fifty", many, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := Linearizable(c.ops, 30*time.Second)
			if (err == nil) != c.ok {
				t.Fatalf("linearizable = %v, want %v (%v)", err == nil, c.ok, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("checking %d operations took %s", len(c.ops), d)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	ops := contended("g", 3, 0)
	if bad := Verify(ops, map[string]Kept{"g": {"m0", "r"}}, nil); len(bad) != 0 {
		t.Fatalf("a clean drill: %v", bad)
	}
	if bad := Verify(ops, map[string]Kept{"g": {"m1", "r2"}}, nil); len(bad) == 0 {
		t.Fatal("a 200 that is not the kept redemption passed")
	}
	unseen := contended("g", 3, 0, 0)
	for i := range unseen {
		unseen[i].Outcome, unseen[i].Winner, unseen[i].RedemptionID = Unknown, "", ""
	}
	if bad := Verify(unseen, map[string]Kept{"g": {"m0", "r"}}, nil); len(bad) != 1 {
		t.Fatalf("a kept redemption nobody saw or replayed: %v", bad)
	}
	if bad := Verify(unseen, map[string]Kept{"g": {"m0", "r"}}, map[string]bool{"g": true}); len(bad) != 0 {
		t.Fatalf("a kept redemption confirmed by its key: %v", bad)
	}
}
