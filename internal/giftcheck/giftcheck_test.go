package giftcheck_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae/internal/giftcheck"
	"github.com/haetae/haetae/internal/testnode"
)

const adminToken = "giftcheck-admin-token-0123456789"

// mustCluster starts an in-process three-node cluster, one node per DC, with the admin token set and
// the per-merchant rate limit out of the way (the drills measure exactly-once, not the limiter).
func mustCluster(tb testing.TB) *testnode.Cluster {
	tb.Helper()
	cfgs := testnode.ClusterConfigs(tb, 3)
	for i := range cfgs {
		cfgs[i].AdminToken = adminToken
		cfgs[i].RedeemRate = 10000
	}
	return testnode.StartCluster(tb, cfgs)
}

// envInt reads a count from the environment, for running a test longer by hand.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// TestConcurrentRedemptionsOneWinner: 50 merchants, spread over the three nodes of a cluster, redeem
// the same gift at once with distinct keys: exactly one 200, and 49 × 409 already_redeemed naming the
// winner. Repeated for 100 fresh gifts (HAETAE_GIFT_ROUNDS; 10 with -short), two gifts at a time so
// that the run stays within reason on two shared cores. The whole history must be linearizable.
func TestConcurrentRedemptionsOneWinner(t *testing.T) {
	rounds := envInt("HAETAE_GIFT_ROUNDS", 100)
	if testing.Short() {
		rounds = 10
	}
	const merchants = 50
	c := mustCluster(t)
	f := giftcheck.NewFixture(t, c.URLs(), adminToken, "cc", merchants)
	// Nothing fails here, so every attempt must be answered; a slow answer on a loaded machine is not
	// a failure of exactly-once.
	f.AttemptTimeout = 30 * time.Second
	h := giftcheck.NewHistory()
	start := time.Now()
	const inParallel = 2
	sem := make(chan struct{}, inParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for round := range rounds {
		g := f.SendGift(t)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ops := make([]giftcheck.Op, merchants)
			var inner sync.WaitGroup
			ready := make(chan struct{})
			for i, m := range f.Merchants {
				inner.Add(1)
				go func() {
					defer inner.Done()
					<-ready
					ops[i] = f.Redeem(context.Background(), h, round*merchants+i, m, g.Code, fmt.Sprintf("r%d-m%d", round, i), m.Home)
				}()
			}
			close(ready)
			inner.Wait()
			if err := oneWinner(ops); err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("round %d (gift %s): %v", round, g.Code, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, f := range failures {
		t.Error(f)
	}
	ops := h.Ops()
	kept := map[string]giftcheck.Kept{}
	for _, op := range ops {
		if op.Outcome == giftcheck.Won {
			kept[op.Gift] = giftcheck.Kept{Winner: op.Winner, RedemptionID: op.RedemptionID}
		}
	}
	// What the cluster keeps, read through every node in turn, is what the winners were told.
	i := 0
	for code := range kept {
		g, _ := f.Read(t, h, rounds*merchants+i, code, i)
		i++
		if g.Redemption == nil || g.Redemption.ID != kept[code].RedemptionID {
			t.Errorf("gift %s keeps %+v, the winner was told %+v", code, g.Redemption, kept[code])
		}
	}
	if bad := giftcheck.Verify(h.Ops(), kept, nil); len(bad) > 0 {
		t.Errorf("violations: %v", bad)
	}
	checkStart := time.Now()
	if _, err := giftcheck.Linearizable(h.Ops(), time.Minute); err != nil {
		t.Error(err)
		dumpHistory(t, h.Ops())
	}
	var lat []time.Duration
	for _, op := range ops {
		lat = append(lat, time.Duration(op.Return-op.Call))
	}
	slices.Sort(lat)
	t.Logf("%d gifts × %d merchants: %d redemption attempts in %s (%.0f/s; latency p50 %s, p99 %s, max %s), linearizability checked in %s",
		rounds, merchants, rounds*merchants, took.Round(time.Millisecond), float64(rounds*merchants)/took.Seconds(),
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
		time.Since(checkStart).Round(time.Millisecond))
}

// oneWinner checks the answers to one gift's concurrent redemptions: exactly one 200, every other a
// 409 already_redeemed naming the winner and its redemption.
func oneWinner(ops []giftcheck.Op) error {
	var winner *giftcheck.Op
	for i := range ops {
		if ops[i].Outcome == giftcheck.Won {
			if winner != nil {
				return fmt.Errorf("two 200s: %s and %s", winner, ops[i])
			}
			winner = &ops[i]
		}
	}
	if winner == nil {
		return fmt.Errorf("no 200 among %d answers; first: %s", len(ops), ops[0])
	}
	for _, op := range ops {
		if op.Outcome == giftcheck.Won {
			continue
		}
		if op.Outcome != giftcheck.Lost || op.Winner != winner.Merchant || op.RedemptionID != winner.RedemptionID {
			return fmt.Errorf("winner %s (%s), but: %s", winner.Merchant, winner.RedemptionID, op)
		}
	}
	return nil
}

// inProcess breaks an in-process cluster's data centers the only way it can: by stopping a node (a
// node's Close is graceful, so its stream leaders are handed off first) and starting it again. Cutting
// a DC off needs the container harness.
type inProcess struct{ c *testnode.Cluster }

// GiftsLeader asks the nodes' /metrics, as the container variant must, and checks the answer against
// the embedded servers themselves.
func (p inProcess) GiftsLeader(tb testing.TB) int {
	tb.Helper()
	leader, err := giftcheck.WaitLeader(http.DefaultClient, p.c.URLs(), giftcheck.GiftsStream, 30*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	if !p.c.Nodes[leader].NATS.IsStreamLeader(giftcheck.GiftsStream) {
		tb.Logf("dc%d said it leads %s, and no longer does: the leader moved meanwhile", leader+1, giftcheck.GiftsStream)
	}
	return leader
}

func (p inProcess) Break(tb testing.TB, i int) { p.c.Stop(i) }

func (p inProcess) Mend(tb testing.TB, i int) {
	tb.Helper()
	p.c.Restart(i)
	testnode.CheckFor(tb, time.Minute, 100*time.Millisecond, func() error {
		r := testnode.Do(tb, "GET", p.c.Nodes[i].URL()+"/readyz", "", nil)
		if r.Status != 200 {
			return fmt.Errorf("dc%d /readyz: %d %s", i+1, r.Status, r.Body)
		}
		return nil
	})
}

var _ giftcheck.Faults = inProcess{}

// TestRedemptionsSurviveLeaderLoss is the fault drill on in-process nodes: while gifts are redeemed by
// contending merchants, the node leading the gifts stream is stopped, and started again later; the
// merchants retry with their keys through the other data centers. Every gift ends redeemed at most
// once, every 200 is the kept redemption, every kept redemption was seen or is replayed by its key, and
// the history is linearizable. The container variant (kill -9, and a cut-off DC) runs the same
// [giftcheck.Drill] on internal/dctest.
func TestRedemptionsSurviveLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault drill of about a minute")
	}
	c := mustCluster(t)
	f := giftcheck.NewFixture(t, c.URLs(), adminToken, "drill", 12)
	rep := giftcheck.Drill(t, f, inProcess{c}, giftcheck.DrillConfig{
		Gifts:        envInt("HAETAE_DRILL_GIFTS", 60),
		Spread:       20 * time.Second,
		Contenders:   4,
		BreakAfter:   5 * time.Second,
		BrokenFor:    8 * time.Second,
		OpTimeout:    90 * time.Second,
		CheckTimeout: time.Minute,
		GiveUpEvery:  5,
	})
	t.Log(rep)
	if rep.Undecided > 0 {
		t.Errorf("%d redemptions had no definite answer within their time-out", rep.Undecided)
	}
	if rep.RedeemedGifts == 0 {
		t.Error("no gift was redeemed")
	}
}

// dumpHistory writes a failed check's history where it can be examined (as JSON, one operation each).
func dumpHistory(tb testing.TB, ops []giftcheck.Op) {
	f, err := os.CreateTemp("", "giftcheck-history-*.json")
	if err != nil {
		tb.Log(err)
		return
	}
	defer f.Close()
	json.NewEncoder(f).Encode(ops)
	tb.Logf("history written to %s", f.Name())
}
