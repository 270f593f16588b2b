package haetae

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Rental statuses. A rental is active from its start until its ride ends, then returned for good.
const (
	RentalActive   = "active"
	RentalReturned = "returned"
)

// Vehicle event types: the vehicle's own report of its lock.
const (
	VehicleLocked   = "locked"
	VehicleUnlocked = "unlocked"
)

// What ended a ride (Rental.EndedBy).
const (
	// EndedByVehicle: the vehicle's report that it was locked.
	EndedByVehicle = "vehicle"
	// EndedByReturn: the rider's return, at the moment the platform accepted it.
	EndedByReturn = "return"
	// EndedByLockedAt: the rider's return, at the lock time it named.
	EndedByLockedAt = "return_locked_at"
)

// Review reasons: why a rental waits for a person before it is charged.
const (
	// ReviewNoVehicleReport: the rental is active and its vehicle has reported nothing for a long
	// time. Nothing is billed until a person looks at it or the ride ends.
	ReviewNoVehicleReport = "no_vehicle_report"
	// ReviewLateVehicleReport: the vehicle's lock report arrived after the fare was computed and
	// disagrees with the end the fare used. The fare stays as computed; a person settles the
	// difference.
	ReviewLateVehicleReport = "late_vehicle_report"
)

// Rental is one ride of one vehicle by one rider. BilledSeconds, ExcludedSeconds and FareWon are set
// once the ride has ended, and never change after.
type Rental struct {
	ID              string     `json:"id"`
	Vehicle         string     `json:"vehicle"`
	Rider           string     `json:"rider"`
	Status          string     `json:"status"`
	ClientID        string     `json:"client_id"`
	StartedAt       time.Time  `json:"started_at"`
	EndedAt         *time.Time `json:"ended_at,omitempty"`
	EndedBy         string     `json:"ended_by,omitempty"`
	BilledSeconds   *int64     `json:"billed_seconds,omitempty"`
	ExcludedSeconds *int64     `json:"excluded_seconds,omitempty"`
	FareWon         *int64     `json:"fare_won,omitempty"`
	// Review, when set, holds the rental for a person: it is not charged automatically.
	Review *Review `json:"review,omitempty"`
}

// Review says why a rental waits for a person.
type Review struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Text   string    `json:"text"`
}

// VehicleCredential is a registered vehicle and its token, which is shown only once.
type VehicleCredential struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// VehicleEvent is a vehicle's own report: At is the vehicle's clock, ReceivedAt the platform's when
// the report first arrived. A vehicle keeps a report and sends it again until it is acknowledged, so
// it may arrive long after At; ClientID makes the repeats one report.
type VehicleEvent struct {
	Vehicle    string    `json:"vehicle"`
	ClientID   string    `json:"client_id"`
	Type       string    `json:"type"`
	At         time.Time `json:"at"`
	ReceivedAt time.Time `json:"received_at"`
}

// RiderReturn is a rider's accepted request to end a ride. At is when the platform accepted it;
// LockedAt, when given, is when the rider says the vehicle was locked.
type RiderReturn struct {
	ClientID string     `json:"client_id"`
	At       time.Time  `json:"at"`
	LockedAt *time.Time `json:"locked_at,omitempty"`
}

