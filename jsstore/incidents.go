package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	incidentsBucket = "haetae_incidents"
	incidentPrefix  = "inc."
	webhookPrefix   = "hook."
)

// IncidentStore keeps the incident history and the webhook subscribers in the KV bucket
// haetae_incidents (R3 in a cluster, like every bucket): inc.<id> → incident, hook.<id> → subscriber.
// It is storage only: what to open, join or resolve is decided by the status package. Every write is a
// compare-and-set on the stream leader (create-only, or an update of the revision read from the
// leader), so nodes writing the same incident at once never lose one another's changes.
type IncidentStore struct {
	s *Store
}

// ErrExists is what [IncidentStore.Create] and [IncidentStore.AddWebhook] return when the id is
// taken: a conflict.
var ErrExists = haetae.Errorf(haetae.EConflict, "the id is taken")

func incidentKey(id string) string { return incidentPrefix + id }

// ValidIncidentID checks that id can be a key: 1–128 characters of [a-z0-9_-]. Anything else is
// not_found: no incident has such an id.
func ValidIncidentID(id string) error {
	if len(id) < 1 || len(id) > 128 {
		return haetae.Errorf(haetae.ENotFound, "no such incident")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return haetae.Errorf(haetae.ENotFound, "no such incident")
		}
	}
	return nil
}

// List reads every incident from this node's replica (a direct get, which needs no leader and no
// majority), in no particular order.
func (st *IncidentStore) List(ctx context.Context) ([]*haetae.Incident, error) {
	list, _, err := st.Changes(ctx, 0)
	return list, err
}

// Changes reads the incidents written after stream sequence after, from this node's replica, and
// returns the last sequence it saw (after itself when nothing is new). Every write of an incident is
// a new message of the bucket's stream and incidents are never deleted, so a reader that keeps the
// last sequence and merges by id follows the history without reading it all again.
func (st *IncidentStore) Changes(ctx context.Context, after uint64) ([]*haetae.Incident, uint64, error) {
	var out []*haetae.Incident
	last, err := st.scan(ctx, incidentPrefix, after, func(data []byte) {
		var inc haetae.Incident
		if json.Unmarshal(data, &inc) == nil && inc.ID != "" {
			out = append(out, &inc)
		}
	})
	return out, last, err
}

// scan reads the latest value of every key under prefix written after sequence after from this
// node's replica, and returns the last sequence read.
func (st *IncidentStore) scan(ctx context.Context, prefix string, after uint64, fn func([]byte)) (uint64, error) {
	ctx, cancel := st.s.timeout(ctx)
	defer cancel()
	stream := "KV_" + incidentsBucket
	seq := after + 1
	for {
		msgs, pending, err := directGetBatch(ctx, st.s.nc, stream, directGetReq{Seq: seq, NextFor: "$KV." + incidentsBucket + "." + prefix + ">", Batch: 256})
		if err != nil {
			return after, storeErr("list "+prefix, err)
		}
		for _, m := range msgs {
			if !kvDeleted(m) {
				fn(m.Data)
			}
			seq = m.Seq + 1
		}
		if len(msgs) == 0 || pending == 0 {
			return seq - 1, nil
		}
	}
}

// Get reads one incident from the stream's leader, with its revision; nil when there is none.
func (st *IncidentStore) Get(ctx context.Context, id string) (*haetae.Incident, uint64, error) {
	ctx, cancel := st.s.timeout(ctx)
	defer cancel()
	m, err := st.s.leaderGet(ctx, "KV_"+incidentsBucket, directGetReq{LastFor: "$KV." + incidentsBucket + "." + incidentKey(id)})
	if err != nil {
		return nil, 0, storeErr("get incident", err)
	}
	if m == nil || kvDeleted(*m) {
		return nil, 0, nil
	}
	var inc haetae.Incident
	if err := json.Unmarshal(m.Data, &inc); err != nil {
		return nil, 0, fmt.Errorf("decode incident %s: %w", id, err)
	}
	return &inc, m.Seq, nil
}

