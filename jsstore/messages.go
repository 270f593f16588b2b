package jsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// storedMessage is a message's payload in its stream; room and seq come from the subject and sequence.
type storedMessage struct {
	ClientID string    `json:"c"`
	From     string    `json:"f"`
	Kind     string    `json:"k"`
	Text     string    `json:"t"`
	SentAt   time.Time `json:"at"`
}

// encodeMessage writes a stored message without HTML escaping, so that its size stays within a few
// bytes of the text the client sent (json.Marshal would write '<' as six bytes).
func encodeMessage(sm storedMessage) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(sm)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func decodeMessage(m storedMsg) (*haetae.Message, error) {
	var sm storedMessage
	if err := json.Unmarshal(m.Data, &sm); err != nil {
		return nil, fmt.Errorf("decode message %d: %w", m.Seq, err)
	}
	room := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	return &haetae.Message{Room: room, Seq: m.Seq, ClientID: sm.ClientID, From: sm.From, Kind: sm.Kind, Text: sm.Text, SentAt: sm.SentAt}, nil
}

// pendingSend is one message waiting for its batch to commit.
type pendingSend struct {
	msgID   string
	subject string
	data    []byte
	msg     *haetae.Message
	done    chan struct{}
	// Set by the batcher before done is closed.
	seq uint64
	dup bool // JetStream already had msgID: seq is the original's
	err error
	// retried is set when an earlier attempt of this batcher had an unknown outcome (no answer in
	// time), so a duplicate answer is most likely that attempt's own commit.
	retried bool
}

// MessageService implements [haetae.MessageService]. Sends are group-committed: a batcher per shard
// gathers what arrives while the previous batch is being synced and commits it as one JetStream atomic
// batch, so many messages share one fsync. Durability is unchanged: nothing is acknowledged before
// JetStream acknowledged its batch.
type MessageService struct {
	s        *Store
	queues   []chan *pendingSend
	mu       sync.Mutex
	inflight map[string]*pendingSend // by Nats-Msg-Id: a batch must not hold the same id twice
	wg       sync.WaitGroup
	quit     chan struct{}
	closed   bool
}

var _ haetae.MessageService = (*MessageService)(nil)

func newMessageService(s *Store) *MessageService {
	m := &MessageService{s: s, inflight: map[string]*pendingSend{}, quit: make(chan struct{})}
	for i := 0; i < s.cfg.Shards; i++ {
		q := make(chan *pendingSend, s.cfg.BatchMax*s.cfg.BatchWorkers*4)
		m.queues = append(m.queues, q)
		for w := 0; w < s.cfg.BatchWorkers; w++ {
			m.wg.Add(1)
			go m.batcher(i, q)
		}
	}
	return m
}

func (m *MessageService) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	close(m.quit)
	m.wg.Wait()
}

// Send implements [haetae.MessageService].
func (m *MessageService) Send(ctx context.Context, caller, room, clientID, text string) (*haetae.Message, bool, error) {
	rec, err := m.s.Rooms.member(ctx, caller, room)
	if err != nil {
		return nil, false, err
	}
	lim := m.s.cfg.Limits
	if err := lim.ValidClientID(clientID); err != nil {
		return nil, false, err
	}
	if err := lim.ValidText(text); err != nil {
		return nil, false, err
	}
	return m.post(ctx, rec, caller, clientID, haetae.KindText, text)
}

// SendBatch implements [haetae.MessageService]. The items are queued one after another, in order, and
// then awaited together, so they share the shard's next commits (one atomic batch from 16 on) instead of
// paying for one each, and land in the room in the order given.
func (m *MessageService) SendBatch(ctx context.Context, caller, room string, items []haetae.SendItem) ([]haetae.SendResult, error) {
	if len(items) == 0 || len(items) > haetae.SendBatchMax {
		return nil, haetae.Errorf(haetae.EInvalid, "a batch holds 1 to %d messages", haetae.SendBatchMax)
	}
	rec, err := m.s.Rooms.member(ctx, caller, room)
	if err != nil {
		return nil, err
	}
	lim := m.s.cfg.Limits
	out := make([]haetae.SendResult, len(items))
	queued := make([]*queuedSend, len(items))
	for i, it := range items {
		if err := lim.ValidClientID(it.ClientID); err != nil {
			out[i].Err = err
			continue
		}
		if err := lim.ValidText(it.Text); err != nil {
			out[i].Err = err
			continue
		}
		queued[i] = m.enqueue(ctx, rec, caller, it.ClientID, haetae.KindText, it.Text)
	}
	for i, q := range queued {
		if q != nil {
			out[i].Message, out[i].Created, out[i].Err = m.await(ctx, rec, q)
		}
	}
	return out, nil
}

