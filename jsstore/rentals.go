package jsstore

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The rentals bucket holds vehicles, their reports and rentals, so that a rental and the vehicle it
// holds are changed together in one atomic batch:
//
//	vehicle.<id>                  the vehicle: its token's hash, its active rental and its last one
//	vevent.<vehicle>.<client_id>  one report of the vehicle, created once (its client_id dedupes it forever)
//	rental.<id>                   the rental with the evidence its fare was computed from
//	rider.<rider>.<id>            index of a rider's rentals
const rentalsBucket = "haetae_rentals"

func vehicleKey(id string) string                { return "vehicle." + id }
func vehicleEventKey(vehicle, cid string) string { return "vevent." + vehicle + "." + cid }
func rentalKey(id string) string                 { return "rental." + id }
func riderKey(rider, id string) string           { return "rider." + subjectToken(rider) + "." + id }
func rentalSubject(key string) string            { return "$KV." + rentalsBucket + "." + key }

// RentalConfig sets how rentals are billed and swept.
type RentalConfig struct {
	// Fare is the fare rules new rentals are started with.
	Fare haetae.FareRules
	// ReviewAfter is how long an active rental may go without a report of its vehicle before it is
	// flagged for review.
	ReviewAfter time.Duration
	// CloseEvery is how often the closer sweeps the active rentals (0: never; tests drive Sweep).
	CloseEvery time.Duration
	// Downtime says when the platform could not take a vehicle back; billing excludes it. Required.
	Downtime haetae.DowntimeSource
}

// DefaultRentalConfig is the rental configuration of a node started without rental flags, less its
// Downtime, which the node wires.
func DefaultRentalConfig() RentalConfig {
	return RentalConfig{Fare: haetae.DefaultFareRules, ReviewAfter: 12 * time.Hour, CloseEvery: 15 * time.Second}
}

// Validate says what is wrong with a configuration, in the words of its flags.
func (c RentalConfig) Validate() error {
	if err := c.Fare.Validate(); err != nil {
		return err
	}
	if c.ReviewAfter < time.Minute {
		return fmt.Errorf("rental-review-after must be at least 1m, not %s", c.ReviewAfter)
	}
	if c.CloseEvery < 0 {
		return fmt.Errorf("rental-close-every must not be negative")
	}
	return nil
}

// vehicleRecord is what the bucket keeps of a vehicle. Rental is the rental it is in now; a vehicle is
// in at most one at a time, which the atomic batches that start and end rentals keep true.
type vehicleRecord struct {
	ID         string    `json:"id"`
	TokenHash  string    `json:"token_hash"`
	CreatedAt  time.Time `json:"created_at"`
	Rental     string    `json:"rental,omitempty"`
	LastRental string    `json:"last_rental,omitempty"`
	rev        uint64
}

// rentalRecord is a rental and the evidence of its ride. CreatedSeq is the stream sequence of its
// creation: reports of its vehicle stored before it cannot be of this ride.
type rentalRecord struct {
	haetae.Rental
	Ride       haetae.Ride `json:"ride"`
	CreatedSeq uint64      `json:"created_seq,omitempty"`
	rev        uint64
}

// createdSeq is the sequence the rental was created at: until the first update, its revision.
func (r *rentalRecord) createdSeq() uint64 {
	if r.CreatedSeq != 0 {
		return r.CreatedSeq
	}
	return r.rev
}

// view is the rental as its rider sees it.
func (r *rentalRecord) view() *haetae.Rental {
	v := r.Rental
	return &v
}