// Create writes a new incident; [ErrExists] when its id is taken (by another node that saw the same
// fault first, or by an earlier attempt of this very write).
func (st *IncidentStore) Create(ctx context.Context, inc *haetae.Incident) error {
	b, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	return st.retry(ctx, "create incident", func(ctx context.Context) error {
		_, err := st.s.incidents.Create(ctx, incidentKey(inc.ID), b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ErrExists
		}
		return err
	})
}

// Update reads an incident from the leader, lets change edit it, and writes it back only if nobody
// wrote it in between (compare-and-set on the revision), retrying from a fresh read otherwise. change
// returns false to leave the incident as it is. Update returns the incident as stored, and nil, nil if
// there is no such incident.
func (st *IncidentStore) Update(ctx context.Context, id string, change func(*haetae.Incident) (bool, error)) (*haetae.Incident, error) {
	ctx, cancel := st.s.timeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		inc, rev, err := st.Get(ctx, id)
		if err != nil {
			if transient(err) && ctx.Err() == nil {
				if err := sleepCtx(ctx, retryWait(attempt)); err != nil {
					return nil, storeErr("update incident", err)
				}
				continue
			}
			return nil, err
		}
		if inc == nil {
			return nil, nil
		}
		changed, err := change(inc)
		if err != nil || !changed {
			return inc, err
		}
		b, err := json.Marshal(inc)
		if err != nil {
			return nil, err
		}
		_, err = st.s.incidents.Update(ctx, incidentKey(id), b, rev)
		switch {
		case err == nil:
			return inc, nil
		case wrongRevision(err) || transient(err):
			// Someone else wrote it first, or the leader changed: read again and redo the change.
			if err := sleepCtx(ctx, retryWait(attempt)); err != nil {
				return nil, storeErr("update incident", err)
			}
		default:
			return nil, storeErr("update incident", err)
		}
	}
}

// wrongRevision reports whether a compare-and-set lost to another write.
func wrongRevision(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var je *jetstream.APIError
	return errors.As(err, &je) && je.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		strings.Contains(err.Error(), "wrong last sequence")
}

// retry runs a write until it succeeds, fails for good, or ctx (bounded by the request timeout) ends.
func (st *IncidentStore) retry(ctx context.Context, op string, write func(context.Context) error) error {
	ctx, cancel := st.s.timeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := write(ctx)
		if err == nil || errors.Is(err, ErrExists) {
			return err
		}
		if !transient(err) || ctx.Err() != nil {
			return storeErr(op, err)
		}
		if err := sleepCtx(ctx, retryWait(attempt)); err != nil {
			return storeErr(op, err)
		}
	}
}

// Webhooks lists the subscribers, secrets included (the caller signs with them).
func (st *IncidentStore) Webhooks(ctx context.Context) ([]*haetae.Webhook, error) {
	var out []*haetae.Webhook
	_, err := st.scan(ctx, webhookPrefix, 0, func(data []byte) {
		var w haetae.Webhook
		if json.Unmarshal(data, &w) == nil && w.ID != "" {
			out = append(out, &w)
		}
	})
	return out, err
}

// AddWebhook stores a new subscriber.
func (st *IncidentStore) AddWebhook(ctx context.Context, w *haetae.Webhook) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return st.retry(ctx, "add webhook", func(ctx context.Context) error {
		_, err := st.s.incidents.Create(ctx, webhookPrefix+w.ID, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ErrExists
		}
		return err
	})
}

// DeleteWebhook removes a subscriber; not_found if there is none.
func (st *IncidentStore) DeleteWebhook(ctx context.Context, id string) error {
	if err := ValidIncidentID(id); err != nil {
		return haetae.Errorf(haetae.ENotFound, "no such webhook")
	}
	ctx, cancel := st.s.timeout(ctx)
	defer cancel()
	m, err := st.s.leaderGet(ctx, "KV_"+incidentsBucket, directGetReq{LastFor: "$KV." + incidentsBucket + "." + webhookPrefix + id})
	if err != nil {
		return storeErr("delete webhook", err)
	}
	if m == nil || kvDeleted(*m) {
		return haetae.Errorf(haetae.ENotFound, "no such webhook")
	}
	return st.retry(ctx, "delete webhook", func(ctx context.Context) error {
		return st.s.incidents.Delete(ctx, webhookPrefix+id)
	})
}