// post commits a message of any kind; services other than chat (gifts, system notices) use it too.
func (m *MessageService) post(ctx context.Context, rec *roomRecord, from, clientID, kind, text string) (*haetae.Message, bool, error) {
	return m.await(ctx, rec, m.enqueue(ctx, rec, from, clientID, kind, text))
}

// queuedSend is a send handed to its shard's batcher (own) or found already on its way under the same
// id (first), or refused before it was queued (err).
type queuedSend struct {
	msg   *haetae.Message
	own   *pendingSend
	first *pendingSend
	err   error
}

// enqueue hands a send to its shard's batcher without waiting for the commit, so the sends of one
// batch request reach the queue in the order they were given.
func (m *MessageService) enqueue(ctx context.Context, rec *roomRecord, from, clientID, kind, text string) *queuedSend {
	msg := &haetae.Message{Room: rec.ID, ClientID: clientID, From: from, Kind: kind, Text: text, SentAt: m.s.cfg.Now().UTC()}
	data := encodeMessage(storedMessage{ClientID: clientID, From: from, Kind: kind, Text: text, SentAt: msg.SentAt})
	p := &pendingSend{msgID: rec.ID + "/" + subjectToken(from) + "/" + clientID, subject: roomSubject(rec), data: data, msg: msg, done: make(chan struct{})}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return &queuedSend{msg: msg, err: haetae.Errorf(haetae.EUnavailable, "this node is shutting down; retry on another")}
	}
	if first, ok := m.inflight[p.msgID]; ok {
		// The same id is already on its way (a client retrying before its first try was answered):
		// wait for it and answer as a repeat.
		m.mu.Unlock()
		return &queuedSend{msg: msg, first: first}
	}
	m.inflight[p.msgID] = p
	m.mu.Unlock()

	select {
	case m.queues[rec.Shard] <- p:
	case <-ctx.Done():
		m.forget(p, storeErr("send", ctx.Err()))
		return &queuedSend{msg: msg, err: p.err}
	}
	return &queuedSend{msg: msg, own: p}
}

// await waits for a queued send's commit and answers as a send does: the message and whether this
// request created it.
func (m *MessageService) await(ctx context.Context, rec *roomRecord, q *queuedSend) (*haetae.Message, bool, error) {
	if q.err != nil {
		return nil, false, q.err
	}
	if first := q.first; first != nil {
		select {
		case <-first.done:
		case <-ctx.Done():
			return nil, false, storeErr("send", ctx.Err())
		}
		if first.err != nil {
			return nil, false, first.err
		}
		return m.repeat(ctx, rec, q.msg, first.seq)
	}
	p := q.own
	select {
	case <-p.done:
	case <-ctx.Done():
		// The batch may still commit; the client's retry with the same client_id will find it.
		return nil, false, storeErr("send", ctx.Err())
	}
	if p.err != nil {
		return nil, false, p.err
	}
	if p.dup {
		orig, _, err := m.repeat(ctx, rec, q.msg, p.seq)
		// A duplicate of our own unanswered attempt is this request's message, created by it.
		return orig, p.retried && err == nil, err
	}
	q.msg.Seq = p.seq
	return q.msg, true, nil
}

func (m *MessageService) forget(p *pendingSend, err error) {
	m.mu.Lock()
	if m.inflight[p.msgID] == p {
		delete(m.inflight, p.msgID)
	}
	m.mu.Unlock()
	p.err = err
	close(p.done)
}