// RentalService implements [haetae.RentalService] on the rentals bucket. Every change is a
// compare-and-set on the bucket's stream leader (an expected last subject sequence read from the
// leader), so any number of nodes may serve the same vehicle and rental at once and each state change
// happens exactly once; no lock is held in any process.
type RentalService struct {
	s    *Store
	cfg  RentalConfig
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

var _ haetae.RentalService = (*RentalService)(nil)

// NewRentals returns the rental service of a store and starts its closer, which Close stops.
func NewRentals(s *Store, cfg RentalConfig) (*RentalService, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Downtime == nil {
		return nil, errors.New("rentals need a downtime source")
	}
	rs := &RentalService{s: s, cfg: cfg, quit: make(chan struct{}), done: make(chan struct{})}
	if cfg.CloseEvery > 0 {
		go rs.closer()
	} else {
		close(rs.done)
	}
	return rs, nil
}

// Close stops the closer.
func (rs *RentalService) Close() {
	rs.once.Do(func() { close(rs.quit) })
	<-rs.done
}

func (rs *RentalService) now() time.Time { return rs.s.cfg.Now() }

// rentalID derives a rental's id from its rider and client_id, so that a repeat addresses the same
// record and the create-only write decides, on the stream leader, which try started it.
func rentalID(rider, clientID string) string {
	h := sha256.Sum256([]byte("rental\x00" + rider + "\x00" + clientID))
	return roomIDEncoding.EncodeToString(h[:10])
}

// validRentalID checks the shape of a rental id before it goes into a subject; a malformed one is
// not_found, as no rental has it.
func validRentalID(id string) error {
	if haetae.ValidRoomID(id) != nil {
		return haetae.Errorf(haetae.ENotFound, "no such rental")
	}
	return nil
}

func notFoundRental() error { return haetae.Errorf(haetae.ENotFound, "no such rental") }

func vehicleTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// read reads a key of the rentals bucket: from the leader when fromLeader (a compare-and-set needs
// the latest revision; if no leader can be asked, the replica's answer is the best there is and the
// write will be refused if it is stale), else from a replica with the leader asked before "absent" is
// believed.
func (rs *RentalService) read(ctx context.Context, key string, fromLeader bool) (*storedMsg, error) {
	if fromLeader && rs.s.cfg.Replicas > 1 {
		m, err := rs.s.leaderGet(ctx, "KV_"+rentalsBucket, directGetReq{LastFor: rentalSubject(key)})
		if err == nil {
			if m == nil || kvDeleted(*m) {
				return nil, nil
			}
			return m, nil
		}
		rs.s.cfg.Logger.Debug("leader read failed; reading a replica", "key", key, "err", err)
	}
	return rs.s.kvGet(ctx, rentalsBucket, key)
}

func (rs *RentalService) vehicle(ctx context.Context, id string, fromLeader bool) (*vehicleRecord, error) {
	v, rev, err := readRecord[vehicleRecord](ctx, rs, vehicleKey(id), fromLeader)
	if v != nil {
		v.rev = rev
	}
	return v, err
}

func (rs *RentalService) rental(ctx context.Context, id string, fromLeader bool) (*rentalRecord, error) {
	r, rev, err := readRecord[rentalRecord](ctx, rs, rentalKey(id), fromLeader)
	if r != nil {
		r.rev = rev
	}
	return r, err
}

// readRecord reads and decodes one record of the rentals bucket and its revision; nil when absent.
func readRecord[T any](ctx context.Context, rs *RentalService, key string, fromLeader bool) (*T, uint64, error) {
	m, err := rs.read(ctx, key, fromLeader)
	if err != nil || m == nil {
		return nil, 0, storeErr("get "+key, err)
	}
	var v T
	if err := json.Unmarshal(m.Data, &v); err != nil {
		return nil, 0, storeErr("decode "+key, err)
	}
	return &v, m.Seq, nil
}

// reports returns the vehicle's reports stored from sequence from on, in the order they were stored.
// With fromLeader, in a cluster, it asks the leader, one report at a time: a fare must not be computed
// without a report that another node has just acknowledged.
func (rs *RentalService) reports(ctx context.Context, vehicle string, from uint64, fromLeader bool) ([]haetae.VehicleEvent, error) {
	subj := rentalSubject(vehicleEventKey(vehicle, "*"))
	var out []haetae.VehicleEvent
	add := func(m storedMsg) error {
		var ev haetae.VehicleEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return fmt.Errorf("decode report %s: %w", m.Subject, err)
		}
		out = append(out, ev)
		return nil
	}
	if !fromLeader || rs.s.cfg.Replicas == 1 {
		err := rs.s.scanSubject(ctx, "KV_"+rentalsBucket, subj, from, func(m storedMsg) (bool, error) {
			if err := add(m); err != nil {
				return false, err
			}
			return len(out) < maxReports, nil
		})
		if err != nil {
			return nil, storeErr("read reports", err)
		}
		return out, nil
	}
	for seq := max(from, 1); len(out) < maxReports; {
		m, err := rs.s.leaderGet(ctx, "KV_"+rentalsBucket, directGetReq{Seq: seq, NextFor: subj})
		if err != nil {
			return nil, storeErr("read reports", err)
		}
		if m == nil {
			break
		}
		if err := add(*m); err != nil {
			return nil, storeErr("read reports", err)
		}
		seq = m.Seq + 1
	}
	return out, nil
}

