package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/haetae/haetae"
)

// closer sweeps the active rentals every CloseEvery until Close. Every node runs one: the sweeps
// overlap, and the compare-and-set writes make that harmless.
func (rs *RentalService) closer() {
	defer close(rs.done)
	t := time.NewTicker(rs.cfg.CloseEvery)
	defer t.Stop()
	for {
		select {
		case <-rs.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(rs.cfg.CloseEvery, time.Minute))
		go func() {
			select {
			case <-rs.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := rs.Sweep(ctx); err != nil {
			rs.s.cfg.Logger.Debug("rental sweep incomplete; the next one carries on", "err", err)
		}
		cancel()
	}
}

// Sweep ends every active rental whose vehicle's reports prove a lock, even if its rider never
// returns it, and flags for review every one whose vehicle has been silent for ReviewAfter. It finds
// them from this node's replica and settles each on the stream leader. It goes on past a vehicle it
// cannot settle and returns the errors met.
func (rs *RentalService) Sweep(ctx context.Context) error {
	var errs []error
	err := rs.s.scanSubject(ctx, "KV_"+rentalsBucket, rentalSubject(vehicleKey("*")), 1, func(m storedMsg) (bool, error) {
		var v vehicleRecord
		if err := json.Unmarshal(m.Data, &v); err != nil || v.Rental == "" {
			return true, nil
		}
		due, err := rs.due(ctx, &v)
		if err == nil && due {
			err = rs.settle(ctx, v.ID)
		}
		if err != nil {
			errs = append(errs, err)
		}
		return ctx.Err() == nil, nil
	})
	if err != nil {
		errs = append(errs, storeErr("list vehicles", err))
	}
	return errors.Join(errs...)
}

// due reports, from this node's replica, whether a vehicle's active rental has work for the closer.
func (rs *RentalService) due(ctx context.Context, v *vehicleRecord) (bool, error) {
	rec, err := rs.rental(ctx, v.Rental, false)
	if err != nil || rec == nil || rec.Status != haetae.RentalActive {
		return false, err
	}
	ride := rec.Ride
	if ride.Events, err = rs.reports(ctx, v.ID, rec.createdSeq(), false); err != nil {
		return false, err
	}
	if _, _, ended := haetae.RideEnd(ride); ended {
		return true, nil
	}
	return rec.Review == nil && rs.silent(rec, ride.Events), nil
}
