package jsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// GiftService implements [haetae.GiftService] on the gifts bucket.
//
// Exactly once is JetStream's doing, not this process's: there is no lock anywhere. A redemption reads
// the gift from the bucket's stream leader, applies [haetae.DecideRedemption], and writes the redeemed
// gift together with the merchant's idempotency record as ONE atomic batch in which the gift carries
// Nats-Expected-Last-Subject-Sequence = the revision it read, and the idempotency record 0 (it must not
// exist). The stream leader checks both before it proposes the batch to the R3 group and refuses
// the whole batch if either fails, so of any number of concurrent attempts, from any node of any data
// center, exactly one commits; every other attempt reads the gift again and answers from what it finds
// (already_redeemed naming the winner, or, for the winner's own key, a replay of its answer). An attempt
// whose answer was lost (a time-out, a leader that died) is sent again the same way: it can commit at
// most once, and the read after it tells whether it did.
type GiftService struct {
	s *Store
	// loseAnswer, when set (tests only), is asked after every committed gift batch whether to
	// throw its acknowledgement away, as a leader that dies right after committing does.
	loseAnswer func() bool
}

// committed turns a gift batch's outcome into what the caller learns: a lost acknowledgement (in
// tests) comes back as a time-out, with the batch committed all the same.
func (gs *GiftService) committed(err error) error {
	if err == nil && gs.loseAnswer != nil && gs.loseAnswer() {
		return fmt.Errorf("acknowledgement lost: %w", context.DeadlineExceeded)
	}
	return err
}

var _ haetae.GiftService = (*GiftService)(nil)

// giftRecord is what the gifts bucket keeps of a gift.
type giftRecord struct {
	Code       string            `json:"code"`
	Product    string            `json:"product"`
	From       string            `json:"from"`
	To         string            `json:"to"`
	Room       string            `json:"room"`
	ClientID   string            `json:"client_id"`
	SentAt     time.Time         `json:"sent_at"`
	ExpiresAt  time.Time         `json:"expires_at"`
	Redemption *redemptionRecord `json:"redemption,omitempty"`
	rev        uint64
}

type redemptionRecord struct {
	ID       string    `json:"id"`
	Merchant string    `json:"merchant"`
	Key      string    `json:"key"`
	DC       string    `json:"dc"`
	Node     string    `json:"node"`
	At       time.Time `json:"at"`
}

// sendRecord is the idempotency record of a gift's send: what was asked, and the code it made.
type sendRecord struct {
	Code    string `json:"code"`
	To      string `json:"to"`
	Product string `json:"product"`
	Room    string `json:"room"` // as asked: "" for the default 1:1 room
}

// redeemRecord is the idempotency record of a redemption: the gift a merchant's key redeemed.
type redeemRecord struct {
	Code string    `json:"code"`
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
}

// Keys of the gifts bucket. Codes appear without their dashes; client ids and idempotency keys are
// [A-Za-z0-9_-], valid subject tokens as they are.
func compactCode(code string) string { return strings.ReplaceAll(code, "-", "") }
func giftKey(code string) string     { return "gift." + compactCode(code) }
func giftIndexKey(user, code string) string {
	return "u." + subjectToken(user) + "." + compactCode(code)
}
func sendKey(sender, clientID string) string {
	return "send." + subjectToken(sender) + "." + clientID
}
func redeemKey(merchant, key string) string { return "redeem." + subjectToken(merchant) + "." + key }
func giftSubject(key string) string         { return "$KV." + giftsBucket + "." + key }

func notFoundGift() error { return haetae.Errorf(haetae.ENotFound, "no such gift") }

func (gs *GiftService) lim() haetae.Limits { return gs.s.cfg.Limits }

// view is the gift as the API shows it at now.
func (g *giftRecord) view(now time.Time) *haetae.Gift {
	out := &haetae.Gift{Code: g.Code, Product: g.Product, From: g.From, To: g.To, Room: g.Room, SentAt: g.SentAt, ExpiresAt: g.ExpiresAt}
	if r := g.Redemption; r != nil {
		at := r.At
		out.RedeemedAt = &at
		out.Redemption = &haetae.Redemption{ID: r.ID, Merchant: r.Merchant, DC: r.DC, Node: r.Node, Key: r.Key}
	}
	out.Status = out.StatusAt(now)
	return out
}