// repeat answers a send whose id was used before: the original message if the text is the same, else
// idempotency_conflict.
func (m *MessageService) repeat(ctx context.Context, rec *roomRecord, msg *haetae.Message, seq uint64) (*haetae.Message, bool, error) {
	ctx, cancel := m.s.timeout(ctx)
	defer cancel()
	msgs, _, err := directGetBatch(ctx, m.s.nc, roomStream(rec), directGetReq{Seq: seq, Batch: 1})
	if err != nil {
		return nil, false, storeErr("read original message", err)
	}
	if len(msgs) != 1 || msgs[0].Seq != seq {
		// The replica that answered has not applied the original yet; the leader has.
		lm, err := m.s.leaderGet(ctx, roomStream(rec), directGetReq{Seq: seq})
		if err != nil {
			return nil, false, storeErr("read original message", err)
		}
		if lm == nil {
			return nil, false, storeErr("read original message", fmt.Errorf("message %d of %s is gone", seq, rec.ID))
		}
		msgs = []storedMsg{*lm}
	}
	orig, err := decodeMessage(msgs[0])
	if err != nil {
		return nil, false, storeErr("read original message", err)
	}
	if orig.Text != msg.Text || orig.Kind != msg.Kind || orig.From != msg.From {
		return nil, false, haetae.Errorf(haetae.EIdempotencyConflict, "client_id %q was already used for another message (seq %d)", msg.ClientID, seq)
	}
	return orig, false, nil
}