// maxReports bounds the reports read for one ride: a ride with so many is a broken vehicle, and the
// first ones decide.
const maxReports = 10000

// CreateVehicle implements [haetae.RentalService].
func (rs *RentalService) CreateVehicle(ctx context.Context, id string) (*haetae.VehicleCredential, error) {
	if err := haetae.ValidVehicleID(id); err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	crand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	b, _ := json.Marshal(vehicleRecord{ID: id, TokenHash: vehicleTokenHash(token), CreatedAt: rs.now().UTC()})
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	if _, err := rs.s.rentals.Create(ctx, vehicleKey(id), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, haetae.Errorf(haetae.EConflict, "vehicle %s is registered already", id)
		}
		return nil, storeErr("create vehicle", err)
	}
	return &haetae.VehicleCredential{ID: id, Token: token}, nil
}

// authVehicle returns the vehicle whose token this is. A vehicle id is printed on the vehicle, so
// telling an unknown vehicle from a wrong token reveals nothing.
func (rs *RentalService) authVehicle(ctx context.Context, id, token string) (*vehicleRecord, error) {
	if haetae.ValidVehicleID(id) != nil {
		return nil, haetae.Errorf(haetae.EVehicleNotFound, "no such vehicle")
	}
	if token == "" || len(token) > 256 {
		return nil, haetae.Errorf(haetae.EUnauthorized, "the vehicle's token is required")
	}
	v, err := rs.vehicle(ctx, id, false)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, haetae.Errorf(haetae.EVehicleNotFound, "no such vehicle")
	}
	if subtle.ConstantTimeCompare([]byte(vehicleTokenHash(token)), []byte(v.TokenHash)) != 1 {
		return nil, haetae.Errorf(haetae.EUnauthorized, "this is not the vehicle's token")
	}
	return v, nil
}

// ReportVehicleEvent implements [haetae.RentalService]. The report is kept first, then the ride it
// ends is ended; if that second step fails (the node dies, the leader moves), the closer ends it later
// from the kept report.
func (rs *RentalService) ReportVehicleEvent(ctx context.Context, token string, ev haetae.VehicleEvent) (*haetae.VehicleEvent, bool, error) {
	if _, err := rs.authVehicle(ctx, ev.Vehicle, token); err != nil {
		return nil, false, err
	}
	if err := rs.s.cfg.Limits.ValidVehicleEvent(ev); err != nil {
		return nil, false, err
	}
	ev.At = ev.At.UTC()
	ev.ReceivedAt = rs.now().UTC()
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	b, _ := json.Marshal(ev)
	kept, created := &ev, true
	for attempt := 0; ; attempt++ {
		_, err := rs.s.rentals.Create(ctx, vehicleEventKey(ev.Vehicle, ev.ClientID), b)
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			if transient(err) && ctx.Err() == nil {
				// The create may have landed; the next try finds out.
				if err := sleepCtx(ctx, retryWait(attempt)); err == nil {
					continue
				}
			}
			return nil, false, storeErr("keep vehicle report", err)
		}
		orig, err := rs.read(ctx, vehicleEventKey(ev.Vehicle, ev.ClientID), true)
		if err != nil {
			return nil, false, err
		}
		if orig == nil {
			return nil, false, storeErr("repeat vehicle report", fmt.Errorf("report %s/%s vanished", ev.Vehicle, ev.ClientID))
		}
		var o haetae.VehicleEvent
		if err := json.Unmarshal(orig.Data, &o); err != nil {
			return nil, false, storeErr("decode vehicle report", err)
		}
		if o.Type != ev.Type || !o.At.Equal(ev.At) {
			return nil, false, haetae.Errorf(haetae.EIdempotencyConflict, "this client_id was used for another report of this vehicle")
		}
		kept, created = &o, false
		break
	}
	// Settle even on a repeat: the first delivery may have been kept without ending its ride.
	if err := rs.settle(ctx, ev.Vehicle); err != nil {
		rs.s.cfg.Logger.Warn("vehicle report kept; ending its ride is left to the closer", "vehicle", ev.Vehicle, "err", err)
	}
	if kept.Type == haetae.VehicleLocked {
		if err := rs.checkLate(ctx, *kept); err != nil {
			rs.s.cfg.Logger.Warn("could not check a late vehicle report against its ride", "vehicle", ev.Vehicle, "err", err)
		}
	}
	return kept, created, nil
}