// public strips what only the store may know (the winner's key) from a gift.
func public(g *haetae.Gift) *haetae.Gift {
	if g.Redemption != nil {
		r := *g.Redemption
		r.Key = ""
		g.Redemption = &r
	}
	return g
}

// SendGift implements [haetae.GiftService].
func (gs *GiftService) SendGift(ctx context.Context, caller string, req haetae.GiftRequest) (*haetae.Gift, bool, error) {
	lim := gs.lim()
	if err := lim.ValidClientID(req.ClientID); err != nil {
		return nil, false, err
	}
	if err := lim.ValidName(req.To); err != nil {
		return nil, false, haetae.Errorf(haetae.EInvalidName, "to: %s", haetae.ErrorMessage(err))
	}
	if req.To == caller {
		return nil, false, haetae.Errorf(haetae.EInvalid, "a gift goes to someone else")
	}
	if err := lim.ValidProduct(req.Product); err != nil {
		return nil, false, err
	}
	if req.Room != "" {
		if err := haetae.ValidRoomID(req.Room); err != nil {
			return nil, false, err
		}
	}
	ctx, cancel := gs.s.timeout(ctx)
	defer cancel()
	// A repeat is answered from its idempotency record, read from the leader: the first try may have
	// been committed through another node a moment ago.
	prev, err := gs.sendRecord(ctx, caller, req.ClientID)
	if err != nil {
		return nil, false, err
	}
	if prev != nil {
		return gs.repeatSend(ctx, caller, req, prev)
	}
	ok, err := gs.s.Users.userExists(ctx, req.To)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, haetae.Errorf(haetae.EUserNotFound, "no user is named %q", req.To)
	}
	var room *roomRecord
	if req.Room != "" {
		if room, err = gs.s.Rooms.member(ctx, caller, req.Room); err != nil {
			return nil, false, err
		}
		if !room.hasMember(req.To) {
			return nil, false, haetae.Errorf(haetae.EInvalid, "%s is not a member of room %s", req.To, req.Room)
		}
	} else if room, err = gs.s.Rooms.directRoom(ctx, caller, req.To); err != nil {
		return nil, false, err
	}
	now := gs.s.cfg.Now().UTC()
	rec := &giftRecord{Product: req.Product, From: caller, To: req.To, Room: room.ID, ClientID: req.ClientID, SentAt: now, ExpiresAt: now.Add(gs.s.cfg.GiftTTL)}
	asked := sendRecord{To: req.To, Product: req.Product, Room: req.Room}
	for attempt, collisions := 0, 0; ; attempt++ {
		if rec.Code == "" {
			if rec.Code, err = haetae.NewGiftCode(nil); err != nil {
				return nil, false, storeErr("gift code", err)
			}
		}
		err := gs.writeNewGift(ctx, rec, asked)
		if err == nil {
			break
		}
		if !wrongLastSequence(err) && !transient(err) && !batchRefused(err) {
			return nil, false, storeErr("send gift", err)
		}
		// Refused (the send record or the code exists) or unanswered (it may have committed): the send
		// record on the leader says which.
		prev, rerr := gs.sendRecord(ctx, caller, req.ClientID)
		if rerr != nil {
			return nil, false, rerr
		}
		if prev != nil && prev.Code == rec.Code {
			break // our own earlier try committed
		}
		if prev != nil {
			return gs.repeatSend(ctx, caller, req, prev) // a concurrent try with the same client_id won
		}
		if wrongLastSequence(err) && !inFlight(err) {
			// No send record, so the code was taken: 80 random bits make this all but impossible, and a
			// fresh code settles it.
			if collisions++; collisions > 3 {
				return nil, false, storeErr("send gift", fmt.Errorf("gift code collided %d times: %w", collisions, err))
			}
			rec.Code = ""
			continue
		}
		if err := sleepCtx(ctx, retryWait(attempt)); err != nil {
			return nil, false, storeErr("send gift", err)
		}
	}
	if err := gs.postGift(ctx, room, rec); err != nil {
		return nil, false, err
	}
	return public(rec.view(now)), true, nil
}

