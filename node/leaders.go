package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// leaders spreads the stream leaders of the cluster over its servers and hands them off before this
// node goes away.
//
// Why spread: after a SIGKILL of a stream's leader, writes to that stream stop until JetStream elects a
// new one, 4–9 s (its RAFT election timeouts, which nats-server does not expose). With every stream led
// from one data center, losing it would stall every room; with leaders spread, one data center's loss
// stalls only the rooms of the streams it led. Each stream has a preferred server, the i-th stream the
// (i mod n)-th of the sorted server names, and each node pulls the streams it prefers back to itself
// once it is current with them; nobody pushes a stream onto another node.
//
// Why hand off: a leader that steps down on purpose is replaced in milliseconds, so a drained node's
// streams never stall (JETSTREAM-FACTS.md: about 19 ms).
type leaders struct {
	nc       *nats.Conn
	self     string
	names    func() []string
	streams  func() []string
	isLeader func(string) bool
	current  func(string) bool
	quorum   func() error
	logf     func(msg string, args ...any)

	draining atomic.Bool
	mu       sync.Mutex
	tried    map[string]time.Time
	okSince  time.Time
	quit     chan struct{}
	done     chan struct{}
}

const (
	// balanceEvery is how often a node checks whether it leads the streams it prefers.
	balanceEvery = 2 * time.Second
	// balanceSettle is how long a node must have had a majority before it claims streams: a node that
	// just came back first catches up, and a flapping link does not move leaders back and forth.
	balanceSettle = 10 * time.Second
	// balanceRetry spaces two claims of the same stream.
	balanceRetry = 15 * time.Second
)

func startLeaders(l *leaders) *leaders {
	l.tried = map[string]time.Time{}
	l.quit, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(balanceEvery)
		defer t.Stop()
		for {
			select {
			case <-l.quit:
				return
			case <-t.C:
				l.balance()
			}
		}
	}()
	return l
}

// preferred returns the server a stream's leader should be on.
func preferred(i int, names []string) string { return names[i%len(names)] }

func (l *leaders) balance() {
	if l.draining.Load() {
		return
	}
	now := time.Now()
	if l.quorum() != nil {
		l.okSince = time.Time{}
		return
	}
	if l.okSince.IsZero() {
		l.okSince = now
	}
	if now.Sub(l.okSince) < balanceSettle {
		return
	}
	names := l.names()
	if len(names) < 2 {
		return
	}
	for i, st := range l.streams() {
		if preferred(i, names) != l.self || l.isLeader(st) || !l.current(st) {
			continue
		}
		l.mu.Lock()
		recent := now.Sub(l.tried[st]) < balanceRetry
		if !recent {
			l.tried[st] = now
		}
		l.mu.Unlock()
		if recent {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := stepDown(ctx, l.nc, st, l.self)
		cancel()
		if err != nil {
			l.logf("could not take over the leadership of a stream this node prefers", "stream", st, "err", err.Error())
		} else {
			l.logf("took over the leadership of a stream this node prefers", "stream", st)
		}
	}
}

// handOff asks every stream this node leads to elect a leader elsewhere, and waits until it leads none
// or ctx ends. It stops the balancer from claiming streams back. It returns the streams handed off.
func (l *leaders) handOff(ctx context.Context) ([]string, error) {
	l.draining.Store(true)
	var moved []string
	for {
		var led []string
		for _, st := range l.streams() {
			if l.isLeader(st) {
				led = append(led, st)
			}
		}
		if len(led) == 0 {
			return moved, nil
		}
		for _, st := range led {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := stepDown(sctx, l.nc, st, "")
			cancel()
			if err != nil {
				l.logf("stream leader hand-off failed; retrying", "stream", st, "err", err.Error())
				continue
			}
			if !contains(moved, st) {
				moved = append(moved, st)
			}
		}
		select {
		case <-ctx.Done():
			return moved, fmt.Errorf("still leading %v: %w", led, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (l *leaders) close() {
	select {
	case <-l.quit:
		return
	default:
	}
	close(l.quit)
	<-l.done
}

// stepDown asks a stream's leader to step down, in favour of the server named preferred when it is not
// empty (JetStream then picks that one), else of any current replica.
func stepDown(ctx context.Context, nc *nats.Conn, stream, preferred string) error {
	var body []byte
	if preferred != "" {
		body, _ = json.Marshal(map[string]any{"placement": map[string]string{"preferred": preferred}})
	}
	resp, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, body)
	if err != nil {
		return err
	}
	var r struct {
		Success bool `json:"success"`
		Error   *struct {
			Code int    `json:"code"`
			Desc string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return fmt.Errorf("decode step-down answer: %w", err)
	}
	if r.Error != nil {
		return fmt.Errorf("step down %s: %s (%d)", stream, r.Error.Desc, r.Error.Code)
	}
	if !r.Success {
		return fmt.Errorf("step down %s: not done", stream)
	}
	return nil
}