// batcher commits what its shard's queue holds, up to BatchMax messages at a time.
func (m *MessageService) batcher(shard int, q chan *pendingSend) {
	defer m.wg.Done()
	stream := fmt.Sprintf(msgStreamFmt, shard)
	batch := make([]*pendingSend, 0, m.s.cfg.BatchMax)
	for {
		select {
		case p := <-q:
			batch = append(batch[:0], p)
		case <-m.quit:
			// Fail whatever is still queued so no sender waits forever.
			for {
				select {
				case p := <-q:
					m.finish([]*pendingSend{p}, haetae.Errorf(haetae.EUnavailable, "this node is shutting down; retry on another"))
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < m.s.cfg.BatchMax {
			select {
			case p := <-q:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		start := time.Now()
		m.commit(stream, batch)
		if m.s.cfg.OnCommit != nil {
			m.s.cfg.OnCommit(len(batch), time.Since(start))
		}
		var last uint64
		for _, p := range batch {
			if p.err == nil && !p.dup && p.seq > last {
				last = p.seq
			}
		}
		m.finish(batch, nil)
		if last > 0 {
			// Wake every node's live tail of this shard (this one included).
			m.s.nc.Publish(fmt.Sprintf(tickSubjectFmt, shard), strconv.AppendUint(nil, last, 10))
		}
	}
}

func (m *MessageService) finish(batch []*pendingSend, err error) {
	m.mu.Lock()
	for _, p := range batch {
		if err != nil {
			p.err = err
		}
		if m.inflight[p.msgID] == p {
			delete(m.inflight, p.msgID)
		}
	}
	m.mu.Unlock()
	for _, p := range batch {
		close(p.done)
	}
}

// atomicMin is the smallest batch committed as a JetStream atomic batch. On a single node (R1, file
// storage) nats-server stages every atomic batch in a store of its own, created and removed on disk, which
// costs a fixed 4–7 ms on these machines (docs/benchmarks.md); a plain publish costs about 0.4 ms. So
// small batches are published message by message, pipelined, and only larger ones share one commit.
const atomicMin = 16

// commitAttempt bounds one attempt to commit a batch. A healthy commit takes milliseconds, even R3 across
// data centers; an attempt that gets no answer this long was most likely sent to a stream leader that
// died, and is sent again (to the newly elected one) under the same message ids, which makes it safe.
const commitAttempt = 2 * time.Second

// commit stores a batch, retrying what got no answer until the request timeout. After a stream leader
// is lost, JetStream elects a new one within about 4–9 s (docs/reliability.md); retrying here, with the
// same Nats-Msg-Id, lets a send ride out the election instead of failing and being retried by the client.
func (m *MessageService) commit(stream string, batch []*pendingSend) {
	ctx, cancel := context.WithTimeout(context.Background(), m.s.cfg.RequestTimeout)
	defer cancel()
	todo := batch
	for attempt := 0; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, commitAttempt)
		lost := m.s.quorum.lost()
		go func() {
			select {
			case <-lost: // the node lost its majority: stop waiting for an answer that may never come
				acancel()
			case <-actx.Done():
			}
		}()
		m.commitOnce(actx, stream, todo)
		acancel()
		select {
		case <-lost:
			// Outcome unknown, like a time-out, but the node knows why: say so now, and the client
			// retries the same client_id on a node that has a majority.
			for _, p := range todo {
				if p.err != nil || (p.seq == 0 && !p.dup) {
					p.err = &haetae.Error{Code: haetae.ENoQuorum, Op: "commit", Message: "this node lost its majority while committing; retry on another node", Err: p.err}
				}
			}
			return
		default:
		}
		var again []*pendingSend
		for _, p := range todo {
			if p.err != nil && transient(p.err) && ctx.Err() == nil {
				p.err, p.retried = nil, true
				again = append(again, p)
			}
		}
		if len(again) == 0 {
			return
		}
		todo = again
		if attempt == 0 {
			m.s.cfg.Logger.Warn("commit got no answer; retrying under the same message ids", "stream", stream, "messages", len(todo))
		}
		if err := sleepCtx(ctx, retryWait(attempt)); err != nil {
			for _, p := range todo {
				p.err = storeErr("commit", err)
			}
			return
		}
	}
}

// commitOnce makes one attempt at a batch: small ones as pipelined plain publishes, larger ones as one
// atomic batch. An atomic batch fails as a whole if any id in it was stored before (a retry of an
// acknowledged send); then each message is published on its own, where JetStream answers a repeat with
// the original's sequence.
func (m *MessageService) commitOnce(ctx context.Context, stream string, batch []*pendingSend) {
	if len(batch) >= atomicMin {
		err := m.commitAtomic(ctx, batch)
		if err == nil {
			return
		}
		if _, ok := err.(*apiError); !ok {
			for _, p := range batch {
				p.err = storeErr("commit batch", err)
			}
			return
		}
	}
	m.commitEach(ctx, stream, batch)
}

// commitEach publishes every message of the batch on its own, all in flight at once.
func (m *MessageService) commitEach(ctx context.Context, stream string, batch []*pendingSend) {
	futures := make([]jetstream.PubAckFuture, len(batch))
	for i, p := range batch {
		msg := nats.NewMsg(p.subject)
		msg.Data = p.data
		msg.Header.Set(jetstream.MsgIDHeader, p.msgID)
		f, err := m.s.js.PublishMsgAsync(msg, jetstream.WithExpectStream(stream))
		if err != nil {
			p.err = storeErr("publish message", err)
			continue
		}
		futures[i] = f
	}
	for i, p := range batch {
		f := futures[i]
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			p.seq, p.dup = ack.Sequence, ack.Duplicate
		case err := <-f.Err():
			p.err = storeErr("publish message", err)
		case <-ctx.Done():
			p.err = storeErr("publish message", ctx.Err())
		}
	}
}

func (m *MessageService) commitAtomic(ctx context.Context, batch []*pendingSend) error {
	msgs := make([]*nats.Msg, len(batch))
	for i, p := range batch {
		msgs[i] = nats.NewMsg(p.subject)
		msgs[i].Data = p.data
		msgs[i].Header.Set(jetstream.MsgIDHeader, p.msgID)
	}
	last, err := m.s.publishAtomic(ctx, msgs)
	if err != nil {
		return err
	}
	first := last - uint64(len(batch)) + 1
	for j, p := range batch {
		p.seq = first + uint64(j)
	}
	return nil
}

// History implements [haetae.MessageService].
func (m *MessageService) History(ctx context.Context, caller, room string, q haetae.HistoryQuery) ([]*haetae.Message, uint64, error) {
	rec, err := m.s.Rooms.member(ctx, caller, room)
	if err != nil {
		return nil, 0, err
	}
	lim := m.s.cfg.Limits
	if q.Limit == 0 {
		q.Limit = lim.HistoryDefault
	}
	if q.Limit < 1 || q.Limit > lim.HistoryMax {
		return nil, 0, haetae.Errorf(haetae.EInvalid, "limit is 1 to %d", lim.HistoryMax)
	}
	ctx, cancel := m.s.timeout(ctx)
	defer cancel()
	start, upTo := q.After+1, uint64(0)
	if q.Before > 0 {
		if q.Before <= start {
			return []*haetae.Message{}, q.Before, nil
		}
		upTo = q.Before - 1
		// Search no higher than the room's last message: "before the end" is often asked as a huge
		// cursor, and the binary search below costs a read per bit of its range.
		before := q.Before
		if last, _, err := m.s.Rooms.lastSeq(ctx, rec); err != nil {
			return nil, 0, err
		} else if before > last+1 {
			before = last + 1
		}
		if start, err = m.pageStart(ctx, rec, start, before, q.Limit); err != nil {
			return nil, 0, err
		}
	}
	msgs, err := m.read(ctx, rec, start, upTo, q.Limit)
	if err != nil {
		return nil, 0, err
	}
	next := q.After
	if q.Before > 0 {
		next = q.Before
		if len(msgs) > 0 {
			next = msgs[0].Seq
		}
	} else if len(msgs) > 0 {
		next = msgs[len(msgs)-1].Seq
	}
	return msgs, next, nil
}

// read returns up to limit messages of a room from seq start on (and up to upTo when it is not 0).
func (m *MessageService) read(ctx context.Context, rec *roomRecord, start, upTo uint64, limit int) ([]*haetae.Message, error) {
	out := make([]*haetae.Message, 0, limit)
	for len(out) < limit {
		raw, pending, err := directGetBatch(ctx, m.s.nc, roomStream(rec), directGetReq{Seq: start, NextFor: roomSubject(rec), Batch: limit - len(out), UpToSeq: upTo})
		if err != nil {
			return nil, storeErr("read messages", err)
		}
		for _, r := range raw {
			if upTo > 0 && r.Seq > upTo {
				return out, nil
			}
			msg, err := decodeMessage(r)
			if err != nil {
				return nil, storeErr("read messages", err)
			}
			out = append(out, msg)
			start = r.Seq + 1
		}
		if len(raw) == 0 || pending == 0 {
			break
		}
	}
	return out, nil
}

// nextFromLeader returns the room's first message with from <= seq <= upTo as the stream's leader has it,
// or nil when there is none. With one replica, the replica is the leader and the answer is nil: the
// caller asks only after a replica read found nothing. While no leader can answer (an election), it
// keeps asking, with backoff, for as long as ctx and the request timeout allow.
func (m *MessageService) nextFromLeader(ctx context.Context, rec *roomRecord, from, upTo uint64) (*haetae.Message, error) {
	if m.s.cfg.Replicas == 1 {
		return nil, nil
	}
	ctx, cancel := m.s.timeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		lm, err := m.s.leaderGet(ctx, roomStream(rec), directGetReq{Seq: from, NextFor: roomSubject(rec)})
		if err == nil {
			if lm == nil || lm.Seq > upTo {
				return nil, nil
			}
			return decodeMessage(*lm)
		}
		if !transient(err) || ctx.Err() != nil {
			return nil, storeErr("read from the leader", err)
		}
		if err := sleepCtx(ctx, retryWait(attempt)); err != nil {
			return nil, storeErr("read from the leader", err)
		}
	}
}

// countFrom counts a room's messages with seq >= from, as JetStream's filtered num-pending.
func (m *MessageService) countFrom(ctx context.Context, rec *roomRecord, from uint64) (uint64, error) {
	raw, _, err := directGetBatch(ctx, m.s.nc, roomStream(rec), directGetReq{Seq: from, NextFor: roomSubject(rec), Batch: 1})
	if err != nil {
		return 0, storeErr("count messages", err)
	}
	if len(raw) == 0 {
		return 0, nil
	}
	return 1 + raw[0].Pending, nil
}

// pageStart finds where a backward page of limit messages below before begins: the largest seq s >= lo
// with at least limit messages in [s, before). JetStream has no reverse read, so this is a binary search
// over counts, about 2·log2(stream length) direct gets.
func (m *MessageService) pageStart(ctx context.Context, rec *roomRecord, lo, before uint64, limit int) (uint64, error) {
	atBefore, err := m.countFrom(ctx, rec, before)
	if err != nil {
		return 0, err
	}
	total, err := m.countFrom(ctx, rec, lo)
	if err != nil {
		return 0, err
	}
	if total-atBefore <= uint64(limit) {
		return lo, nil
	}
	hi := before - 1
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		n, err := m.countFrom(ctx, rec, mid)
		if err != nil {
			return 0, err
		}
		if n-atBefore >= uint64(limit) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}
