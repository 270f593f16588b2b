package haetae

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// DowntimeSource tells rental billing when the platform could not take a vehicle back: the intervals
// inside [from, to) of the incidents that affected component, and of the periods in which writes had
// no quorum. Billing excludes them, so a rider is never charged for them.
type DowntimeSource interface {
	// Downtime returns the intervals, in any order, possibly overlapping and reaching beyond
	// [from, to). Errors: unavailable (the record could not be read now).
	Downtime(ctx context.Context, component string, from, to time.Time) ([]Interval, error)
}

// Downtimes is several sources read as one: the union of what each says. Every source must answer;
// billing that silently skipped one would charge riders for an outage it did not hear of.
type Downtimes []DowntimeSource

// Downtime implements [DowntimeSource].
func (ds Downtimes) Downtime(ctx context.Context, component string, from, to time.Time) ([]Interval, error) {
	var all []Interval
	for _, d := range ds {
		ivs, err := d.Downtime(ctx, component, from, to)
		if err != nil {
			return nil, err
		}
		all = append(all, ivs...)
	}
	return MergeIntervals(all), nil
}

// IncidentDowntime is the downtime the incident history records for a component: the time each
// incident of major or critical impact that names it affected it ([AffectedIntervals]), an open
// incident's up to now. A minor incident leaves the component degraded but working (a data center
// unreachable while the others take every request), so its time is billed.
type IncidentDowntime struct {
	Incidents IncidentService
	// Now is the clock an open incident runs to: the clock billing runs on.
	Now func() time.Time
}

// Downtime implements [DowntimeSource].
func (d IncidentDowntime) Downtime(ctx context.Context, component string, from, to time.Time) ([]Interval, error) {
	list, err := d.Incidents.Incidents(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("read the incident history: %w", err)
	}
	now := d.Now()
	var out []Interval
	for _, inc := range list {
		if impactRank[inc.Impact] < impactRank[ImpactMajor] {
			continue
		}
		for _, iv := range AffectedIntervals(inc, component, now) {
			if iv.From.Before(to) && iv.To.After(from) {
				out = append(out, iv)
			}
		}
	}
	return out, nil
}

// MergeIntervals returns the union of ivs as disjoint intervals in ascending order, empty ones left
// out. It does not change ivs.
func MergeIntervals(ivs []Interval) []Interval {
	sorted := make([]Interval, 0, len(ivs))
	for _, iv := range ivs {
		if iv.To.After(iv.From) {
			sorted = append(sorted, iv)
		}
	}
	slices.SortFunc(sorted, func(a, b Interval) int { return a.From.Compare(b.From) })
	var out []Interval
	for _, iv := range sorted {
		if n := len(out); n > 0 && !iv.From.After(out[n-1].To) {
			if iv.To.After(out[n-1].To) {
				out[n-1].To = iv.To
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// ClipIntervals returns the parts of ivs inside [from, to), merged.
func ClipIntervals(ivs []Interval, from, to time.Time) []Interval {
	var out []Interval
	for _, iv := range MergeIntervals(ivs) {
		if iv.From.Before(from) {
			iv.From = from
		}
		if iv.To.After(to) {
			iv.To = to
		}
		if iv.To.After(iv.From) {
			out = append(out, iv)
		}
	}
	return out
}
