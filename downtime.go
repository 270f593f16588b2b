package haetae

import (
	"context"
	"slices"
	"time"
)

// Interval is a span of time, [From, To).
//
// The incident history (incident.go, issue 5) declares the same type; when it lands this declaration
// gives way to that one.
type Interval struct {
	From, To time.Time
}

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
