package node

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/jsstore"
)

// quorumWatch keeps this node's record of the periods in which it could not take writes because it
// reached no majority: the very check that makes the API refuse writes with no_quorum. It is the
// downtime rental billing excludes, so that a rider behind a cut-off data center is not billed for the
// minutes in which no return could be taken.
//
// A period is stamped with the node's domain clock (injected in tests). It can be written to the
// replicated outage log only once the node has a majority again; until then, and while it is under
// way, it is known only here, and [quorumWatch.Downtime] adds it to what the log holds.
type quorumWatch struct {
	log    *jsstore.OutageLog
	quorum func() error
	now    func() time.Time
	node   string
	dc     string
	logger *slog.Logger

	mu      sync.Mutex
	since   time.Time         // start of the period under way; zero while writes are possible
	pending []haetae.Interval // ended periods not in the log yet

	quit chan struct{}
	done chan struct{}
}

// quorumWatchEvery is how often the watch asks; a period's ends are as exact as this (plus the
// seconds the routes take to notice a dead link).
const quorumWatchEvery = 250 * time.Millisecond

// NoQuorumSince says whether this node has no majority now, as its record of downtime has it, and
// since when by the node's clock.
func (n *Node) NoQuorumSince() (time.Time, bool) {
	if n.quorumW == nil {
		return time.Time{}, false
	}
	return n.quorumW.noQuorumSince()
}

func startQuorumWatch(w *quorumWatch) *quorumWatch {
	w.quit, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(quorumWatchEvery)
		defer t.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-t.C:
				w.check()
			}
		}
	}()
	return w
}

func (w *quorumWatch) check() {
	ok := w.quorum() == nil
	now := w.now()
	w.mu.Lock()
	switch {
	case !ok && w.since.IsZero():
		w.since = now
		w.logger.Warn("no quorum: writes are refused; the period is excluded from rental billing", "since", now)
	case ok && !w.since.IsZero():
		w.pending = append(w.pending, haetae.Interval{From: w.since, To: now})
		w.logger.Info("quorum is back", "no_quorum_from", w.since, "to", now)
		w.since = time.Time{}
	}
	pending := slices.Clone(w.pending)
	w.mu.Unlock()
	if ok && len(pending) > 0 {
		w.flush(pending)
	}
}

// flush writes ended periods to the replicated log and forgets those written.
func (w *quorumWatch) flush(pending []haetae.Interval) {
	for _, iv := range pending {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := w.log.Record(ctx, w.node, w.dc, iv)
		cancel()
		if err != nil {
			w.logger.Debug("could not record a no-quorum period yet", "err", err)
			return
		}
		w.mu.Lock()
		w.pending = slices.DeleteFunc(w.pending, func(p haetae.Interval) bool { return p == iv })
		w.mu.Unlock()
	}
}

// Downtime implements [haetae.DowntimeSource]: every node's recorded no-quorum periods, and this
// node's own that are not in the record yet. While a node had no quorum it refused every write, so
// the periods count for every component.
func (w *quorumWatch) Downtime(ctx context.Context, component string, from, to time.Time) ([]haetae.Interval, error) {
	ivs, err := w.log.Intervals(ctx, from, to)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ivs = append(ivs, w.pending...)
	if !w.since.IsZero() {
		ivs = append(ivs, haetae.Interval{From: w.since, To: w.now()})
	}
	return ivs, nil
}

// noQuorumSince returns when the period under way began, if one is.
func (w *quorumWatch) noQuorumSince() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.since, !w.since.IsZero()
}

// close stops watching, recording first what has ended if it can.
func (w *quorumWatch) close() {
	select {
	case <-w.quit:
		return
	default:
	}
	close(w.quit)
	<-w.done
	w.mu.Lock()
	pending := slices.Clone(w.pending)
	w.mu.Unlock()
	if len(pending) > 0 && w.quorum() == nil {
		w.flush(pending)
	}
}
