package jsstore

import (
	"context"
	"crypto/sha256"
	"fmt"
)

// directRoomID derives the id of the 1:1 room of two users from the pair, in sorted order, so that
// every node finds (or makes) the same room for them without asking anyone.
func directRoomID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	h := sha256.Sum256([]byte("direct\x00" + a + "\x00" + b))
	return roomIDEncoding.EncodeToString(h[:10])
}

// directRoom returns the 1:1 room of from and to, making it if it does not exist yet. Two nodes making
// it at once both write it create-only: one write wins and the other reads the winner's room.
func (rs *RoomService) directRoom(ctx context.Context, from, to string) (*roomRecord, error) {
	id := directRoomID(from, to)
	if rec := rs.cache.get(id); rec != nil {
		return rec, nil
	}
	rec, err := rs.load(ctx, id, false)
	if err != nil || rec != nil {
		return rec, err
	}
	for _, m := range []string{from, to} {
		if err := rs.roomsLeft(ctx, m); err != nil {
			return nil, err
		}
	}
	rec = &roomRecord{ID: id, Members: []string{from, to}, Shard: shardOf(id, rs.s.cfg.Shards), CreatedBy: from, CreatedAt: rs.s.cfg.Now().UTC()}
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	rev, err := rs.writeRoom(ctx, rec, 0, rec.Members)
	if wrongLastSequence(err) {
		got, err := rs.load(ctx, id, true)
		if err != nil {
			return nil, err
		}
		if got == nil {
			return nil, storeErr("direct room", fmt.Errorf("room %s was refused as existing but is not there", id))
		}
		return got, nil
	}
	if err != nil {
		return nil, storeErr("create direct room", err)
	}
	rec.rev = rev
	rs.cache.put(rec)
	return rec, nil
}
