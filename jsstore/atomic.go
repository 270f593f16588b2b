package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// apiError is an error answer of the JetStream API to a publish.
type apiError struct {
	code, errCode int
	desc          string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("jetstream: %s (%d/%d)", e.desc, e.code, e.errCode)
}

// wrongLastSequence reports whether err is JetStream refusing a write whose expected last sequence of its
// subject did not hold: someone else wrote first (10071), or is writing now (10164).
func wrongLastSequence(err error) bool {
	e, ok := err.(*apiError)
	return ok && (e.errCode == 10071 || e.errCode == 10164)
}

type batchAck struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Count  int    `json:"count"`
	Error  *struct {
		Code    int    `json:"code"`
		ErrCode int    `json:"err_code"`
		Desc    string `json:"description"`
	} `json:"error"`
}

// publishAtomic commits msgs to one stream as a JetStream atomic batch: all of them or none. It returns
// the sequence of the last message; a batch is stored contiguously, so message i has last-len+1+i.
// Refusals by JetStream come back as *apiError, anything else (time-out, no responders) as is: then the
// outcome is unknown, and only an idempotent retry may find out.
func (s *Store) publishAtomic(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	id := nuid.Next()
	for i, msg := range msgs {
		msg.Header.Set("Nats-Batch-Id", id)
		msg.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := s.nc.PublishMsg(msg); err != nil {
				return 0, err
			}
			continue
		}
		msg.Header.Set("Nats-Batch-Commit", "1")
		resp, err := s.nc.RequestMsgWithContext(ctx, msg)
		if err != nil {
			return 0, err
		}
		var ack batchAck
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return 0, fmt.Errorf("decode batch ack: %w", err)
		}
		if ack.Error != nil {
			return 0, &apiError{ack.Error.Code, ack.Error.ErrCode, ack.Error.Desc}
		}
		if ack.Count != len(msgs) {
			return 0, fmt.Errorf("batch ack counts %d messages, sent %d", ack.Count, len(msgs))
		}
		return ack.Seq, nil
	}
	return 0, fmt.Errorf("empty batch")
}