// writeNewGift writes a new gift, its send record and its index entries as one atomic batch. The gift
// and the send record must not exist yet (expected last subject sequence 0).
func (gs *GiftService) writeNewGift(ctx context.Context, rec *giftRecord, asked sendRecord) error {
	asked.Code = rec.Code
	sb, _ := json.Marshal(asked)
	gb, _ := json.Marshal(rec)
	msgs := []*nats.Msg{
		nats.NewMsg(giftSubject(giftIndexKey(rec.From, rec.Code))),
		nats.NewMsg(giftSubject(giftIndexKey(rec.To, rec.Code))),
		createOnly(giftSubject(sendKey(rec.From, rec.ClientID)), sb),
		createOnly(giftSubject(giftKey(rec.Code)), gb),
	}
	ctx, cancel := context.WithTimeout(ctx, commitAttempt)
	defer cancel()
	_, err := gs.s.publishAtomic(ctx, msgs)
	return gs.committed(err)
}

// batchRefused reports whether JetStream refused an atomic batch before storing any of it: too many
// batches in flight on the stream (10210), or a batch that arrived incomplete (10176), as when its first
// message went to a leader that stepped down before the commit reached its successor. Sending it again
// is safe, and may well succeed.
func batchRefused(err error) bool {
	e, ok := err.(*apiError)
	return ok && (e.errCode == 10176 || e.errCode == 10210)
}

// inFlight reports whether JetStream refused a write because another write to the same subject was still
// being committed (10164): the record may exist in a moment, so the refusal says nothing yet.
func inFlight(err error) bool {
	e, ok := err.(*apiError)
	return ok && e.errCode == 10164
}

// createOnly is a message that JetStream stores only if its subject has no message yet.
func createOnly(subject string, data []byte) *nats.Msg {
	return expectRev(subject, data, 0)
}

// expectRev is a message that JetStream stores only if the last message of its subject is rev.
func expectRev(subject string, data []byte, rev uint64) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	return m
}

// repeatSend answers a send whose client_id the sender used before: the gift it made, if the request
// is the same, else idempotency_conflict. Within the messages' dedupe window it posts the gift message
// again, which JetStream discards as a duplicate if the first try posted it, so a try that committed
// the gift but failed before its message still gets one.
func (gs *GiftService) repeatSend(ctx context.Context, caller string, req haetae.GiftRequest, prev *sendRecord) (*haetae.Gift, bool, error) {
	if prev.To != req.To || prev.Product != req.Product || prev.Room != req.Room {
		return nil, false, haetae.Errorf(haetae.EIdempotencyConflict, "client_id %q already sent another gift", req.ClientID)
	}
	rec, err := gs.load(ctx, prev.Code, true)
	if err != nil {
		return nil, false, err
	}
	if rec == nil {
		return nil, false, haetae.Errorf(haetae.ENotFound, "the gift sent with client_id %q is no longer kept", req.ClientID)
	}
	now := gs.s.cfg.Now().UTC()
	if now.Sub(rec.SentAt) < gs.s.cfg.DedupeWindow-time.Minute {
		room, err := gs.room(ctx, rec.Room)
		if err != nil {
			return nil, false, err
		}
		if room != nil {
			if err := gs.postGift(ctx, room, rec); err != nil {
				return nil, false, err
			}
		}
	}
	return public(rec.view(now)), false, nil
}

// room returns a gift's room, from the room cache when it is there: posting needs only its id and
// shard, which never change.
func (gs *GiftService) room(ctx context.Context, id string) (*roomRecord, error) {
	if rec := gs.s.Rooms.cache.get(id); rec != nil {
		return rec, nil
	}
	return gs.s.Rooms.load(ctx, id, false)
}