// RentalService keeps vehicles, their reports and rentals. A rental of another rider is reported as
// not_found, so its existence is not revealed.
type RentalService interface {
	// CreateVehicle registers a vehicle and returns its token. Errors: invalid (the id's shape),
	// conflict (the id is registered), unavailable.
	CreateVehicle(ctx context.Context, id string) (*VehicleCredential, error)
	// ReportVehicleEvent keeps a vehicle's report (ev.ReceivedAt is ignored) and ends the ride it
	// ends. created is false for a repeat of a kept report, which returns the original. Errors:
	// vehicle_not_found, unauthorized (the token is not the vehicle's), invalid, invalid_client_id,
	// idempotency_conflict (the client_id names another report), unavailable.
	ReportVehicleEvent(ctx context.Context, token string, ev VehicleEvent) (kept *VehicleEvent, created bool, err error)
	// StartRental starts a ride of vehicle for rider. A repeat with the same client_id returns the
	// rental it started (created false). Errors: invalid_client_id, vehicle_not_found,
	// vehicle_in_use, idempotency_conflict (the client_id started a ride of another vehicle),
	// unavailable.
	StartRental(ctx context.Context, rider, clientID, vehicle string) (r *Rental, created bool, err error)
	// Rental returns one of the rider's rentals. Errors: not_found.
	Rental(ctx context.Context, rider, id string) (*Rental, error)
	// Rentals returns the rider's rentals, newest first, at most limit. Errors: unavailable.
	Rentals(ctx context.Context, rider string, limit int) ([]*Rental, error)
	// ReturnRental ends the rider's ride and returns the rental with its fare. A ride that has
	// already ended is returned as it is. Errors: not_found, invalid (locked_at outside the ride),
	// invalid_client_id, idempotency_conflict (the client_id returned it with another locked_at),
	// unavailable.
	ReturnRental(ctx context.Context, rider, id, clientID string, lockedAt *time.Time) (*Rental, error)
}

// Error codes of rentals.
const (
	EVehicleNotFound = "vehicle_not_found" // 404
	EVehicleInUse    = "vehicle_in_use"    // 409
)

// ValidVehicleID checks a vehicle id: 1–32 characters of [A-Za-z0-9_-], so it can be a JetStream
// subject token. Ids are printed on the vehicles; they are not secret.
func ValidVehicleID(id string) error {
	if len(id) < 1 || len(id) > 32 {
		return Errorf(EInvalid, "a vehicle id is 1 to 32 characters of A-Z, a-z, 0-9, '_', '-'")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return Errorf(EInvalid, "a vehicle id is 1 to 32 characters of A-Z, a-z, 0-9, '_', '-'")
		}
	}
	return nil
}