// StartRental implements [haetae.RentalService].
func (rs *RentalService) StartRental(ctx context.Context, rider, clientID, vehicle string) (*haetae.Rental, bool, error) {
	if err := rs.s.cfg.Limits.ValidClientID(clientID); err != nil {
		return nil, false, err
	}
	if haetae.ValidVehicleID(vehicle) != nil {
		return nil, false, haetae.Errorf(haetae.EVehicleNotFound, "no such vehicle")
	}
	id := rentalID(rider, clientID)
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		rec, err := rs.rental(ctx, id, true)
		if err != nil {
			return nil, false, err
		}
		if rec != nil {
			if rec.Rider != rider || rec.Vehicle != vehicle {
				return nil, false, haetae.Errorf(haetae.EIdempotencyConflict, "this client_id started a ride of another vehicle")
			}
			return rec.view(), false, nil
		}
		veh, err := rs.vehicle(ctx, vehicle, true)
		if err != nil {
			return nil, false, err
		}
		if veh == nil {
			return nil, false, haetae.Errorf(haetae.EVehicleNotFound, "no such vehicle")
		}
		if veh.Rental != "" {
			return nil, false, haetae.Errorf(haetae.EVehicleInUse, "vehicle %s is in another ride", vehicle)
		}
		now := rs.now().UTC()
		rec = &rentalRecord{
			Rental: haetae.Rental{ID: id, Vehicle: vehicle, Rider: rider, Status: haetae.RentalActive, ClientID: clientID, StartedAt: now},
			Ride:   haetae.Ride{StartedAt: now, Rules: rs.cfg.Fare},
		}
		next := *veh
		next.Rental = id
		err = rs.write(ctx, []kvWrite{
			{key: riderKey(rider, id), value: []byte(id), anyRev: true},
			{key: vehicleKey(vehicle), value: mustJSON(next), rev: veh.rev},
			{key: rentalKey(id), value: mustJSON(rec), rev: 0},
		})
		if err == nil {
			return rec.view(), true, nil
		}
		if err := rs.retryable(ctx, "start rental", err, attempt); err != nil {
			return nil, false, err
		}
	}
}