// postGift posts the gift message. Its client_id is derived from the code, so that every try posts the
// same message; the code itself is not in it (other members of a group room would see it).
func (gs *GiftService) postGift(ctx context.Context, room *roomRecord, rec *giftRecord) error {
	text := fmt.Sprintf("%s sent %s a gift: %s (redeemable until %s)", rec.From, rec.To, rec.Product, rec.ExpiresAt.Format("2006-01-02"))
	_, _, err := gs.s.Messages.post(ctx, room, rec.From, "gift-"+codeDigest(rec.Code), haetae.KindGift, text)
	return err
}

// codeDigest names a gift without revealing its code.
func codeDigest(code string) string {
	h := sha256.Sum256([]byte("gift\x00" + code))
	return hex.EncodeToString(h[:12])
}

// sendRecord reads the idempotency record of a send from the leader.
func (gs *GiftService) sendRecord(ctx context.Context, sender, clientID string) (*sendRecord, error) {
	m, err := gs.leaderRead(ctx, sendKey(sender, clientID))
	if err != nil || m == nil {
		return nil, err
	}
	var r sendRecord
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, storeErr("decode send record", err)
	}
	return &r, nil
}

// redeemRecord reads the idempotency record of a redemption from the leader.
func (gs *GiftService) redeemRecord(ctx context.Context, merchant, key string) (*redeemRecord, error) {
	m, err := gs.leaderRead(ctx, redeemKey(merchant, key))
	if err != nil || m == nil {
		return nil, err
	}
	var r redeemRecord
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, storeErr("decode redeem record", err)
	}
	return &r, nil
}

// leaderRead reads a key of the gifts bucket from its stream leader, which has applied every write it
// acknowledged; a replica may not have yet, and a decision on a stale revision would only lose its
// compare-and-set. While no leader answers (an election), it asks again until ctx ends. It returns nil
// for a key that does not exist.
func (gs *GiftService) leaderRead(ctx context.Context, key string) (*storedMsg, error) {
	if gs.s.cfg.Replicas == 1 {
		// The one replica is the leader: a direct get asks it without the JetStream API's queue.
		m, err := gs.s.kvGet(ctx, giftsBucket, key)
		if err != nil {
			return nil, storeErr("read a gift record", err)
		}
		return m, nil
	}
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, commitAttempt)
		m, err := gs.s.leaderGet(actx, "KV_"+giftsBucket, directGetReq{LastFor: giftSubject(key)})
		cancel()
		if err == nil {
			if m == nil || kvDeleted(*m) {
				return nil, nil
			}
			return m, nil
		}
		if !transient(err) || ctx.Err() != nil {
			return nil, storeErr("read from the leader", err)
		}
		if err := sleepCtx(ctx, retryWait(attempt)); err != nil {
			return nil, storeErr("read from the leader", err)
		}
	}
}

// load reads a gift: from the leader when fromLeader (and from a replica should no leader answer in a
// short while), else from a replica that asks the leader before calling it absent.
func (gs *GiftService) load(ctx context.Context, code string, fromLeader bool) (*giftRecord, error) {
	var m *storedMsg
	var err error
	if fromLeader {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err = gs.leaderRead(lctx, giftKey(code))
		cancel()
		if err != nil && ctx.Err() == nil {
			gs.s.cfg.Logger.Debug("leader read of a gift failed; reading a replica", "err", err)
			m, err = gs.s.kvGet(ctx, giftsBucket, giftKey(code))
		}
	} else {
		m, err = gs.s.kvGet(ctx, giftsBucket, giftKey(code))
	}
	if err != nil {
		return nil, storeErr("get gift", err)
	}
	return decodeGift(m)
}

func decodeGift(m *storedMsg) (*giftRecord, error) {
	if m == nil || kvDeleted(*m) {
		return nil, nil
	}
	var rec giftRecord
	if err := json.Unmarshal(m.Data, &rec); err != nil {
		return nil, storeErr("decode gift", err)
	}
	rec.rev = m.Seq
	return &rec, nil
}

// Gift implements [haetae.GiftService].
func (gs *GiftService) Gift(ctx context.Context, caller, code string) (*haetae.Gift, error) {
	code, err := haetae.ParseGiftCode(code)
	if err != nil {
		return nil, err
	}
	role, err := gs.s.Users.Role(ctx, caller)
	if err != nil {
		return nil, err
	}
	ctx, cancel := gs.s.timeout(ctx)
	defer cancel()
	rec, err := gs.load(ctx, code, true)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, notFoundGift()
	}
	g := rec.view(gs.s.cfg.Now())
	if !g.VisibleTo(caller, role) {
		return nil, notFoundGift() // as if there were no such gift
	}
	return public(g), nil
}