// earliestReport and latestReport bound the times a vehicle may report: anything else is a clock
// that was never set, or garbage.
var (
	earliestReport = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latestReport   = time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ValidVehicleEvent checks a report's type and time. A time that billing will not accept (before the
// ride, or ahead of its receipt by more than the allowed skew) is still a valid report: it is kept as
// the vehicle's record, and billing decides what it proves.
func (l Limits) ValidVehicleEvent(ev VehicleEvent) error {
	if err := l.ValidClientID(ev.ClientID); err != nil {
		return err
	}
	if ev.Type != VehicleLocked && ev.Type != VehicleUnlocked {
		return Errorf(EInvalid, "type is %q or %q", VehicleLocked, VehicleUnlocked)
	}
	if ev.At.Before(earliestReport) || !ev.At.Before(latestReport) {
		return Errorf(EInvalid, "at is a time between %d and %d", earliestReport.Year(), latestReport.Year())
	}
	return nil
}

// FareRules are what a ride costs. They are configuration (`haetae serve --fare-*`); a rental keeps
// the rules in force when it started, so changing them never changes a ride already under way.
type FareRules struct {
	// UnlockWon is charged once per ride.
	UnlockWon int64 `json:"unlock_won"`
	// PerMinuteWon is charged per billed minute, a started minute counting whole.
	PerMinuteWon int64 `json:"per_minute_won"`
	// DailyCapWon caps the fare of each 24 hours of billed time (the first day's includes the
	// unlock fee).
	DailyCapWon int64 `json:"daily_cap_won"`
	// LockSkew is how far ahead of the platform's clock a vehicle's clock may run: a lock time is
	// accepted only if it is no later than its receipt plus LockSkew (and not before the ride
	// started).
	LockSkew time.Duration `json:"lock_skew_ns"`
	// LockTolerance is how far a rider's locked_at may be from the vehicle's own lock report and
	// still be believed.
	LockTolerance time.Duration `json:"lock_tolerance_ns"`
}

// DefaultFareRules are the fare rules of a node started without --fare-* flags.
var DefaultFareRules = FareRules{
	UnlockWon:     1000,
	PerMinuteWon:  150,
	DailyCapWon:   30000,
	LockSkew:      2 * time.Minute,
	LockTolerance: 2 * time.Minute,
}

// Bounds of the fare rules. They keep every product in the fare well inside int64.
const (
	maxFareWon   = 1_000_000
	maxDailyCap  = 1_000_000_000
	maxLockSlack = time.Hour
)

// Validate says what is wrong with the rules, in the words of their flags.
func (r FareRules) Validate() error {
	switch {
	case r.UnlockWon < 0 || r.UnlockWon > maxFareWon:
		return fmt.Errorf("fare-unlock must be 0 to %d won, not %d", maxFareWon, r.UnlockWon)
	case r.PerMinuteWon < 0 || r.PerMinuteWon > maxFareWon:
		return fmt.Errorf("fare-per-minute must be 0 to %d won, not %d", maxFareWon, r.PerMinuteWon)
	case r.DailyCapWon < 1 || r.DailyCapWon > maxDailyCap:
		return fmt.Errorf("fare-daily-cap must be 1 to %d won, not %d", maxDailyCap, r.DailyCapWon)
	case r.LockSkew < 0 || r.LockSkew > maxLockSlack:
		return fmt.Errorf("lock-skew must be 0 to %s, not %s", maxLockSlack, r.LockSkew)
	case r.LockTolerance < 0 || r.LockTolerance > maxLockSlack:
		return fmt.Errorf("lock-tolerance must be 0 to %s, not %s", maxLockSlack, r.LockTolerance)
	}
	return nil
}

// Ride is everything a fare is computed from: the start, the rules in force, the vehicle's reports
// known when the fare was computed, the rider's return and the downtime. A rental keeps it, so that
// its fare can be computed again, to the same number, at any later time.
type Ride struct {
	StartedAt time.Time      `json:"started_at"`
	Rules     FareRules      `json:"rules"`
	Events    []VehicleEvent `json:"events,omitempty"`
	Return    *RiderReturn   `json:"return,omitempty"`
	Downtime  []Interval     `json:"downtime,omitempty"`
}

// Bill is a computed fare and what it was computed from.
type Bill struct {
	EndedAt         time.Time
	EndedBy         string
	BilledSeconds   int64
	ExcludedSeconds int64
	FareWon         int64
}

// AcceptedLock reports whether ev proves that the vehicle was locked during a ride that started at
// start: a lock report whose time is no earlier than the start (to the whole second, since vehicles
// may report whole seconds) and no later than its receipt plus skew. A vehicle clock that runs ahead
// by more than skew, or a late report of an earlier ride's lock, proves nothing about this ride.
func AcceptedLock(ev VehicleEvent, start time.Time, skew time.Duration) bool {
	return ev.Type == VehicleLocked && !ev.At.Before(start.Truncate(time.Second)) && !ev.At.After(ev.ReceivedAt.Add(skew))
}

// FirstLock is the earliest accepted lock among events, in whatever order they came.
func FirstLock(events []VehicleEvent, start time.Time, skew time.Duration) (time.Time, bool) {
	var first time.Time
	found := false
	for _, ev := range events {
		if AcceptedLock(ev, start, skew) && (!found || ev.At.Before(first)) {
			first, found = ev.At, true
		}
	}
	return first, found
}

// RideEnd says when a ride ended and what ended it: the earlier of the vehicle's first accepted lock
// and the rider's accepted return. A return counts at the moment the platform accepted it, or at the
// locked_at it names if that lies inside the ride and, once the vehicle has reported its lock, agrees
// with the report within the rules' tolerance. ok is false while neither has happened.
func RideEnd(r Ride) (end time.Time, by string, ok bool) {
	lock, locked := FirstLock(r.Events, r.StartedAt, r.Rules.LockSkew)
	if locked {
		end, by, ok = lock, EndedByVehicle, true
	}
	if ret := r.Return; ret != nil {
		t, how := ret.At, EndedByReturn
		if l := ret.LockedAt; l != nil && !l.Before(r.StartedAt.Truncate(time.Second)) && !l.After(ret.At) &&
			(!locked || absDuration(l.Sub(lock)) <= r.Rules.LockTolerance) {
			t, how = *l, EndedByLockedAt
		}
		if !ok || t.Before(end) {
			end, by, ok = t, how, true
		}
	}
	if ok && end.Before(r.StartedAt) {
		end = r.StartedAt // a return accepted by a node whose clock is behind the starting node's
	}
	return end, by, ok
}

// ComputeBill is the fare of a ride from its evidence alone. ok is false while the ride has not ended.
// It is deterministic: the same Ride always gives the same Bill.
func ComputeBill(r Ride) (Bill, bool) {
	end, by, ok := RideEnd(r)
	if !ok {
		return Bill{}, false
	}
	b := BillSpan(r.Rules, r.StartedAt, end, r.Downtime)
	b.EndedBy = by
	return b, true
}

// BillSpan bills the riding time from start to end, less the downtime inside it. Times are taken to
// the whole second: the ride's ends are truncated, downtime is widened to whole seconds, in the
// rider's favour. Billed and excluded seconds add up to the ride's seconds.
func BillSpan(rules FareRules, start, end time.Time, downtime []Interval) Bill {
	s, e := start.Truncate(time.Second), end.Truncate(time.Second)
	if e.Before(s) {
		e = s
	}
	ride := int64(e.Sub(s) / time.Second)
	var excluded int64
	for _, iv := range MergeIntervals(widen(downtime)) {
		a, b := iv.From, iv.To
		if a.Before(s) {
			a = s
		}
		if b.After(e) {
			b = e
		}
		if b.After(a) {
			excluded += int64(b.Sub(a) / time.Second)
		}
	}
	excluded = min(excluded, ride) // only when durations saturate, some 292 years out
	billed := ride - excluded
	return Bill{
		EndedAt:         end,
		BilledSeconds:   billed,
		ExcludedSeconds: excluded,
		FareWon:         Fare(rules, (billed+59)/60),
	}
}

// widen rounds each non-empty interval out to whole seconds.
func widen(ivs []Interval) []Interval {
	out := make([]Interval, 0, len(ivs))
	for _, iv := range ivs {
		if !iv.To.After(iv.From) {
			continue
		}
		to := iv.To.Truncate(time.Second)
		if to.Before(iv.To) {
			to = to.Add(time.Second)
		}
		out = append(out, Interval{From: iv.From.Truncate(time.Second), To: to})
	}
	return out
}

// Fare is the price of minutes billed minutes: the unlock fee plus the per-minute rate, but never more
// than the daily cap for each started 24 hours of billed time.
func Fare(rules FareRules, minutes int64) int64 {
	if minutes < 0 {
		minutes = 0
	}
	capped := FareCap(rules, minutes)
	if rules.PerMinuteWon > 0 && minutes > (math.MaxInt64-rules.UnlockWon)/rules.PerMinuteWon {
		return capped
	}
	return min(rules.UnlockWon+rules.PerMinuteWon*minutes, capped)
}

// FareDayMinutes is the length of a fare day: the daily cap applies to each 24 hours of billed time.
const FareDayMinutes = 24 * 60

// FareCap is the most a ride of minutes billed minutes may cost.
func FareCap(rules FareRules, minutes int64) int64 {
	return rules.DailyCapWon * max(1, (minutes+FareDayMinutes-1)/FareDayMinutes)
}

func absDuration(d time.Duration) time.Duration {
	if d == math.MinInt64 {
		return math.MaxInt64
	}
	if d < 0 {
		return -d
	}
	return d
}
