package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go"
)

// ErrSlowConsumer ends a subscription whose reader fell too far behind; it resumes from its cursor.
var ErrSlowConsumer = haetae.Errorf(haetae.ESlowConsumer, "the connection fell behind; resume from your cursor")

// Hub delivers committed messages to live subscribers on this node. Per shard it follows the message
// stream by direct gets (no consumer: consumer creation needs the meta leader, which may be in a lost
// data center), woken by core NATS ticks that writers publish after each commit, and by a timer in case
// a tick is lost. Every message is read once per node, whatever the number of subscribers.
type Hub struct {
	s     *Store
	tails []*tail
	mu    sync.RWMutex
	rooms map[string]map[*Subscription]struct{}
	subs  []*nats.Subscription
	quit  chan struct{}
	wg    sync.WaitGroup
}

type tail struct {
	shard  int
	stream string
	mu     sync.Mutex // held while dispatching, and while a subscription reads pos to register
	pos    uint64
	// target is the highest seq a writer said is committed. The replica a read reaches may not have
	// applied it yet; while pos < target the tail asks again soon instead of waiting for the next tick.
	target uint64
	subs   int // subscriptions to rooms of this shard on this node
	wake   chan struct{}
}

// tick handles a writer's notice that the shard's stream holds everything up to seq. With no
// subscriber on this shard nothing needs reading: the position just moves on, since a subscription that
// starts later catches up from the stream itself. This keeps an idle hub from reading every message.
func (t *tail) tick(seq uint64) {
	t.mu.Lock()
	t.target = max(t.target, seq)
	if t.subs == 0 {
		t.pos = max(t.pos, seq)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func newHub(s *Store) (*Hub, error) {
	h := &Hub{s: s, rooms: map[string]map[*Subscription]struct{}{}, quit: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	for i := 0; i < s.cfg.Shards; i++ {
		name := fmt.Sprintf(msgStreamFmt, i)
		st, err := s.js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("open stream %s: %w", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream info %s: %w", name, err)
		}
		h.tails = append(h.tails, &tail{shard: i, stream: name, pos: info.State.LastSeq, wake: make(chan struct{}, 1)})
	}
	tick, err := s.nc.Subscribe("haetae.tick.*", func(m *nats.Msg) {
		n, err := strconv.Atoi(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
		seq, err2 := strconv.ParseUint(string(m.Data), 10, 64)
		if err == nil && err2 == nil && n >= 0 && n < len(h.tails) {
			h.tails[n].tick(seq)
		}
	})
	if err != nil {
		return nil, err
	}
	ev, err := s.nc.Subscribe(fmt.Sprintf(eventSubject, "*"), func(m *nats.Msg) {
		var e haetae.Event
		if json.Unmarshal(m.Data, &e) == nil {
			h.dispatchEvent(&e)
		}
	})
	if err != nil {
		tick.Unsubscribe()
		return nil, err
	}
	h.subs = []*nats.Subscription{tick, ev}
	for _, t := range h.tails {
		h.wg.Add(1)
		go h.follow(t)
	}
	return h, nil
}

func (h *Hub) close() {
	select {
	case <-h.quit:
		return
	default:
	}
	close(h.quit)
	for _, s := range h.subs {
		s.Unsubscribe()
	}
	h.wg.Wait()
	h.mu.Lock()
	for _, set := range h.rooms {
		for sub := range set {
			sub.end(haetae.Errorf(haetae.EUnavailable, "this node is shutting down; resume on another"))
		}
	}
	h.mu.Unlock()
}

// follow reads a shard's stream past t.pos whenever woken, and hands each message to its subscribers.
func (h *Hub) follow(t *tail) {
	defer h.wg.Done()
	timer := time.NewTicker(time.Second)
	defer timer.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-t.wake:
		case <-timer.C:
			t.mu.Lock()
			idle := t.subs == 0
			t.mu.Unlock()
			if idle {
				continue
			}
		}
		lagWait := 5 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(context.Background(), h.s.cfg.RequestTimeout)
			t.mu.Lock()
			from := t.pos + 1
			t.mu.Unlock()
			raw, pending, err := directGetBatch(ctx, h.s.nc, t.stream, directGetReq{Seq: from, Batch: 512})
			cancel()
			if err != nil {
				h.s.cfg.Logger.Warn("live tail read failed", "stream", t.stream, "err", err)
				break
			}
			if len(raw) > 0 {
				h.dispatch(t, raw)
				if pending > 0 {
					continue
				}
			}
			t.mu.Lock()
			behind := t.pos < t.target
			t.mu.Unlock()
			if !behind {
				break
			}
			// The replica that answered has not applied everything a writer saw committed: ask again
			// soon (another replica may answer), backing off while it stays behind.
			select {
			case <-h.quit:
				return
			case <-time.After(lagWait):
			}
			lagWait = min(2*lagWait, 500*time.Millisecond)
		}
	}
}

func (h *Hub) dispatch(t *tail, raw []storedMsg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, r := range raw {
		if r.Seq <= t.pos {
			continue
		}
		t.pos = r.Seq
		room := r.Subject[strings.LastIndexByte(r.Subject, '.')+1:]
		set := h.rooms[room]
		if len(set) == 0 {
			continue
		}
		msg, err := decodeMessage(r)
		if err != nil {
			h.s.cfg.Logger.Error("undecodable message in stream", "stream", t.stream, "seq", r.Seq, "err", err)
			continue
		}
		for sub := range set {
			sub.push(haetae.Delivery{Message: msg})
			n++
		}
	}
	if n > 0 && h.s.cfg.OnDeliver != nil {
		h.s.cfg.OnDeliver(n)
	}
}

func (h *Hub) dispatchEvent(e *haetae.Event) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for sub := range h.rooms[e.Room] {
		sub.pushEvent(haetae.Delivery{Event: e})
	}
}

