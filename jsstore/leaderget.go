package jsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// errNoMessage is JetStream's "no message found" (10037): the leader has no message matching the request.
const errNoMessage = 10037

// msgGetResponse is the JetStream API's answer to $JS.API.STREAM.MSG.GET.
type msgGetResponse struct {
	Error *struct {
		Code    int    `json:"code"`
		ErrCode int    `json:"err_code"`
		Desc    string `json:"description"`
	} `json:"error"`
	Message *struct {
		Subject string    `json:"subject"`
		Seq     uint64    `json:"seq"`
		Header  []byte    `json:"hdrs"`
		Data    []byte    `json:"data"`
		Time    time.Time `json:"time"`
	} `json:"message"`
}

// leaderGet reads one message (by seq, last_by_subj, or seq with next_by_subj) from the stream's leader.
// Direct gets (allow_direct) are answered by any replica, which may not have applied the latest writes
// yet; the leader has applied everything it acknowledged. So whatever must read its own writes, or must
// not mistake a lagging replica for an absent record, asks here. It returns nil, nil when the leader has
// no such message. The answer needs a stream leader and a JetStream meta leader: during an election it
// fails, and callers either retry or fall back to the replica's answer.
func (s *Store) leaderGet(ctx context.Context, stream string, req directGetReq) (*storedMsg, error) {
	req.Batch, req.UpToSeq, req.MaxBytes = 0, 0, 0
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return nil, fmt.Errorf("leader get %s: %w", stream, err)
	}
	var r msgGetResponse
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("leader get %s: decode: %w", stream, err)
	}
	if r.Error != nil {
		if r.Error.ErrCode == errNoMessage {
			return nil, nil
		}
		return nil, &apiError{r.Error.Code, r.Error.ErrCode, r.Error.Desc}
	}
	if r.Message == nil {
		return nil, fmt.Errorf("leader get %s: empty answer", stream)
	}
	return &storedMsg{Subject: r.Message.Subject, Seq: r.Message.Seq, Time: r.Message.Time, Data: r.Message.Data, rawHeader: r.Message.Header}, nil
}

// kvGet reads a key of a bucket: from any replica first (fast, local most of the time), and, when that
// replica says the key does not exist, again from the leader, because a record written a moment ago
// through another node may not have reached this replica yet. A "no" is believed only from the leader;
// if the leader cannot be asked (an election), the replica's answer stands. It returns nil for a key
// that does not exist or was deleted.
func (s *Store) kvGet(ctx context.Context, bucket, key string) (*storedMsg, error) {
	stream, subj := "KV_"+bucket, "$KV."+bucket+"."+key
	msgs, _, err := directGetBatch(ctx, s.nc, stream, directGetReq{LastFor: subj})
	if err != nil {
		return nil, err
	}
	if len(msgs) == 1 && !kvDeleted(msgs[0]) {
		return &msgs[0], nil
	}
	if s.cfg.Replicas == 1 {
		return nil, nil // one replica is the leader
	}
	m, err := s.leaderGet(ctx, stream, directGetReq{LastFor: subj})
	if err != nil {
		s.cfg.Logger.Debug("leader read failed; the replica's answer stands", "stream", stream, "err", err)
		return nil, nil
	}
	if m == nil || kvDeleted(*m) {
		return nil, nil
	}
	return m, nil
}

// kvDeleted reports whether a KV entry is a delete or purge marker.
func kvDeleted(m storedMsg) bool {
	op := m.Header.Get("KV-Operation")
	if op == "" && len(m.rawHeader) > 0 {
		switch {
		case bytes.Contains(m.rawHeader, []byte("KV-Operation: DEL")):
			op = "DEL"
		case bytes.Contains(m.rawHeader, []byte("KV-Operation: PURGE")):
			op = "PURGE"
		}
	}
	return op == "DEL" || op == "PURGE"
}
