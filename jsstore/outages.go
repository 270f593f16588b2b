package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/haetae/haetae"
)

// The outages bucket keeps the periods in which a node could not take writes because it reached no
// majority: outage.<node>.<start in Unix nanoseconds> → an outageRecord. A node writes its period once
// it has a majority again (it cannot before), and rental billing reads them all.
const outagesBucket = "haetae_outages"

// outageRecord is one period in which a node had no quorum.
type outageRecord struct {
	Node string    `json:"node"`
	DC   string    `json:"dc,omitempty"`
	Kind string    `json:"kind"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// OutageKindNoQuorum marks a period in which a node reached no majority and refused every write.
const OutageKindNoQuorum = "no_quorum"

// OutageLog is the replicated record of the periods in which nodes could not take writes.
type OutageLog struct{ s *Store }

// Record keeps one node's no-quorum period. Recording the same period again changes nothing.
func (l *OutageLog) Record(ctx context.Context, node, dc string, iv haetae.Interval) error {
	b, _ := json.Marshal(outageRecord{Node: node, DC: dc, Kind: OutageKindNoQuorum, From: iv.From.UTC(), To: iv.To.UTC()})
	key := "outage." + subjectToken(node) + "." + strconv.FormatInt(iv.From.UnixNano(), 10)
	ctx, cancel := l.s.timeout(ctx)
	defer cancel()
	if _, err := l.s.outages.Put(ctx, key, b); err != nil {
		return storeErr("record outage", err)
	}
	return nil
}

// Intervals returns the recorded periods that overlap [from, to), from this node's replica. There
// are few: one per outage per node.
func (l *OutageLog) Intervals(ctx context.Context, from, to time.Time) ([]haetae.Interval, error) {
	var out []haetae.Interval
	err := l.s.scanSubject(ctx, "KV_"+outagesBucket, "$KV."+outagesBucket+".outage.>", 1, func(m storedMsg) (bool, error) {
		if kvDeleted(m) {
			return true, nil
		}
		var r outageRecord
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return false, fmt.Errorf("decode %s: %w", m.Subject, err)
		}
		if r.From.Before(to) && r.To.After(from) {
			out = append(out, haetae.Interval{From: r.From, To: r.To})
		}
		return true, nil
	})
	if err != nil {
		return nil, storeErr("read outages", err)
	}
	return out, nil
}

// Downtime implements [haetae.DowntimeSource] with the recorded no-quorum periods: while a node had
// no quorum it refused every write, returns of rentals included, whatever the component.
func (l *OutageLog) Downtime(ctx context.Context, component string, from, to time.Time) ([]haetae.Interval, error) {
	return l.Intervals(ctx, from, to)
}
