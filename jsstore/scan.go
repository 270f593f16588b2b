package jsstore

import "context"

// scanSubject calls fn for every message of stream matching filter (wildcards allowed) from sequence
// from on, in stream order, reading batches by direct get from any replica, until fn returns false or
// an error, or the messages run out.
func (s *Store) scanSubject(ctx context.Context, stream, filter string, from uint64, fn func(m storedMsg) (bool, error)) error {
	seq := max(from, 1)
	for {
		msgs, pending, err := directGetBatch(ctx, s.nc, stream, directGetReq{Seq: seq, NextFor: filter, Batch: 256})
		if err != nil {
			return err
		}
		for _, m := range msgs {
			seq = m.Seq + 1
			more, err := fn(m)
			if err != nil || !more {
				return err
			}
		}
		if len(msgs) == 0 || pending == 0 {
			return nil
		}
	}
}
