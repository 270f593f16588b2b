package node

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go"
)

// announceSubject carries every node's endpoint announcement over core NATS. Core NATS, not JetStream:
// it needs no quorum, so a node cut off from the others still knows and serves itself.
const announceSubject = "haetae.node.announce"

const (
	announceEvery = 2 * time.Second
	// forgetAfter drops a node not heard from for this long from the list.
	forgetAfter = 10 * time.Second
)

// directory keeps the endpoints the nodes of the cluster announce.
type directory struct {
	self  haetae.Endpoint
	ready func() error
	nc    *nats.Conn

	mu    sync.Mutex
	peers map[string]haetae.Endpoint

	sub  *nats.Subscription
	quit chan struct{}
	done chan struct{}
}

func startDirectory(nc *nats.Conn, self haetae.Endpoint, ready func() error) (*directory, error) {
	d := &directory{self: self, ready: ready, nc: nc, peers: map[string]haetae.Endpoint{}, quit: make(chan struct{}), done: make(chan struct{})}
	sub, err := nc.Subscribe(announceSubject, func(m *nats.Msg) {
		var e haetae.Endpoint
		if json.Unmarshal(m.Data, &e) != nil || e.Node == "" || e.Node == d.self.Node {
			return
		}
		e.Self = false
		e.LastSeen = time.Now().UTC()
		d.mu.Lock()
		_, known := d.peers[e.Node]
		d.peers[e.Node] = e
		d.mu.Unlock()
		if !known {
			go d.announce() // a newcomer learns of this node now, not at the next tick
		}
	})
	if err != nil {
		return nil, err
	}
	d.sub = sub
	go d.run()
	return d, nil
}

func (d *directory) run() {
	defer close(d.done)
	t := time.NewTicker(announceEvery)
	defer t.Stop()
	for {
		d.announce()
		select {
		case <-d.quit:
			return
		case <-t.C:
		}
	}
}

func (d *directory) announce() {
	e := d.self
	e.Ready = d.ready() == nil
	b, _ := json.Marshal(e)
	d.nc.Publish(announceSubject, b) // best effort: the next tick repeats it
}

// list returns this node first, then the others heard from recently, by name.
func (d *directory) list() []haetae.Endpoint {
	self := d.self
	self.Self = true
	self.Ready = d.ready() == nil
	self.LastSeen = time.Now().UTC()
	out := []haetae.Endpoint{self}
	d.mu.Lock()
	var rest []haetae.Endpoint
	for name, e := range d.peers {
		if time.Since(e.LastSeen) > forgetAfter {
			delete(d.peers, name)
			continue
		}
		rest = append(rest, e)
	}
	d.mu.Unlock()
	sort.Slice(rest, func(i, j int) bool { return rest[i].Node < rest[j].Node })
	return append(out, rest...)
}

func (d *directory) close() {
	select {
	case <-d.quit:
		return
	default:
	}
	close(d.quit)
	<-d.done
	d.sub.Unsubscribe()
}
