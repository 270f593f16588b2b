package giftcheck

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// GiftsStream is the JetStream stream of the gifts bucket: the leader the drills go after.
const GiftsStream = "KV_haetae_gifts"

// Faults breaks and mends the data centers of the cluster under test. In-process nodes and containers
// each implement it; the drill is the same.
type Faults interface {
	// GiftsLeader returns the index of the data center whose node leads [GiftsStream] now.
	GiftsLeader(tb testing.TB) int
	// Break takes data center i away: killed or cut off, as the implementation was made to.
	Break(tb testing.TB, i int)
	// Mend brings data center i back and waits until it serves again.
	Mend(tb testing.TB, i int)
}

// DrillConfig shapes a drill.
type DrillConfig struct {
	// Gifts are redeemed over Spread, gift j's attempts starting at j·Spread/Gifts.
	Gifts  int
	Spread time.Duration
	// Contenders are the merchants, from different home data centers, that try each gift at once.
	Contenders int
	// BreakAfter is when, after the first attempts, the gifts leader's data center is broken;
	// BrokenFor how long it stays broken.
	BreakAfter, BrokenFor time.Duration
	// OpTimeout bounds how long a merchant keeps retrying one redemption.
	OpTimeout time.Duration
	// GiveUpEvery makes every n-th merchant's till give up after its first attempt without an answer,
	// as one that lost power would (0: none gives up). Whether such a till redeemed its gift is learned
	// afterwards only by replaying its key.
	GiveUpEvery int
	// CheckTimeout bounds the linearizability check.
	CheckTimeout time.Duration
}

// Report is what a drill saw.
type Report struct {
	Broken          int // the data center that was broken
	Ops             int
	Won, Lost       int
	Unknown         int // attempts without a definite answer (retried)
	Undecided       int // redemptions still without a definite answer at their deadline
	GaveUp          int // tills that gave up after an attempt without an answer
	Replayed        int // winners confirmed only by replaying their key afterwards
	RedeemedGifts   int
	MaxAttemptTries int
}

func (r Report) String() string {
	return fmt.Sprintf("broke dc%d; %d attempts: %d won, %d lost, %d unknown; %d tills gave up without an answer, %d redemptions undecided at their deadline; %d of the gifts redeemed, %d winners learned only by replaying their key; at most %d tries for one redemption",
		r.Broken+1, r.Ops, r.Won, r.Lost, r.Unknown, r.GaveUp, r.Undecided, r.RedeemedGifts, r.Replayed, r.MaxAttemptTries)
}

// Drill redeems cfg.Gifts fresh gifts, each by cfg.Contenders merchants at once with their own keys,
// while the data center that leads the gifts stream is broken and mended; merchants retry with their
// keys through the other data centers. Then it reads every gift, replays the keys of winners no client
// saw win, and checks the history: [Verify] and [Linearizable]. It fails tb on any violation.
func Drill(tb testing.TB, f *Fixture, faults Faults, cfg DrillConfig) Report {
	tb.Helper()
	gifts := make([]string, cfg.Gifts)
	for j := range gifts {
		gifts[j] = f.SendGift(tb).Code
	}
	h := NewHistory()
	var rep Report
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	client := 0
	type claim struct {
		m   Account
		key string
	}
	claims := make([][]claim, len(gifts))
	for j, code := range gifts {
		for k := range cfg.Contenders {
			m := f.Merchants[(j*cfg.Contenders+k)%len(f.Merchants)]
			c := claim{m, fmt.Sprintf("drill-%d-%d", j, k)}
			claims[j] = append(claims[j], c)
			id := client
			client++
			giveUp := cfg.GiveUpEvery > 0 && id%cfg.GiveUpEvery == cfg.GiveUpEvery-1
			wg.Add(1)
			go func() {
				defer wg.Done()
				at := start.Add(time.Duration(j) * cfg.Spread / time.Duration(max(cfg.Gifts, 1)))
				time.Sleep(time.Until(at))
				ctx, cancel := context.WithTimeout(context.Background(), cfg.OpTimeout)
				defer cancel()
				tries := 0
				var op Op
				for {
					op = f.Redeem(ctx, h, id, c.m, code, c.key, c.m.Home+tries)
					tries++
					if op.Outcome != Unknown || ctx.Err() != nil || giveUp {
						break
					}
					select {
					case <-ctx.Done():
					case <-time.After(time.Duration(50*min(tries, 10)) * time.Millisecond):
					}
				}
				mu.Lock()
				rep.MaxAttemptTries = max(rep.MaxAttemptTries, tries)
				switch {
				case op.Outcome == Unknown && giveUp && ctx.Err() == nil:
					rep.GaveUp++
				case op.Outcome == Unknown:
					rep.Undecided++
				}
				mu.Unlock()
			}()
		}
	}
	// The fault, while the attempts run.
	time.Sleep(time.Until(start.Add(cfg.BreakAfter)))
	rep.Broken = faults.GiftsLeader(tb)
	tb.Logf("breaking dc%d, the leader of %s, %s into the drill", rep.Broken+1, GiftsStream, time.Since(start).Round(time.Millisecond))
	faults.Break(tb, rep.Broken)
	time.Sleep(cfg.BrokenFor)
	tb.Logf("mending dc%d after %s", rep.Broken+1, cfg.BrokenFor)
	faults.Mend(tb, rep.Broken)
	wg.Wait()

	// What the cluster kept, read by the receiver; and the winners' own keys for what no client saw.
	kept := map[string]Kept{}
	replayed := map[string]bool{}
	won := map[string]bool{}
	for _, op := range h.Ops() {
		if op.Outcome == Won {
			won[op.Gift] = true
		}
	}
	for j, code := range gifts {
		g, _ := f.Read(tb, h, client, code, j)
		client++
		k := Kept{}
		if g.Redemption != nil {
			k = Kept{Winner: g.Redemption.Merchant, RedemptionID: g.Redemption.ID}
			rep.RedeemedGifts++
		}
		kept[code] = k
		if k.Winner == "" || won[code] {
			continue
		}
		for _, c := range claims[j] {
			if c.m.Name != k.Winner {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), cfg.OpTimeout)
			op := f.Replay(ctx, h, client, c.m, code, c.key)
			cancel()
			client++
			if op.Outcome == Won && op.RedemptionID == k.RedemptionID {
				replayed[code] = true
				rep.Replayed++
			}
		}
	}
	ops := h.Ops()
	rep.Ops = len(ops)
	for _, op := range ops {
		switch {
		case op.Read:
		case op.Outcome == Won:
			rep.Won++
		case op.Outcome == Lost:
			rep.Lost++
		case op.Outcome == Unknown:
			rep.Unknown++
		}
	}
	if bad := Verify(ops, kept, replayed); len(bad) > 0 {
		tb.Errorf("%d violations:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	for _, op := range ops {
		if op.Outcome == Refused {
			tb.Errorf("a redemption was refused: %s", op)
		}
	}
	if _, err := Linearizable(ops, cfg.CheckTimeout); err != nil {
		tb.Error(err)
	}
	if tb.Failed() {
		for _, op := range ops {
			tb.Log(op)
		}
	}
	return rep
}
