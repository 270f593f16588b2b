package jsstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/jsstore"
)

var rideStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// failingDowntime wraps the real downtime record and fails while fail is set: a fault injected into
// one call, the store underneath untouched.
type failingDowntime struct {
	haetae.DowntimeSource
	fail atomic.Bool
}

func (f *failingDowntime) Downtime(ctx context.Context, component string, from, to time.Time) ([]haetae.Interval, error) {
	if f.fail.Load() {
		return nil, errors.New("injected: downtime record unreadable")
	}
	return f.DowntimeSource.Downtime(ctx, component, from, to)
}

type rentalFixture struct {
	st       *jsstore.Store
	rs       *jsstore.RentalService
	clock    *testnode.Clock
	downtime *failingDowntime
}

func newRentalFixture(tb testing.TB) *rentalFixture {
	tb.Helper()
	clock := testnode.NewClock(rideStart)
	st := mustStoreWith(tb, func(c *jsstore.Config) { c.Now = clock.Now })
	cfg := jsstore.DefaultRentalConfig()
	cfg.CloseEvery = 0 // the tests sweep by hand
	cfg.ReviewAfter = time.Hour
	down := &failingDowntime{DowntimeSource: st.Outages}
	cfg.Downtime = down
	rs, err := jsstore.NewRentals(st, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rs.Close)
	return &rentalFixture{st: st, rs: rs, clock: clock, downtime: down}
}

