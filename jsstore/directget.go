package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// storedMsg is one message read by a direct get.
type storedMsg struct {
	Subject string
	Seq     uint64
	Time    time.Time
	Data    []byte
	Header  nats.Header
	// rawHeader is the header as the JetStream API's JSON answer carries it (leader gets only).
	rawHeader []byte
	// Pending is how many messages matching the request's filter follow this one (batch gets only).
	Pending uint64
}

// directGetReq is the JetStream API's direct get request. Direct gets read a stream without a consumer:
// consumer creation needs the JetStream meta leader, which may sit in a lost data center.
type directGetReq struct {
	Seq      uint64 `json:"seq,omitempty"`
	LastFor  string `json:"last_by_subj,omitempty"`
	NextFor  string `json:"next_by_subj,omitempty"`
	Batch    int    `json:"batch,omitempty"`
	MaxBytes int    `json:"max_bytes,omitempty"`
	UpToSeq  uint64 `json:"up_to_seq,omitempty"`
}

// directGetBatch reads up to req.Batch messages from stream. It returns the messages and, from the end of
// batch marker, how many more match after the last one returned.
func directGetBatch(ctx context.Context, nc *nats.Conn, stream string, req directGetReq) ([]storedMsg, uint64, error) {
	if req.LastFor != "" {
		req.Batch = 0 // last_by_subj is a single get: no batch, no end marker
	} else if req.Batch <= 0 {
		req.Batch = 1
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, 0, err
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, 0, fmt.Errorf("direct get %s: %w", stream, err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, body); err != nil {
		return nil, 0, fmt.Errorf("direct get %s: %w", stream, err)
	}
	var out []storedMsg
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("direct get %s: %w", stream, err)
		}
		status := m.Header.Get("Status")
		switch status {
		case "":
		case "404":
			return out, 0, nil
		case "204": // end of batch
			np, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return out, np, nil
		case "503":
			return nil, 0, fmt.Errorf("direct get %s: %w", stream, nats.ErrNoResponders)
		default:
			return nil, 0, fmt.Errorf("direct get %s: status %s %s", stream, status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("direct get %s: bad sequence header", stream)
		}
		ts, _ := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
		np, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
		out = append(out, storedMsg{
			Subject: m.Header.Get("Nats-Subject"),
			Seq:     seq,
			Time:    ts,
			Data:    m.Data,
			Header:  m.Header,
			Pending: np,
		})
		if req.LastFor != "" {
			return out, 0, nil
		}
	}
}
