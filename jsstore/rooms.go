package jsstore

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// roomRecord is what the rooms bucket keeps of a room. Members only ever grow, which is what makes the
// room cache safe: a cached "is a member" is never wrong, and a "not a member" is re-read before it is
// believed.
type roomRecord struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Members   []string  `json:"members"`
	Shard     int       `json:"shard"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	rev       uint64
}

func (r *roomRecord) hasMember(name string) bool { return slices.Contains(r.Members, name) }

// RoomService implements [haetae.RoomService] on the rooms bucket.
type RoomService struct {
	s     *Store
	cache *roomCache
}

var _ haetae.RoomService = (*RoomService)(nil)

var roomIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newRoomID() string {
	b := make([]byte, 10)
	crand.Read(b)
	return roomIDEncoding.EncodeToString(b)
}

func shardOf(id string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(shards))
}

func roomKey(id string) string             { return "room." + id }
func memberKey(user, id string) string     { return "member." + subjectToken(user) + "." + id }
func readKey(user, id string) string       { return "read." + subjectToken(user) + "." + id }
func roomSubject(r *roomRecord) string     { return fmt.Sprintf(msgSubjectFmt, r.Shard, r.ID) }
func roomStream(r *roomRecord) string      { return fmt.Sprintf(msgStreamFmt, r.Shard) }
func notFoundRoom() error                  { return haetae.Errorf(haetae.ENotFound, "no such room") }
func (rs *RoomService) lim() haetae.Limits { return rs.s.cfg.Limits }

// idempotentRoomID derives a room's id from its creator and idempotency key, so that a repeat addresses
// the same record and the bucket's create-only write decides, on the stream leader, which try made it.
func idempotentRoomID(caller, key string) string {
	h := sha256.Sum256([]byte("room\x00" + caller + "\x00" + key))
	return roomIDEncoding.EncodeToString(h[:10])
}

// CreateRoom implements [haetae.RoomService].
func (rs *RoomService) CreateRoom(ctx context.Context, caller, key, title string, members []string) (*haetae.Room, bool, error) {
	if err := rs.lim().ValidTitle(title); err != nil {
		return nil, false, err
	}
	if key != "" {
		if err := rs.lim().ValidClientID(key); err != nil {
			return nil, false, haetae.Errorf(haetae.EInvalidClientID, "Idempotency-Key is 1 to %d characters of A-Z, a-z, 0-9, '_', '-'", rs.lim().ClientIDMax)
		}
	}
	all := []string{caller}
	for _, m := range members {
		if err := rs.lim().ValidName(m); err != nil {
			return nil, false, haetae.Errorf(haetae.EInvalidName, "member %q is not a valid name", truncate(m, 40))
		}
		if !slices.Contains(all, m) {
			all = append(all, m)
		}
		if len(all) > rs.lim().MembersMax {
			return nil, false, haetae.Errorf(haetae.ETooManyMembers, "a room has at most %d members", rs.lim().MembersMax)
		}
	}
	for _, m := range all[1:] {
		ok, err := rs.s.Users.userExists(ctx, m)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, haetae.Errorf(haetae.EUserNotFound, "no user is named %q", m)
		}
	}
	for _, m := range all {
		if err := rs.roomsLeft(ctx, m); err != nil {
			return nil, false, err
		}
	}
	rec := &roomRecord{ID: newRoomID(), Title: title, Members: all, CreatedBy: caller, CreatedAt: rs.s.cfg.Now().UTC()}
	if key != "" {
		rec.ID = idempotentRoomID(caller, key)
	}
	rec.Shard = shardOf(rec.ID, rs.s.cfg.Shards)
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	rev, err := rs.writeRoom(ctx, rec, 0, all)
	if wrongLastSequence(err) && key != "" {
		return rs.repeatCreate(ctx, caller, rec)
	}
	if err != nil {
		return nil, false, storeErr("create room", err)
	}
	rec.rev = rev
	rs.cache.put(rec)
	return rec.view(0, 0), true, nil
}

// writeRoom writes a room record and the member index entries of newMembers as one atomic batch, so a
// room and its index never disagree. The record is written only if its revision is still prevRev (0: the
// room must not exist yet); otherwise JetStream refuses the whole batch and wrongLastSequence(err) holds.
// It returns the record's new revision.
func (rs *RoomService) writeRoom(ctx context.Context, rec *roomRecord, prevRev uint64, newMembers []string) (uint64, error) {
	msgs := make([]*nats.Msg, 0, len(newMembers)+1)
	for _, m := range newMembers {
		msgs = append(msgs, nats.NewMsg("$KV."+roomsBucket+"."+memberKey(m, rec.ID)))
	}
	b, _ := json.Marshal(rec)
	room := nats.NewMsg("$KV." + roomsBucket + "." + roomKey(rec.ID))
	room.Data = b
	room.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(prevRev, 10))
	msgs = append(msgs, room)
	return rs.s.publishAtomic(ctx, msgs)
}

// repeatCreate answers a room creation whose idempotency key made a room before.
func (rs *RoomService) repeatCreate(ctx context.Context, caller string, want *roomRecord) (*haetae.Room, bool, error) {
	got, err := rs.load(ctx, want.ID, true)
	if err != nil {
		return nil, false, err
	}
	if got == nil || got.CreatedBy != caller {
		return nil, false, storeErr("repeat room creation", fmt.Errorf("room %s vanished", want.ID))
	}
	// Members may have been added since; the repeat must name the same title and the same first members.
	if got.Title != want.Title || len(got.Members) < len(want.Members) || !slices.Equal(got.Members[:len(want.Members)], want.Members) {
		return nil, false, haetae.Errorf(haetae.EIdempotencyConflict, "this Idempotency-Key already created another room")
	}
	r, err := rs.withCounts(ctx, caller, got)
	return r, false, err
}

func (r *roomRecord) view(last, unread uint64) *haetae.Room {
	return &haetae.Room{ID: r.ID, Title: r.Title, Members: slices.Clone(r.Members), LastSeq: last, Unread: unread}
}

// load reads a room from the bucket, bypassing the cache. A room that a replica does not have is looked
// for on the leader before it is called absent (see [Store.kvGet]); with fromLeader, the leader is asked
// first, for a read that must see every member added so far.
func (rs *RoomService) load(ctx context.Context, id string, fromLeader bool) (*roomRecord, error) {
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	var e *storedMsg
	var err error
	if fromLeader && rs.s.cfg.Replicas > 1 {
		e, err = rs.s.leaderGet(ctx, "KV_"+roomsBucket, directGetReq{LastFor: "$KV." + roomsBucket + "." + roomKey(id)})
		if err != nil {
			// No leader to ask now (an election): the replica's record is the best there is.
			rs.s.cfg.Logger.Debug("leader read of a room failed; reading a replica", "room", id, "err", err)
			e, err = rs.s.kvGet(ctx, roomsBucket, roomKey(id))
		}
	} else {
		e, err = rs.s.kvGet(ctx, roomsBucket, roomKey(id))
	}
	if err != nil {
		return nil, storeErr("get room", err)
	}
	if e == nil || kvDeleted(*e) {
		return nil, nil
	}
	var rec roomRecord
	if err := json.Unmarshal(e.Data, &rec); err != nil {
		return nil, storeErr("decode room", err)
	}
	rec.rev = e.Seq
	rs.cache.put(&rec)
	return &rec, nil
}

// member returns the room if caller is one of its members, else not_found. This is the one gate every
// room route passes through. A "not a member" is confirmed on the leader: a member added a moment ago
// through another node may not be on this node's replica yet.
func (rs *RoomService) member(ctx context.Context, caller, id string) (*roomRecord, error) {
	if err := haetae.ValidRoomID(id); err != nil {
		return nil, err
	}
	if rec := rs.cache.get(id); rec != nil && rec.hasMember(caller) {
		return rec, nil
	}
	rec, err := rs.load(ctx, id, false)
	if err != nil {
		return nil, err
	}
	if rec != nil && !rec.hasMember(caller) && rs.s.cfg.Replicas > 1 {
		if rec, err = rs.load(ctx, id, true); err != nil {
			return nil, err
		}
	}
	if rec == nil || !rec.hasMember(caller) {
		return nil, notFoundRoom()
	}
	return rec, nil
}

// AddMember implements [haetae.RoomService].
func (rs *RoomService) AddMember(ctx context.Context, caller, id, name string) (*haetae.Room, error) {
	if _, err := rs.member(ctx, caller, id); err != nil {
		return nil, err
	}
	if err := rs.lim().ValidName(name); err != nil {
		return nil, err
	}
	ok, err := rs.s.Users.userExists(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, haetae.Errorf(haetae.EUserNotFound, "no user is named %q", name)
	}
	if err := rs.roomsLeft(ctx, name); err != nil {
		return nil, err
	}
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		// The revision must be the latest for the compare-and-set to pass: read it from the leader.
		rec, err := rs.load(ctx, id, true)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, notFoundRoom()
		}
		if rec.hasMember(name) {
			return rs.withCounts(ctx, caller, rec)
		}
		if len(rec.Members) >= rs.lim().MembersMax {
			return nil, haetae.Errorf(haetae.ETooManyMembers, "a room has at most %d members", rs.lim().MembersMax)
		}
		next := *rec
		next.Members = append(slices.Clone(rec.Members), name)
		next.rev, err = rs.writeRoom(ctx, &next, rec.rev, []string{name})
		if err == nil {
			rs.cache.put(&next)
			return rs.withCounts(ctx, caller, &next)
		}
		if !wrongLastSequence(err) {
			return nil, storeErr("add member", err)
		}
		// Another writer changed the room first (stale revision): read it again and retry.
		if err := backoffContended(ctx, attempt); err != nil {
			return nil, storeErr("add member", err)
		}
	}
}

// roomsLeft refuses a user who is already in RoomsMax rooms. JetStream counts the user's member index
// entries (the pending count of a filtered direct get). Two creations racing may both pass at the limit,
// so it is a bound within a few rooms, not an exact one; what it prevents is growth without bound.
func (rs *RoomService) roomsLeft(ctx context.Context, user string) error {
	msgs, _, err := directGetBatch(ctx, rs.s.nc, "KV_"+roomsBucket, directGetReq{Seq: 1, NextFor: "$KV." + roomsBucket + "." + memberKey(user, "*"), Batch: 1})
	if err != nil {
		return storeErr("count rooms", err)
	}
	if len(msgs) == 1 && 1+msgs[0].Pending >= uint64(rs.lim().RoomsMax) {
		return haetae.Errorf(haetae.ETooManyRooms, "%s is in %d rooms, the most allowed", user, rs.lim().RoomsMax)
	}
	return nil
}

// Rooms implements [haetae.RoomService]. The member index is read by direct gets over its subjects, so
// listing needs no consumer. A user is in at most RoomsMax rooms, which bounds the work.
func (rs *RoomService) Rooms(ctx context.Context, caller string) ([]*haetae.Room, error) {
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	prefix := "$KV." + roomsBucket + "." + memberKey(caller, "")
	var ids []string
	var seq uint64 = 1
	for len(ids) < 2*rs.lim().RoomsMax { // the limit is soft under races; twice it is a hard stop
		msgs, pending, err := directGetBatch(ctx, rs.s.nc, "KV_"+roomsBucket, directGetReq{Seq: seq, NextFor: prefix + "*", Batch: 256})
		if err != nil {
			return nil, storeErr("list rooms", err)
		}
		for _, m := range msgs {
			ids = append(ids, strings.TrimPrefix(m.Subject, prefix))
			seq = m.Seq + 1
		}
		if len(msgs) == 0 || pending == 0 {
			break
		}
	}
	type entry struct {
		room *haetae.Room
		at   time.Time
	}
	var out []entry
	for _, id := range ids {
		rec, err := rs.member(ctx, caller, id)
		if haetae.ErrorCode(err) == haetae.ENotFound {
			continue // an index entry of a room whose creation did not finish
		}
		if err != nil {
			return nil, err
		}
		room, at, err := rs.counts(ctx, caller, rec)
		if err != nil {
			return nil, err
		}
		if at.IsZero() {
			at = rec.CreatedAt
		}
		out = append(out, entry{room, at})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.After(out[j].at) })
	rooms := make([]*haetae.Room, len(out))
	for i, e := range out {
		rooms[i] = e.room
	}
	return rooms, nil
}

func (rs *RoomService) withCounts(ctx context.Context, caller string, rec *roomRecord) (*haetae.Room, error) {
	r, _, err := rs.counts(ctx, caller, rec)
	return r, err
}

// counts fills in the caller's view of a room: the last seq (and its time) and how many messages follow
// the caller's read position, which JetStream counts for us (Nats-Num-Pending of a filtered direct get).
func (rs *RoomService) counts(ctx context.Context, caller string, rec *roomRecord) (*haetae.Room, time.Time, error) {
	last, at, err := rs.lastSeq(ctx, rec)
	if err != nil {
		return nil, time.Time{}, err
	}
	read, _, err := rs.readPos(ctx, caller, rec.ID, false)
	if err != nil {
		return nil, time.Time{}, err
	}
	var unread uint64
	if last > read {
		msgs, _, err := directGetBatch(ctx, rs.s.nc, roomStream(rec), directGetReq{Seq: read + 1, NextFor: roomSubject(rec), Batch: 1})
		if err != nil {
			return nil, time.Time{}, storeErr("count unread", err)
		}
		if len(msgs) == 1 {
			unread = 1 + msgs[0].Pending
		}
	}
	return rec.view(last, unread), at, nil
}

func (rs *RoomService) lastSeq(ctx context.Context, rec *roomRecord) (uint64, time.Time, error) {
	msgs, _, err := directGetBatch(ctx, rs.s.nc, roomStream(rec), directGetReq{LastFor: roomSubject(rec)})
	if err != nil {
		return 0, time.Time{}, storeErr("last seq", err)
	}
	if len(msgs) == 0 {
		return 0, time.Time{}, nil
	}
	return msgs[0].Seq, msgs[0].Time, nil
}

// readPos returns the caller's read position in a room and its revision (0, 0 when none). With
// fromLeader it is read from the bucket's leader, for a compare-and-set that lost to a stale revision.
func (rs *RoomService) readPos(ctx context.Context, caller, id string, fromLeader bool) (uint64, uint64, error) {
	var e *storedMsg
	var err error
	if fromLeader && rs.s.cfg.Replicas > 1 {
		e, err = rs.s.leaderGet(ctx, "KV_"+roomsBucket, directGetReq{LastFor: "$KV." + roomsBucket + "." + readKey(caller, id)})
	} else {
		e, err = rs.s.kvGet(ctx, roomsBucket, readKey(caller, id))
	}
	if err != nil {
		return 0, 0, storeErr("get read position", err)
	}
	if e == nil || kvDeleted(*e) {
		return 0, 0, nil
	}
	n, _ := strconv.ParseUint(string(e.Data), 10, 64)
	return n, e.Seq, nil
}

// MarkRead implements [haetae.RoomService].
func (rs *RoomService) MarkRead(ctx context.Context, caller, id string, seq uint64) error {
	rec, err := rs.member(ctx, caller, id)
	if err != nil {
		return err
	}
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		cur, rev, err := rs.readPos(ctx, caller, id, attempt > 0)
		if err != nil {
			return err
		}
		if cur >= seq {
			return nil // read positions never move back
		}
		val := []byte(strconv.FormatUint(seq, 10))
		if rev == 0 {
			_, err = rs.s.rooms.Create(ctx, readKey(caller, id), val)
		} else {
			_, err = rs.s.rooms.Update(ctx, readKey(caller, id), val, rev)
		}
		if err == nil {
			rs.s.Live.publishEvent(rec.ID, haetae.Event{Type: "read", Room: rec.ID, Name: caller, Seq: seq})
			return nil
		}
		if !lostKVRace(err) {
			return storeErr("mark read", err)
		}
		if err := backoffContended(ctx, attempt); err != nil {
			return storeErr("mark read", err)
		}
	}
}

// lostKVRace reports whether a KV create or update lost a compare-and-set race: the key exists, or its
// revision moved (10071), or another write of it is being committed (10164; seen on a replicated bucket
// when two devices of one user marked the same room read at once, as a surge makes them do).
func lostKVRace(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var ae *jetstream.APIError
	return errors.As(err, &ae) && (ae.ErrorCode == 10071 || ae.ErrorCode == 10164)
}

// backoffContended waits a little before retrying a write that lost a compare-and-set race, longer
// after each loss and with jitter, so that writers contending for one record spread out instead of
// colliding again. It gives up when ctx does; the caller's request timeout bounds the whole loop.
func backoffContended(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(1<<min(attempt, 6))) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// typing announces that caller is typing in a room; it is not stored.
func (rs *RoomService) typing(ctx context.Context, caller, id string) error {
	rec, err := rs.member(ctx, caller, id)
	if err != nil {
		return err
	}
	rs.s.Live.publishEvent(rec.ID, haetae.Event{Type: "typing", Room: rec.ID, Name: caller})
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// roomCache keeps room records by id, bounded in size.
type roomCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]*roomRecord
}

func newRoomCache(max int) *roomCache { return &roomCache{max: max, m: map[string]*roomRecord{}} }

func (c *roomCache) get(id string) *roomRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[id]
}

func (c *roomCache) put(r *roomRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[r.ID]; old != nil && old.rev > r.rev {
		return // never replace a newer record by an older read
	}
	if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			if len(c.m) < c.max*9/10 {
				break
			}
		}
	}
	c.m[r.ID] = r
}