func (f *rentalFixture) mustVehicle(tb testing.TB, id string) string {
	tb.Helper()
	cred, err := f.rs.CreateVehicle(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return cred.Token
}

func (f *rentalFixture) mustStart(tb testing.TB, rider, clientID, vehicle string) *haetae.Rental {
	tb.Helper()
	r, created, err := f.rs.StartRental(context.Background(), rider, clientID, vehicle)
	if err != nil || !created {
		tb.Fatalf("start %s on %s: created %v, %v", clientID, vehicle, created, err)
	}
	return r
}

func (f *rentalFixture) report(token, vehicle, clientID, typ string, at time.Time) (*haetae.VehicleEvent, bool, error) {
	return f.rs.ReportVehicleEvent(context.Background(), token, haetae.VehicleEvent{Vehicle: vehicle, ClientID: clientID, Type: typ, At: at})
}

func (f *rentalFixture) mustRental(tb testing.TB, rider, id string) *haetae.Rental {
	tb.Helper()
	r, err := f.rs.Rental(context.Background(), rider, id)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := haetae.ErrorCode(err); got != code {
		tb.Fatalf("error %v (code %q), want %q", err, got, code)
	}
}

// wantBill checks a returned rental's end and fare.
func wantBill(tb testing.TB, r *haetae.Rental, end time.Time, by string, billed, excluded, fare int64) {
	tb.Helper()
	if r.Status != haetae.RentalReturned || r.EndedAt == nil || r.FareWon == nil || r.BilledSeconds == nil || r.ExcludedSeconds == nil {
		tb.Fatalf("rental not returned with a fare: %+v", r)
	}
	if !r.EndedAt.Equal(end) || r.EndedBy != by || *r.BilledSeconds != billed || *r.ExcludedSeconds != excluded || *r.FareWon != fare {
		tb.Fatalf("rental ended %s by %s, billed %d s, excluded %d s, fare %d; want %s by %s, %d s, %d s, %d won",
			r.EndedAt, r.EndedBy, *r.BilledSeconds, *r.ExcludedSeconds, *r.FareWon, end, by, billed, excluded, fare)
	}
}

// mustRecompute computes the fare again from the evidence kept with the rental, its reports read back
// from the bucket, and checks it is the number billed.
func (f *rentalFixture) mustRecompute(tb testing.TB, id string) {
	tb.Helper()
	r, ride, err := f.rs.Evidence(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	b, ok := haetae.ComputeBill(ride)
	if !ok || r.FareWon == nil || b.FareWon != *r.FareWon || b.BilledSeconds != *r.BilledSeconds ||
		b.ExcludedSeconds != *r.ExcludedSeconds || !b.EndedAt.Equal(*r.EndedAt) || b.EndedBy != r.EndedBy {
		tb.Fatalf("recomputed %+v (ended %v) from the evidence, but the rental says %+v", b, ok, r)
	}
}

func TestVehicles(t *testing.T) {
	f := newRentalFixture(t)
	ctx := context.Background()
	token := f.mustVehicle(t, "s1")
	other := f.mustVehicle(t, "s2")

	t.Run("ErrConflict", func(t *testing.T) {
		_, err := f.rs.CreateVehicle(ctx, "s1")
		wantCode(t, err, haetae.EConflict)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := f.rs.CreateVehicle(ctx, "s.1")
		wantCode(t, err, haetae.EInvalid)
	})
	t.Run("OK", func(t *testing.T) {
		ev, created, err := f.report(token, "s1", "e1", haetae.VehicleUnlocked, rideStart)
		if err != nil || !created || !ev.ReceivedAt.Equal(rideStart) {
			t.Fatalf("report: %+v created %v %v", ev, created, err)
		}
	})
	t.Run("Repeat", func(t *testing.T) {
		f.clock.Advance(time.Minute)
		ev, created, err := f.report(token, "s1", "e1", haetae.VehicleUnlocked, rideStart)
		if err != nil || created || !ev.ReceivedAt.Equal(rideStart) {
			t.Fatalf("repeat: %+v created %v %v; want the original", ev, created, err)
		}
	})
	t.Run("ErrIdempotencyConflict", func(t *testing.T) {
		_, _, err := f.report(token, "s1", "e1", haetae.VehicleLocked, rideStart)
		wantCode(t, err, haetae.EIdempotencyConflict)
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		_, _, err := f.report("forged-token", "s1", "e2", haetae.VehicleLocked, rideStart)
		wantCode(t, err, haetae.EUnauthorized)
		_, _, err = f.report(other, "s1", "e2", haetae.VehicleLocked, rideStart)
		wantCode(t, err, haetae.EUnauthorized)
		_, _, err = f.report("", "s1", "e2", haetae.VehicleLocked, rideStart)
		wantCode(t, err, haetae.EUnauthorized)
	})
	t.Run("ErrVehicleNotFound", func(t *testing.T) {
		_, _, err := f.report(token, "s9", "e2", haetae.VehicleLocked, rideStart)
		wantCode(t, err, haetae.EVehicleNotFound)
	})
	t.Run("ErrInvalidReport", func(t *testing.T) {
		_, _, err := f.report(token, "s1", "e3", "parked", rideStart)
		wantCode(t, err, haetae.EInvalid)
		_, _, err = f.report(token, "s1", "e.3", haetae.VehicleLocked, rideStart)
		wantCode(t, err, haetae.EInvalidClientID)
	})
}

func TestRentals(t *testing.T) {
	f := newRentalFixture(t)
	ctx := context.Background()
	s1 := f.mustVehicle(t, "s1")
	f.mustVehicle(t, "s2")
	mustUsers(t, f.st, "alice", "bob")
	r := f.mustStart(t, "alice", "ride-1", "s1")
	if r.Status != haetae.RentalActive || !r.StartedAt.Equal(rideStart) || r.FareWon != nil || r.Rider != "alice" {
		t.Fatalf("new rental: %+v", r)
	}

	t.Run("Repeat", func(t *testing.T) {
		again, created, err := f.rs.StartRental(ctx, "alice", "ride-1", "s1")
		if err != nil || created || !reflect.DeepEqual(again, r) {
			t.Fatalf("repeat start: %+v created %v %v; want %+v", again, created, err, r)
		}
	})
	t.Run("ErrIdempotencyConflict", func(t *testing.T) {
		_, _, err := f.rs.StartRental(ctx, "alice", "ride-1", "s2")
		wantCode(t, err, haetae.EIdempotencyConflict)
	})
	t.Run("ErrVehicleInUse", func(t *testing.T) {
		_, _, err := f.rs.StartRental(ctx, "bob", "b1", "s1")
		wantCode(t, err, haetae.EVehicleInUse)
	})
	t.Run("ErrVehicleNotFound", func(t *testing.T) {
		_, _, err := f.rs.StartRental(ctx, "bob", "b1", "nope")
		wantCode(t, err, haetae.EVehicleNotFound)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := f.rs.Rental(ctx, "bob", r.ID)
		wantCode(t, err, haetae.ENotFound)
		_, err = f.rs.ReturnRental(ctx, "bob", r.ID, "b-ret", nil)
		wantCode(t, err, haetae.ENotFound)
		_, err = f.rs.ReturnRental(ctx, "alice", "NOT-AN-ID", "ret", nil)
		wantCode(t, err, haetae.ENotFound)
		if got := f.mustRental(t, "alice", r.ID); !reflect.DeepEqual(got, r) {
			t.Fatalf("bob's return changed alice's rental: %+v", got)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		before := rideStart.Add(-time.Minute)
		_, err := f.rs.ReturnRental(ctx, "alice", r.ID, "ret", &before)
		wantCode(t, err, haetae.EInvalid)
		_, err = f.rs.ReturnRental(ctx, "alice", r.ID, "", nil)
		wantCode(t, err, haetae.EInvalidClientID)
		if got := f.mustRental(t, "alice", r.ID); !reflect.DeepEqual(got, r) {
			t.Fatalf("a refused return changed the rental: %+v", got)
		}
	})
	t.Run("VehicleLockEndsRide", func(t *testing.T) {
		f.clock.Advance(7 * time.Minute)
		if _, _, err := f.report(s1, "s1", "lock-1", haetae.VehicleLocked, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(3 * time.Minute)
		got := f.mustRental(t, "alice", r.ID)
		wantBill(t, got, rideStart.Add(7*time.Minute), haetae.EndedByVehicle, 420, 0, 2050)
		f.mustRecompute(t, r.ID)
		// The rider's return after the vehicle ended the ride changes nothing.
		after, err := f.rs.ReturnRental(ctx, "alice", r.ID, "late-return", nil)
		if err != nil || !reflect.DeepEqual(after, got) {
			t.Fatalf("return of an ended ride: %+v %v; want %+v", after, err, got)
		}
		// The vehicle is free again.
		f.mustStart(t, "bob", "b2", "s1")
	})
	t.Run("List", func(t *testing.T) {
		r2 := f.mustStart(t, "alice", "ride-2", "s2")
		list, err := f.rs.Rentals(ctx, "alice", 50)
		if err != nil || len(list) != 2 || list[0].ID != r2.ID || list[1].ID != r.ID {
			t.Fatalf("alice's rentals: %+v %v", list, err)
		}
		if list, _ := f.rs.Rentals(ctx, "alice", 1); len(list) != 1 || list[0].ID != r2.ID {
			t.Fatalf("alice's newest rental: %+v", list)
		}
	})
}

// TestReturnWithDowntime: a recorded no-quorum period inside the ride is excluded and shown.
func TestReturnWithDowntime(t *testing.T) {
	f := newRentalFixture(t)
	ctx := context.Background()
	f.mustVehicle(t, "s1")
	r := f.mustStart(t, "alice", "ride", "s1")
	if err := f.st.Outages.Record(ctx, "dc1", "dc1", haetae.Interval{From: rideStart.Add(2 * time.Minute), To: rideStart.Add(12 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(15 * time.Minute)
	got, err := f.rs.ReturnRental(ctx, "alice", r.ID, "ret", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantBill(t, got, rideStart.Add(15*time.Minute), haetae.EndedByReturn, 300, 600, 1750)
	f.mustRecompute(t, r.ID)

	t.Run("Repeat", func(t *testing.T) {
		f.clock.Advance(time.Hour)
		again, err := f.rs.ReturnRental(ctx, "alice", r.ID, "ret", nil)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("repeated return: %+v %v; want %+v", again, err, got)
		}
	})
	t.Run("ErrIdempotencyConflict", func(t *testing.T) {
		l := rideStart.Add(time.Minute)
		_, err := f.rs.ReturnRental(ctx, "alice", r.ID, "ret", &l)
		wantCode(t, err, haetae.EIdempotencyConflict)
	})
}

// TestReturnLockedAtThenLateReport: a rider whose return was delayed names when the vehicle was
// locked; the vehicle's report arrives later and disagrees: the fare stays, the rental is flagged.
func TestReturnLockedAtThenLateReport(t *testing.T) {
	f := newRentalFixture(t)
	ctx := context.Background()
	tok := f.mustVehicle(t, "s1")
	r := f.mustStart(t, "alice", "ride", "s1")
	f.clock.Advance(30 * time.Minute)
	lockedAt := rideStart.Add(4 * time.Minute)
	got, err := f.rs.ReturnRental(ctx, "alice", r.ID, "ret", &lockedAt)
	if err != nil {
		t.Fatal(err)
	}
	wantBill(t, got, lockedAt, haetae.EndedByLockedAt, 240, 0, 1600)

	// The vehicle's own report: locked at 10:09, five minutes after the rider said.
	if _, _, err := f.report(tok, "s1", "lock", haetae.VehicleLocked, rideStart.Add(9*time.Minute)); err != nil {
		t.Fatal(err)
	}
	flagged := f.mustRental(t, "alice", r.ID)
	if flagged.Review == nil || flagged.Review.Reason != haetae.ReviewLateVehicleReport || *flagged.FareWon != 1600 {
		t.Fatalf("a late disagreeing report should flag the rental and keep its fare: %+v review %+v", flagged, flagged.Review)
	}
	f.mustRecompute(t, r.ID)

	t.Run("AgreeingReportFlagsNothing", func(t *testing.T) {
		tok2 := f.mustVehicle(t, "s3")
		r2 := f.mustStart(t, "alice", "ride2", "s3")
		f.clock.Advance(10 * time.Minute)
		l := f.clock.Now().Add(-6 * time.Minute)
		if _, err := f.rs.ReturnRental(ctx, "alice", r2.ID, "ret2", &l); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.report(tok2, "s3", "lock", haetae.VehicleLocked, l.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := f.mustRental(t, "alice", r2.ID); got.Review != nil {
			t.Fatalf("an agreeing report flagged the rental: %+v", got.Review)
		}
	})
}

// TestCloserEndsRideWithoutReturn: the report of a lock is kept even when its ride cannot be ended at
// once (the downtime record is unreadable); the closer ends it later, once, however many sweep at once.
func TestCloserEndsRideWithoutReturn(t *testing.T) {
	f := newRentalFixture(t)
	ctx := context.Background()
	tok := f.mustVehicle(t, "s1")
	r := f.mustStart(t, "alice", "ride", "s1")
	f.clock.Advance(12 * time.Minute)
	f.downtime.fail.Store(true)
	if _, created, err := f.report(tok, "s1", "lock", haetae.VehicleLocked, f.clock.Now()); err != nil || !created {
		t.Fatalf("the report must be kept while billing fails: created %v %v", created, err)
	}
	if got := f.mustRental(t, "alice", r.ID); got.Status != haetae.RentalActive {
		t.Fatalf("the ride ended without a fare: %+v", got)
	}
	f.downtime.fail.Store(false)
	f.clock.Advance(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 { // four nodes' closers at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.rs.Sweep(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantBill(t, f.mustRental(t, "alice", r.ID), rideStart.Add(12*time.Minute), haetae.EndedByVehicle, 720, 0, 2800)
	f.mustRecompute(t, r.ID)
}

// TestCloserFlagsSilentRide: a ride whose vehicle says nothing for ReviewAfter is flagged, not billed;
// the rider can still end it.
func TestCloserFlagsSilentRide(t *testing.T) {
	f := newRentalFixture(t)
	ctx := context.Background()
	tok := f.mustVehicle(t, "s1")
	r := f.mustStart(t, "alice", "ride", "s1")
	if _, _, err := f.report(tok, "s1", "unlock", haetae.VehicleUnlocked, rideStart); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(59 * time.Minute)
	if err := f.rs.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.mustRental(t, "alice", r.ID); got.Review != nil {
		t.Fatalf("flagged before ReviewAfter: %+v", got.Review)
	}
	f.clock.Advance(2 * time.Minute)
	if err := f.rs.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got := f.mustRental(t, "alice", r.ID)
	if got.Review == nil || got.Review.Reason != haetae.ReviewNoVehicleReport || got.Status != haetae.RentalActive || got.FareWon != nil {
		t.Fatalf("a silent ride should be flagged, still active, with no fare: %+v review %+v", got, got.Review)
	}
	ret, err := f.rs.ReturnRental(ctx, "alice", r.ID, "ret", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantBill(t, ret, rideStart.Add(61*time.Minute), haetae.EndedByReturn, 3660, 0, 1000+61*150)
	if ret.Review == nil {
		t.Fatal("the review flag was dropped by the return")
	}
}

// TestConcurrentReturnAndLock: a rider's return and the vehicle's lock race from many goroutines; the
// ride ends once, and its fare is the one its evidence gives.
func TestConcurrentReturnAndLock(t *testing.T) {
	f := newRentalFixture(t)
	ctx := context.Background()
	tok := f.mustVehicle(t, "s1")
	for round := range 5 {
		r := f.mustStart(t, "alice", fmt.Sprintf("ride-%d", round), "s1")
		f.clock.Advance(5 * time.Minute)
		lockAt := f.clock.Now().Add(-time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 4 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := f.rs.ReturnRental(ctx, "alice", r.ID, fmt.Sprintf("ret-%d", i), nil)
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, _, err := f.report(tok, "s1", fmt.Sprintf("lock-%d", round), haetae.VehicleLocked, lockAt)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := f.mustRental(t, "alice", r.ID)
		if got.Status != haetae.RentalReturned {
			t.Fatalf("round %d: %+v", round, got)
		}
		f.mustRecompute(t, r.ID)
	}
}
