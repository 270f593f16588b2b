// Package giftcheck drives gift redemptions against a running Haetae cluster from outside, through the
// HTTP API only, records every attempt (invoke, answer or no answer, with times), and checks the
// record: at most one redemption per gift, every 200 a client saw is the redemption the cluster keeps,
// every kept redemption was seen or is replayed by its key, and the whole history is linearizable
// (github.com/anishathalye/porcupine) against the model of a coupon.
//
// The cluster may be in-process nodes (internal/testnode) or containers (internal/dctest): a drill
// needs only the nodes' URLs, the admin token, and a [Faults] to break and mend data centers. It is
// test support and must not be imported outside tests.
package giftcheck

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Outcome is what an attempt learned.
type Outcome int

const (
	// Won is a 200: the gift is redeemed by this merchant's key (now, or by an earlier try).
	Won Outcome = iota + 1
	// Lost is a 409 already_redeemed naming the winner.
	Lost
	// Unknown is no definite answer: a time-out, a dropped connection, a 5xx. The attempt may or may
	// not have taken effect, then or later.
	Unknown
	// Refused is any other definite answer (expired, not found, ...): nothing happened.
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Won:
		return "won"
	case Lost:
		return "lost"
	case Unknown:
		return "unknown"
	case Refused:
		return "refused"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Op is one recorded attempt: a redemption (Read false) or a read of the gift (Read true).
type Op struct {
	Client   int
	Gift     string
	Merchant string
	Key      string
	Read     bool
	Endpoint string
	// Call and Return are nanoseconds since the history began; Return is meaningless for Unknown.
	Call, Return int64
	Outcome      Outcome
	// Winner is the merchant that redeemed the gift as the answer says ("" when not redeemed), and
	// RedemptionID its redemption.
	Winner       string
	RedemptionID string
	// Detail is the status and error code, or the transport error, for reports.
	Detail string
}

func (o Op) String() string {
	what := "redeem by " + o.Merchant
	if o.Read {
		what = "read"
	}
	return fmt.Sprintf("%s %s via %s [%.3fs–%.3fs]: %s winner=%q id=%q (%s)", o.Gift, what, o.Endpoint,
		float64(o.Call)/1e9, float64(o.Return)/1e9, o.Outcome, o.Winner, o.RedemptionID, o.Detail)
}

// History records operations from many goroutines.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewHistory starts a history now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock: nanoseconds since it began, monotonic.
func (h *History) Now() int64 { return time.Since(h.start).Nanoseconds() }

// Add records a finished operation.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns a copy of what was recorded.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// couponInput and couponOutput are the porcupine model's view of an operation.
type couponInput struct {
	gift, merchant string
	read           bool
}

type couponOutput struct {
	outcome Outcome
	winner  string
}

// CouponModel is the sequential specification of a gift coupon: it starts unredeemed; the first
// redemption that takes effect makes its merchant the winner for good. A redemption answers Won if its
// merchant is (or now becomes) the winner, Lost naming the winner otherwise; a read answers the winner
// ("" before any). An Unknown redemption may have taken effect: it makes its merchant the winner if
// there was none. (Every merchant of a drill uses one key per gift, so merchant stands for merchant and
// key.) The history is partitioned by gift: coupons are independent.
var CouponModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			g := op.Input.(couponInput).gift
			if _, ok := by[g]; !ok {
				order = append(order, g)
			}
			by[g] = append(by[g], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, g := range order {
			out = append(out, by[g])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		winner := state.(string)
		in, out := input.(couponInput), output.(couponOutput)
		if in.read {
			return out.winner == winner, winner
		}
		switch out.outcome {
		case Unknown:
			if winner == "" {
				return true, in.merchant
			}
			return true, winner
		case Won:
			if winner == "" || winner == in.merchant {
				return true, in.merchant
			}
			return false, winner
		case Lost:
			return winner != "" && winner != in.merchant && out.winner == winner, winner
		default: // Refused: nothing happened
			return true, winner
		}
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(couponInput), output.(couponOutput)
		if in.read {
			return fmt.Sprintf("read(%s) → %q", in.gift, out.winner)
		}
		return fmt.Sprintf("redeem(%s, %s) → %s %q", in.gift, in.merchant, out.outcome, out.winner)
	},
	DescribeState: func(state interface{}) string { return fmt.Sprintf("winner %q", state) },
}

// Linearizable checks the history against [CouponModel] with porcupine, within timeout.
func Linearizable(ops []Op, timeout time.Duration) (porcupine.CheckResult, error) {
	hist := make([]porcupine.Operation, 0, len(ops))
	for _, o := range ops {
		ret := o.Return
		if o.Outcome == Unknown {
			ret = math.MaxInt64 // it may take effect any time after it was sent
		}
		hist = append(hist, porcupine.Operation{
			ClientId: o.Client,
			Input:    couponInput{gift: o.Gift, merchant: o.Merchant, read: o.Read},
			Call:     o.Call,
			Output:   couponOutput{outcome: o.Outcome, winner: o.Winner},
			Return:   ret,
		})
	}
	res := porcupine.CheckOperationsTimeout(CouponModel, hist, timeout)
	if res != porcupine.Ok {
		return res, fmt.Errorf("the history of %d operations is not linearizable against the coupon model (porcupine: %s)", len(ops), res)
	}
	return res, nil
}

// Kept is a redemption as the cluster keeps it after the drill: the gift's winner and redemption id.
type Kept struct {
	Winner, RedemptionID string
}

// Verify checks the invariants of a drill over its history and what the cluster kept of each gift,
// beyond linearizability: every gift is redeemed by at most one merchant (all answers name the same
// winner and redemption id), every Won answer is the kept redemption, and every kept redemption was seen
// by its winner or confirmed by replaying its key (replayed lists the gifts whose winner's key was
// replayed to a 200 with the kept id). It returns every violation, sorted.
func Verify(ops []Op, kept map[string]Kept, replayed map[string]bool) []string {
	var bad []string
	type seen struct{ winners, ids map[string]bool }
	by := map[string]*seen{}
	wonBy := map[string]bool{}
	for _, o := range ops {
		s := by[o.Gift]
		if s == nil {
			s = &seen{map[string]bool{}, map[string]bool{}}
			by[o.Gift] = s
		}
		if o.Outcome != Won && o.Outcome != Lost && !(o.Read && o.Winner != "") {
			continue
		}
		s.winners[o.Winner] = true
		if o.RedemptionID != "" {
			s.ids[o.RedemptionID] = true
		}
		k, ok := kept[o.Gift]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: answered %s but the cluster keeps no such gift", o.Gift, o.Outcome))
		case o.Winner != k.Winner || (o.RedemptionID != "" && o.RedemptionID != k.RedemptionID):
			bad = append(bad, fmt.Sprintf("%s: an answer names %s/%s, the cluster keeps %s/%s: %s", o.Gift, o.Winner, o.RedemptionID, k.Winner, k.RedemptionID, o))
		}
		if o.Outcome == Won {
			wonBy[o.Gift] = true
		}
	}
	for g, s := range by {
		if len(s.winners) > 1 || len(s.ids) > 1 {
			bad = append(bad, fmt.Sprintf("%s: redeemed more than once: winners %v, redemption ids %v", g, keys(s.winners), keys(s.ids)))
		}
	}
	for g, k := range kept {
		if k.Winner != "" && !wonBy[g] && !replayed[g] {
			bad = append(bad, fmt.Sprintf("%s: kept as redeemed by %s (%s), which no client saw and no replay of its key confirmed", g, k.Winner, k.RedemptionID))
		}
	}
	sort.Strings(bad)
	return bad
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