func (h *Hub) publishEvent(room string, e haetae.Event) {
	b, _ := json.Marshal(e)
	h.s.nc.Publish(fmt.Sprintf(eventSubject, room), b)
}

// Subscription implements [haetae.Subscription] for one room on this node.
type Subscription struct {
	Room string

	h      *Hub
	tail   *tail
	out    chan haetae.Delivery
	live   chan haetae.Delivery
	mu     sync.Mutex
	err    error
	ended  chan struct{}
	cancel context.CancelFunc
}

var _ haetae.LiveService = (*Hub)(nil)

// Deliveries implements [haetae.Subscription].
func (sub *Subscription) Deliveries() <-chan haetae.Delivery { return sub.out }

// Typing implements [haetae.LiveService].
func (h *Hub) Typing(ctx context.Context, caller, room string) error {
	return h.s.Rooms.typing(ctx, caller, room)
}

// Subscribe implements [haetae.LiveService].
func (h *Hub) Subscribe(ctx context.Context, caller, room string, after uint64) (haetae.Subscription, error) {
	rec, err := h.s.Rooms.member(ctx, caller, room)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	sub := &Subscription{Room: rec.ID, h: h, out: make(chan haetae.Delivery, 64), live: make(chan haetae.Delivery, h.s.cfg.LiveBuffer), ended: make(chan struct{}), cancel: cancel}
	t := h.tails[rec.Shard]
	// Registering and reading pos under the tail's lock splits the room's messages exactly: those up to
	// pos are in the store for the catch-up below, those after pos will be pushed to sub.live.
	t.mu.Lock()
	h.mu.Lock()
	set := h.rooms[rec.ID]
	if set == nil {
		set = map[*Subscription]struct{}{}
		h.rooms[rec.ID] = set
	}
	set[sub] = struct{}{}
	h.mu.Unlock()
	t.subs++
	pos := t.pos
	t.mu.Unlock()
	sub.tail = t
	go sub.run(sctx, rec, after, pos)
	return sub, nil
}

func (sub *Subscription) run(ctx context.Context, rec *roomRecord, after, pos uint64) {
	defer close(sub.out)
	defer sub.unregister()
	last := after
	send := func(d haetae.Delivery) bool {
		select {
		case sub.out <- d:
			return true
		case <-ctx.Done():
			return false
		case <-sub.ended:
			return false
		}
	}
	for last < pos {
		rctx, cancel := context.WithTimeout(ctx, sub.h.s.cfg.RequestTimeout)
		msgs, err := sub.h.s.Messages.read(rctx, rec, last+1, pos, 256)
		cancel()
		if err != nil {
			sub.end(err)
			return
		}
		if len(msgs) == 0 {
			// The replica that answered has nothing more up to pos. A lagging replica would leave a
			// gap between the catch-up and the live feed, so the leader must agree.
			m, err := sub.h.s.Messages.nextFromLeader(ctx, rec, last+1, pos)
			if err != nil {
				sub.end(err)
				return
			}
			if m == nil {
				break
			}
			msgs = []*haetae.Message{m}
		}
		for _, m := range msgs {
			if !send(haetae.Delivery{Message: m}) {
				return
			}
			last = m.Seq
		}
	}
	for {
		select {
		case d := <-sub.live:
			if d.Message != nil {
				if d.Message.Seq <= last {
					continue
				}
				last = d.Message.Seq
			}
			if !send(d) {
				return
			}
		case <-sub.ended:
			return
		case <-ctx.Done():
			return
		}
	}
}

// push hands a message to the subscription without blocking the tail; a full buffer ends the
// subscription as a slow consumer, which loses nothing: the client resumes from its cursor.
func (sub *Subscription) push(d haetae.Delivery) {
	select {
	case sub.live <- d:
	default:
		sub.end(ErrSlowConsumer)
	}
}

// pushEvent drops ephemeral events rather than ending a subscription that is merely busy.
func (sub *Subscription) pushEvent(d haetae.Delivery) {
	if len(sub.live) > cap(sub.live)/2 {
		return
	}
	select {
	case sub.live <- d:
	default:
	}
}

func (sub *Subscription) end(err error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.err == nil {
		sub.err = err
		close(sub.ended)
	}
}

// Err says why the subscription ended: nil after Close.
func (sub *Subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.err == errClosed {
		return nil
	}
	return sub.err
}

var errClosed = fmt.Errorf("subscription closed")

// Close ends the subscription.
func (sub *Subscription) Close() {
	sub.end(errClosed)
	sub.cancel()
}

func (sub *Subscription) unregister() {
	h := sub.h
	sub.tail.mu.Lock()
	defer sub.tail.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if set := h.rooms[sub.Room]; set != nil {
		if _, ok := set[sub]; ok {
			delete(set, sub)
			sub.tail.subs--
		}
		if len(set) == 0 {
			delete(h.rooms, sub.Room)
		}
	}
}
