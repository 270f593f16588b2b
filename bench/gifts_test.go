package bench

import (
	"context"
	"strings"
	"testing"
)

// TestRunGifts runs a small gifts bench end to end: every gift is redeemed by exactly one of the two
// merchants that try it, and the report says so.
func TestRunGifts(t *testing.T) {
	cfg := GiftConfig{Merchants: 4, Gifts: 20, Contenders: 2, Senders: 2, TempDir: t.TempDir(), Node: cheapArgon}
	res, err := RunGifts(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 20 || res.Redeemed != 20 || res.AlreadyRedeemed != 20 || res.DoubleRedeemed != 0 || res.Unredeemed != 0 || res.Errors != 0 {
		t.Fatalf("result: %+v", res)
	}
	if p := res.Problems(); len(p) != 0 {
		t.Fatalf("problems: %v", p)
	}
	var b strings.Builder
	if err := res.Print(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "20 × 200, 20 × 409 already_redeemed") {
		t.Fatalf("report:\n%s", b.String())
	}
}
