package giftcheck_test

// The container variant of the fault drill, on internal/dctest (one container per data center, every
// route through Toxiproxy). dctest skips it where Docker is missing, and fails it under CI.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae/internal/dctest"
	"github.com/haetae/haetae/internal/giftcheck"
)

// containers breaks a data center of a container cluster: SIGKILL of its node, or, with cut, its
// routes to the other data centers cut at Toxiproxy while the node runs on.
type containers struct {
	c   *dctest.Cluster
	hc  *http.Client
	cut bool
}

func (p containers) GiftsLeader(tb testing.TB) int {
	tb.Helper()
	i, err := giftcheck.WaitLeader(p.hc, p.c.URLs(), giftcheck.GiftsStream, time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	return i
}

func (p containers) Break(tb testing.TB, i int) {
	if p.cut {
		p.c.Disconnect(i)
	} else {
		p.c.Kill(i)
	}
}

func (p containers) Mend(tb testing.TB, i int) {
	if p.cut {
		p.c.Reconnect(i)
	} else {
		p.c.Start(i)
	}
	p.c.WaitReady(i)
}

// TestRedemptionsSurviveDCLossInContainers runs [giftcheck.Drill] twice on a fresh container cluster
// each: the gifts leader's data center killed (SIGKILL), and cut off from the other two.
func TestRedemptionsSurviveDCLossInContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("two fault drills on container clusters, about three minutes")
	}
	for _, cut := range []bool{false, true} {
		name := map[bool]string{false: "Killed", true: "CutOff"}[cut]
		t.Run(name, func(t *testing.T) {
			c := dctest.Start(t, dctest.Options{})
			f := giftcheck.NewFixture(t, c.URLs(), c.AdminToken(), strings.ToLower(name), 12)
			rep := giftcheck.Drill(t, f, containers{c: c, hc: f.HTTP, cut: cut}, giftcheck.DrillConfig{
				Gifts:        60,
				Spread:       30 * time.Second,
				Contenders:   4,
				BreakAfter:   5 * time.Second,
				BrokenFor:    15 * time.Second,
				OpTimeout:    2 * time.Minute,
				CheckTimeout: time.Minute,
				GiveUpEvery:  5,
			})
			t.Log(rep)
			if rep.Undecided > 0 {
				t.Errorf("%d redemptions had no definite answer within their time-out", rep.Undecided)
			}
		})
	}
}