// giftIndexScanMax bounds how many index entries a listing reads: a user's gifts of the last GiftTTL +
// GiftRetention (they expire from the bucket), which this many covers for anyone but a bot.
const giftIndexScanMax = 100000

// Gifts implements [haetae.GiftService]. The caller's index entries are read by direct gets over their
// subjects, oldest first; the newest limit of them are shown, newest first.
func (gs *GiftService) Gifts(ctx context.Context, caller string, limit int) ([]*haetae.Gift, error) {
	lim := gs.lim()
	if limit == 0 {
		limit = lim.GiftsDefault
	}
	if limit < 1 || limit > lim.GiftsMax {
		return nil, haetae.Errorf(haetae.EInvalid, "limit is 1 to %d", lim.GiftsMax)
	}
	ctx, cancel := gs.s.timeout(ctx)
	defer cancel()
	prefix := giftSubject(giftIndexKey(caller, ""))
	var codes []string // the newest limit seen so far, oldest first
	var seq uint64 = 1
	for read := 0; read < giftIndexScanMax; {
		msgs, pending, err := directGetBatch(ctx, gs.s.nc, "KV_"+giftsBucket, directGetReq{Seq: seq, NextFor: prefix + "*", Batch: 256})
		if err != nil {
			return nil, storeErr("list gifts", err)
		}
		for _, m := range msgs {
			codes = append(codes, strings.TrimPrefix(m.Subject, prefix))
			seq = m.Seq + 1
		}
		if len(codes) > limit {
			codes = codes[len(codes)-limit:]
		}
		read += len(msgs)
		if len(msgs) == 0 || pending == 0 {
			break
		}
	}
	now := gs.s.cfg.Now()
	out := make([]*haetae.Gift, 0, len(codes))
	for i := len(codes) - 1; i >= 0; i-- {
		code, err := haetae.ParseGiftCode(codes[i])
		if err != nil {
			continue // not an index entry of ours
		}
		rec, err := gs.load(ctx, code, false)
		if err != nil {
			return nil, err
		}
		if rec == nil || (rec.From != caller && rec.To != caller) {
			continue
		}
		out = append(out, public(rec.view(now)))
	}
	return out, nil
}