// Rental implements [haetae.RentalService]. It asks the leader where it can, so that a rider sees a
// return or a start just made through another node.
func (rs *RentalService) Rental(ctx context.Context, rider, id string) (*haetae.Rental, error) {
	if err := validRentalID(id); err != nil {
		return nil, err
	}
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	rec, err := rs.rental(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Rider != rider {
		return nil, notFoundRental()
	}
	return rec.view(), nil
}

// Rentals implements [haetae.RentalService]: the rider's index is read in the order the rentals were
// started, and the last limit are returned, newest first.
func (rs *RentalService) Rentals(ctx context.Context, rider string, limit int) ([]*haetae.Rental, error) {
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	prefix := rentalSubject(riderKey(rider, ""))
	var ids []string
	err := rs.s.scanSubject(ctx, "KV_"+rentalsBucket, prefix+"*", 1, func(m storedMsg) (bool, error) {
		ids = append(ids, strings.TrimPrefix(m.Subject, prefix))
		return true, nil
	})
	if err != nil {
		return nil, storeErr("list rentals", err)
	}
	out := []*haetae.Rental{}
	for i := len(ids) - 1; i >= 0 && len(out) < limit; i-- {
		rec, err := rs.rental(ctx, ids[i], false)
		if err != nil {
			return nil, err
		}
		if rec != nil && rec.Rider == rider {
			out = append(out, rec.view())
		}
	}
	return out, nil
}

// ReturnRental implements [haetae.RentalService].
func (rs *RentalService) ReturnRental(ctx context.Context, rider, id, clientID string, lockedAt *time.Time) (*haetae.Rental, error) {
	if err := validRentalID(id); err != nil {
		return nil, err
	}
	if err := rs.s.cfg.Limits.ValidClientID(clientID); err != nil {
		return nil, err
	}
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		rec, err := rs.rental(ctx, id, true)
		if err != nil {
			return nil, err
		}
		if rec == nil || rec.Rider != rider {
			return nil, notFoundRental()
		}
		if r := rec.Ride.Return; r != nil && r.ClientID == clientID {
			if !sameTime(r.LockedAt, lockedAt) {
				return nil, haetae.Errorf(haetae.EIdempotencyConflict, "this client_id returned the rental with another locked_at")
			}
			return rec.view(), nil
		}
		if rec.Status != haetae.RentalActive {
			return rec.view(), nil // the ride has ended already (the vehicle reported its lock)
		}
		now := rs.now().UTC()
		ret := &haetae.RiderReturn{ClientID: clientID, At: now}
		if lockedAt != nil {
			l := lockedAt.UTC()
			if l.Before(rec.StartedAt.Truncate(time.Second)) || l.After(now.Add(rec.Ride.Rules.LockSkew)) {
				return nil, haetae.Errorf(haetae.EInvalid, "locked_at lies outside the ride: it started at %s and it is %s now", rec.StartedAt.Format(time.RFC3339), now.Format(time.RFC3339))
			}
			if l.After(now) {
				l = now // the rider's clock is a little ahead
			}
			ret.LockedAt = &l
		}
		veh, err := rs.vehicle(ctx, rec.Vehicle, true)
		if err != nil {
			return nil, err
		}
		ride := rec.Ride
		ride.Return = ret
		if ride.Events, err = rs.reports(ctx, rec.Vehicle, rec.createdSeq(), true); err != nil {
			return nil, err
		}
		closed, err := rs.close(ctx, veh, rec, ride)
		if err == nil {
			return closed.view(), nil
		}
		if err := rs.retryable(ctx, "return rental", err, attempt); err != nil {
			return nil, err
		}
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// close ends rec's ride with the evidence in ride: it reads the downtime of the ride, computes the fare
// once, and writes the rental and its vehicle together, each only if unchanged since read.
func (rs *RentalService) close(ctx context.Context, veh *vehicleRecord, rec *rentalRecord, ride haetae.Ride) (*rentalRecord, error) {
	end, _, ok := haetae.RideEnd(ride)
	if !ok {
		return nil, fmt.Errorf("close rental %s: the ride has not ended", rec.ID)
	}
	down, err := rs.cfg.Downtime.Downtime(ctx, haetae.ComponentRentals, ride.StartedAt, end)
	if err != nil {
		return nil, &haetae.Error{Code: haetae.EUnavailable, Op: "read downtime", Message: "the platform's downtime cannot be read now, so no fare can be computed; retry", Err: err}
	}
	ride.Downtime = haetae.ClipIntervals(down, ride.StartedAt, end)
	bill, _ := haetae.ComputeBill(ride)
	next := *rec
	next.Ride = ride
	next.CreatedSeq = rec.createdSeq()
	next.Status = haetae.RentalReturned
	endedAt := bill.EndedAt.UTC()
	next.EndedAt = &endedAt
	next.EndedBy = bill.EndedBy
	next.BilledSeconds = &bill.BilledSeconds
	next.ExcludedSeconds = &bill.ExcludedSeconds
	next.FareWon = &bill.FareWon
	writes := []kvWrite{{key: rentalKey(rec.ID), value: mustJSON(&next), rev: rec.rev}}
	if veh != nil && veh.Rental == rec.ID {
		v := *veh
		v.Rental, v.LastRental = "", rec.ID
		writes = append([]kvWrite{{key: vehicleKey(v.ID), value: mustJSON(v), rev: veh.rev}}, writes...)
	}
	if err := rs.write(ctx, writes); err != nil {
		return nil, err
	}
	return &next, nil
}

// settle ends the active ride of a vehicle whose reports prove a lock, or flags it for review when
// its vehicle has been silent too long. Any node may run it at any time, any number of times at
// once: every change is a compare-and-set, and a loser reads again and finds the work done.
func (rs *RentalService) settle(ctx context.Context, vehicle string) error {
	for attempt := 0; ; attempt++ {
		veh, err := rs.vehicle(ctx, vehicle, true)
		if err != nil || veh == nil || veh.Rental == "" {
			return err
		}
		rec, err := rs.rental(ctx, veh.Rental, true)
		if err != nil {
			return err
		}
		if rec == nil || rec.Status != haetae.RentalActive {
			return fmt.Errorf("vehicle %s holds rental %s, which is not active", vehicle, veh.Rental)
		}
		ride := rec.Ride
		if ride.Events, err = rs.reports(ctx, vehicle, rec.createdSeq(), true); err != nil {
			return err
		}
		if _, _, ended := haetae.RideEnd(ride); ended {
			_, err = rs.close(ctx, veh, rec, ride)
		} else if rec.Review == nil && rs.silent(rec, ride.Events) {
			err = rs.flag(ctx, rec, haetae.Review{Reason: haetae.ReviewNoVehicleReport, At: rs.now().UTC(),
				Text: fmt.Sprintf("no report from vehicle %s for %s; nothing is billed until a person has looked", vehicle, rs.cfg.ReviewAfter)})
		}
		if err == nil {
			return nil
		}
		if err := rs.retryable(ctx, "settle rental", err, attempt); err != nil {
			return err
		}
	}
}

// silent reports whether the vehicle has not reported for ReviewAfter since the ride started or its
// last report arrived.
func (rs *RentalService) silent(rec *rentalRecord, events []haetae.VehicleEvent) bool {
	last := rec.StartedAt
	for _, ev := range events {
		if ev.ReceivedAt.After(last) {
			last = ev.ReceivedAt
		}
	}
	return rs.now().Sub(last) >= rs.cfg.ReviewAfter
}

// checkLate compares a lock report with the ride it belongs to when that ride has ended already
// without it: a report that arrived after the fare was computed and disagrees with the end the fare
// used flags the rental for review. The fare itself is never computed again.
func (rs *RentalService) checkLate(ctx context.Context, ev haetae.VehicleEvent) error {
	for attempt := 0; ; attempt++ {
		veh, err := rs.vehicle(ctx, ev.Vehicle, true)
		if err != nil || veh == nil || veh.LastRental == "" {
			return err
		}
		if veh.Rental != "" {
			cur, err := rs.rental(ctx, veh.Rental, true)
			if err != nil {
				return err
			}
			if cur != nil && !ev.At.Before(cur.StartedAt) {
				return nil // the report is of the ride under way
			}
		}
		rec, err := rs.rental(ctx, veh.LastRental, true)
		if err != nil || rec == nil || rec.Status != haetae.RentalReturned || rec.Review != nil || rec.EndedAt == nil {
			return err
		}
		if !haetae.AcceptedLock(ev, rec.StartedAt, rec.Ride.Rules.LockSkew) {
			return nil
		}
		for _, seen := range rec.Ride.Events {
			if seen.ClientID == ev.ClientID {
				return nil // the fare saw it
			}
		}
		end, tol := *rec.EndedAt, rec.Ride.Rules.LockTolerance
		claimed := rec.EndedBy == haetae.EndedByLockedAt && (ev.At.Sub(end) > tol || end.Sub(ev.At) > tol)
		earlier := end.Sub(ev.At) > tol
		if !claimed && !earlier {
			return nil
		}
		err = rs.flag(ctx, rec, haetae.Review{Reason: haetae.ReviewLateVehicleReport, At: rs.now().UTC(),
			Text: fmt.Sprintf("the vehicle reported its lock at %s after the fare was computed with the ride ending at %s",
				ev.At.Format(time.RFC3339), end.Format(time.RFC3339))})
		if err == nil {
			return nil
		}
		if err := rs.retryable(ctx, "flag rental", err, attempt); err != nil {
			return err
		}
	}
}

// flag sets a rental's review, if its revision is still rec's.
func (rs *RentalService) flag(ctx context.Context, rec *rentalRecord, rv haetae.Review) error {
	next := *rec
	next.CreatedSeq = rec.createdSeq()
	next.Review = &rv
	return rs.write(ctx, []kvWrite{{key: rentalKey(rec.ID), value: mustJSON(&next), rev: rec.rev}})
}

// retryable decides what to do after a failed compare-and-set write: when another writer came first
// or the outcome is unknown (a time-out, an election), wait a little and let the caller read again;
// anything else is the caller's error.
func (rs *RentalService) retryable(ctx context.Context, op string, err error, attempt int) error {
	var he *haetae.Error
	if errors.As(err, &he) {
		return err
	}
	if !wrongLastSequence(err) && !transient(err) {
		return storeErr(op, err)
	}
	if wrongLastSequence(err) {
		err = backoffContended(ctx, attempt)
	} else {
		err = sleepCtx(ctx, retryWait(attempt))
	}
	if err != nil {
		return storeErr(op, err)
	}
	return nil
}

// kvWrite is one key of an atomic batch on the rentals bucket: written only if its revision is still
// rev (0: it must not exist), unless anyRev.
type kvWrite struct {
	key    string
	value  []byte
	rev    uint64
	anyRev bool
}

// write commits writes to the rentals bucket as one atomic batch: all of them or none.
func (rs *RentalService) write(ctx context.Context, writes []kvWrite) error {
	msgs := make([]*nats.Msg, len(writes))
	for i, w := range writes {
		m := nats.NewMsg(rentalSubject(w.key))
		m.Data = w.value
		if !w.anyRev {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(w.rev, 10))
		}
		msgs[i] = m
	}
	_, err := rs.s.publishAtomic(ctx, msgs)
	return err
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("jsstore: encode record: " + err.Error()) // only our own records are encoded
	}
	return b
}

