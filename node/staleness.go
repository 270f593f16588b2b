package node

import (
	"sync"
	"time"
)

// staleness watches how current this node's replicas are, to bound how old a read served from them may
// be. A replica is current when it has applied everything its stream's leader committed, as of the
// leader's last heartbeat; a node cut off from the majority is current with nothing, and the bound grows
// from the moment it was last in touch.
type staleness struct {
	streams   func() []string
	leader    func(string) bool
	current   func(string) bool
	quorum    func() error
	mu        sync.Mutex
	lastOK    map[string]time.Time
	lastQuo   time.Time
	quit      chan struct{}
	done      chan struct{}
	checkedAt time.Time
}

const stalenessEvery = 250 * time.Millisecond

func startStaleness(streams func() []string, leader, current func(string) bool, quorum func() error) *staleness {
	st := &staleness{streams: streams, leader: leader, current: current, quorum: quorum,
		lastOK: map[string]time.Time{}, quit: make(chan struct{}), done: make(chan struct{})}
	st.check()
	go func() {
		defer close(st.done)
		t := time.NewTicker(stalenessEvery)
		defer t.Stop()
		for {
			select {
			case <-st.quit:
				return
			case <-t.C:
				st.check()
			}
		}
	}()
	return st
}

func (st *staleness) check() {
	now := time.Now()
	quorumOK := st.quorum() == nil
	st.mu.Lock()
	defer st.mu.Unlock()
	if quorumOK {
		st.lastQuo = now
	}
	for _, s := range st.streams() {
		if quorumOK && (st.leader(s) || st.current(s)) {
			st.lastOK[s] = now
		} else if _, ok := st.lastOK[s]; !ok {
			st.lastOK[s] = time.Time{}
		}
	}
	st.checkedAt = now
}

// bound is the most by which a read from this node may lag the cluster: the time since the least
// current replica was last known current, rounded up to the checking interval.
func (st *staleness) bound() time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	oldest := st.lastQuo
	for _, t := range st.lastOK {
		if t.Before(oldest) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 24 * time.Hour // never current since start: say so loudly rather than pretend
	}
	return time.Since(oldest).Truncate(time.Millisecond) + stalenessEvery
}

func (st *staleness) close() {
	select {
	case <-st.quit:
		return
	default:
	}
	close(st.quit)
	<-st.done
}