// Redeem implements [haetae.GiftService].
func (gs *GiftService) Redeem(ctx context.Context, merchant, code, key string) (*haetae.Redeemed, error) {
	role, err := gs.s.Users.Role(ctx, merchant)
	if err != nil {
		return nil, err
	}
	if role != haetae.RoleMerchant {
		return nil, haetae.Errorf(haetae.EForbidden, "only merchants redeem gifts")
	}
	if key == "" {
		return nil, haetae.Errorf(haetae.EInvalid, "the Idempotency-Key header is required: send the same key with every try of one redemption")
	}
	if err := gs.lim().ValidClientID(key); err != nil {
		return nil, haetae.Errorf(haetae.EInvalidClientID, "Idempotency-Key is 1 to %d characters of A-Z, a-z, 0-9, '_', '-'", gs.lim().ClientIDMax)
	}
	if code, err = haetae.ParseGiftCode(code); err != nil {
		return nil, err
	}
	ctx, cancel := gs.s.timeout(ctx)
	defer cancel()
	mine := redemptionRecord{ID: newRoomID(), Merchant: merchant, Key: key, DC: gs.s.cfg.DC, Node: gs.s.cfg.NodeName}
	var refusedRev uint64 // the revision our last compare-and-set was refused on
	waited := 0           // re-reads since then that found the gift unchanged
	for attempt := 0; ; attempt++ {
		m, err := gs.leaderRead(ctx, giftKey(code))
		if err != nil {
			return nil, err
		}
		rec, err := decodeGift(m)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, notFoundGift()
		}
		now := gs.s.cfg.Now().UTC()
		action, err := haetae.DecideRedemption(rec.view(now), merchant, key, now)
		if err != nil {
			return nil, err
		}
		if action == haetae.RedeemReplay {
			gs.postRedeemed(ctx, rec, now)
			return rec.view(now).Redeemed(), nil
		}
		if rec.rev == refusedRev {
			// Refused, yet the gift is as it was: another redemption of it is still being committed
			// (JetStream refuses a write to a subject with one in flight), or this key has redeemed
			// another gift. The first shows once applied; wait for it rather than write again, and
			// only write again if it never shows (that other write failed).
			if waited == 0 {
				if ir, err := gs.redeemRecord(ctx, merchant, key); err != nil {
					return nil, err
				} else if ir != nil && ir.Code != code {
					return nil, haetae.Errorf(haetae.EIdempotencyConflict, "this Idempotency-Key already redeemed another gift")
				}
			}
			if waited++; waited < 8 {
				if err := backoffContended(ctx, attempt); err != nil {
					return nil, storeErr("redeem", err)
				}
				continue
			}
		}
		waited = 0
		next := *rec
		r := mine
		r.At = now
		next.Redemption = &r
		err = gs.writeRedemption(ctx, &next, rec.rev)
		if err == nil {
			gs.postRedeemed(ctx, &next, now)
			return next.view(now).Redeemed(), nil
		}
		switch {
		case wrongLastSequence(err):
			refusedRev = rec.rev
			if err := backoffContended(ctx, attempt); err != nil {
				return nil, storeErr("redeem", err)
			}
		case transient(err) || batchRefused(err):
			// Unanswered: it may have committed. The next read says whether it did (a replay).
			// Or refused before anything was stored: the next read finds the gift as it was.
			if attempt == 0 {
				gs.s.cfg.Logger.Warn("redemption got no answer; reading the gift again", "err", err)
			}
			if err := sleepCtx(ctx, retryWait(attempt)); err != nil {
				return nil, storeErr("redeem", err)
			}
		default:
			return nil, storeErr("redeem", err)
		}
	}
}

// writeRedemption writes the redeemed gift, if its revision is still prevRev, and the merchant's
// idempotency record, if the key has none yet, as one atomic batch: both or neither.
func (gs *GiftService) writeRedemption(ctx context.Context, next *giftRecord, prevRev uint64) error {
	r := next.Redemption
	ib, _ := json.Marshal(redeemRecord{Code: next.Code, ID: r.ID, At: r.At})
	gb, _ := json.Marshal(next)
	ctx, cancel := context.WithTimeout(ctx, commitAttempt)
	defer cancel()
	_, err := gs.s.publishAtomic(ctx, []*nats.Msg{
		createOnly(giftSubject(redeemKey(r.Merchant, r.Key)), ib),
		expectRev(giftSubject(giftKey(next.Code)), gb, prevRev),
	})
	return gs.committed(err)
}

// postRedeemed posts the system message of a redemption into the gift's room, within the messages'
// dedupe window of the redemption (a replay posts it again, deduplicated, in case the winning try
// failed before it). The merchant's answer does not wait on it beyond a short while, and a failure is
// only logged: the redemption has happened, and the merchant at the counter must learn that.
func (gs *GiftService) postRedeemed(ctx context.Context, rec *giftRecord, now time.Time) {
	r := rec.Redemption
	if r == nil || now.Sub(r.At) >= gs.s.cfg.DedupeWindow-time.Minute {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	room, err := gs.room(ctx, rec.Room)
	if err == nil && room != nil {
		where := r.DC
		if where == "" {
			where = r.Node
		}
		text := fmt.Sprintf("The gift %s from %s to %s was redeemed by %s at %s (%s).", rec.Product, rec.From, rec.To, r.Merchant, r.At.Format(time.RFC3339), where)
		_, _, err = gs.s.Messages.post(ctx, room, r.Merchant, "redeem-"+r.ID, haetae.KindSystem, text)
	}
	if err != nil {
		gs.s.cfg.Logger.Warn("could not post the redemption's system message; a replay of the key posts it", "room", rec.Room, "err", err)
	}
}