// Evidence returns a rental as stored and the evidence its fare was computed from, with every report
// in it read again from the bucket, so that [haetae.ComputeBill] can check the fare against the
// vehicle's own record. It is for audits and tests; riders see [RentalService.Rental].
func (rs *RentalService) Evidence(ctx context.Context, id string) (*haetae.Rental, haetae.Ride, error) {
	ctx, cancel := rs.s.timeout(ctx)
	defer cancel()
	rec, err := rs.rental(ctx, id, true)
	if err != nil {
		return nil, haetae.Ride{}, err
	}
	if rec == nil {
		return nil, haetae.Ride{}, notFoundRental()
	}
	ride := rec.Ride
	ride.Events = make([]haetae.VehicleEvent, len(rec.Ride.Events))
	for i, ev := range rec.Ride.Events {
		m, err := rs.read(ctx, vehicleEventKey(ev.Vehicle, ev.ClientID), true)
		if err != nil {
			return nil, haetae.Ride{}, err
		}
		if m == nil {
			return nil, haetae.Ride{}, storeErr("evidence", fmt.Errorf("report %s/%s of rental %s is not in the bucket", ev.Vehicle, ev.ClientID, id))
		}
		if err := json.Unmarshal(m.Data, &ride.Events[i]); err != nil {
			return nil, haetae.Ride{}, storeErr("evidence", err)
		}
	}
	return rec.view(), ride, nil
}
