package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haetae/haetae/embednats"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

const (
	refStream       = "BENCH_REF"
	refSubject      = "bench.ref.msg"
	refAsyncWindow  = 4096
	refBatchSize    = 100
	refBatchWriters = 4
)

// refKind is one raw JetStream publishing pattern.
type refKind struct {
	name     string
	describe string
	lazy     bool
	publish  func(ctx context.Context, p *refPublisher) error
}

// refs are the references in the order they run and are printed.
var refs = []refKind{
	{name: "JetStream: 1 sync publish at a time", describe: "one js.Publish at a time, each waiting for its ack", publish: publishSync},
	{name: "JetStream: async, 4096 in flight", describe: "PublishAsync with a window of 4096 pending acks", publish: publishAsync},
	{name: "JetStream: atomic batches of 100", describe: "4 publishers, each committing atomic batches of 100 (Nats-Batch-* headers)", publish: publishBatches},
	{name: "JetStream: async, 4096 in flight", describe: "PublishAsync with a window of 4096, server fsyncs lazily (every 2 min)", lazy: true, publish: publishAsync},
}

// refPublisher is what a reference publishes with, and how far it may go.
type refPublisher struct {
	nc       *nats.Conn
	data     []byte
	limit    int64
	deadline time.Time
	acked    atomic.Int64
	meter    *meter
}

func (p *refPublisher) more() bool { return time.Now().Before(p.deadline) }

// runRef runs one reference against its own embedded server in a fresh temporary directory. Failures
// are recorded in the result, not returned: one broken reference should not hide the others.
func runRef(ctx context.Context, cfg Config, k refKind, progress io.Writer) RefResult {
	res := RefResult{Name: k.name, Fsync: "always", Describe: k.describe}
	if k.lazy {
		res.Fsync = "lazy"
	}
	fail := func(err error) RefResult {
		res.Error = err.Error()
		return res
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "haetae-bench-ref-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	ns, err := embednats.Start(embednats.Config{DataDir: dir, ServerName: "bench-ref", LazySync: k.lazy, MaxBatchSize: refBatchSize})
	if err != nil {
		return fail(err)
	}
	defer ns.Shutdown()
	nc, err := ns.Connect("bench-ref")
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:               refStream,
		Subjects:           []string{refSubject},
		Storage:            jetstream.FileStorage,
		Replicas:           1,
		AllowAtomicPublish: true,
	})
	if err != nil {
		return fail(fmt.Errorf("create stream: %w", err))
	}
	fsync := "fsync " + res.Fsync
	p := &refPublisher{
		nc:    nc,
		data:  []byte(filler(cfg.TextBytes)),
		limit: int64(cfg.RefMessages),
		meter: startMeter(progress, cfg.RefMessages, "ref: "+k.name[len("JetStream: "):]+", "+fsync),
	}
	start := time.Now()
	p.deadline = start.Add(cfg.RefDuration)
	err = k.publish(ctx, p)
	res.Seconds = time.Since(start).Seconds()
	p.meter.finish()
	res.Acked = int(p.acked.Load())
	if res.Seconds > 0 {
		res.PerSec = float64(res.Acked) / res.Seconds
	}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

func publishSync(ctx context.Context, p *refPublisher) error {
	js, err := jetstream.New(p.nc)
	if err != nil {
		return err
	}
	for p.acked.Load() < p.limit && p.more() {
		if _, err := js.Publish(ctx, refSubject, p.data); err != nil {
			return err
		}
		p.acked.Add(1)
		p.meter.add(1)
	}
	return nil
}

// publishAsync keeps up to refAsyncWindow publishes waiting for their acks; the time includes waiting
// for the last ack.
func publishAsync(ctx context.Context, p *refPublisher) error {
	var (
		mu       sync.Mutex
		firstErr error
	)
	js, err := jetstream.New(p.nc,
		jetstream.WithPublishAsyncMaxPending(refAsyncWindow),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) {
			p.acked.Add(1)
			p.meter.add(1)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}),
	)
	if err != nil {
		return err
	}
	for sent := int64(0); sent < p.limit && p.more() && ctx.Err() == nil; sent++ {
		if _, err := js.PublishAsync(refSubject, p.data, jetstream.WithStallWait(time.Minute)); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return errors.New("acks of async publishes did not arrive within a minute")
	case <-ctx.Done():
		return ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}

type refBatchAck struct {
	Seq   uint64 `json:"seq"`
	Count int    `json:"count"`
	Error *struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"error"`
}

// publishBatches has refBatchWriters publishers commit atomic batches of refBatchSize, the protocol of
// jsstore's group commit: Nats-Batch-Id and Nats-Batch-Sequence on every message, Nats-Batch-Commit on
// the last, which is sent as a request and answered with the batch's PubAck.
func publishBatches(ctx context.Context, p *refPublisher) error {
	var reserved atomic.Int64
	errs := make(chan error, refBatchWriters)
	var wg sync.WaitGroup
	for w := 0; w < refBatchWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p.more() && ctx.Err() == nil && reserved.Add(refBatchSize)-refBatchSize < p.limit {
				if err := commitBatch(ctx, p); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func commitBatch(ctx context.Context, p *refPublisher) error {
	id := nuid.Next()
	for i := 1; i <= refBatchSize; i++ {
		m := nats.NewMsg(refSubject)
		m.Data = p.data
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
		if i < refBatchSize {
			if err := p.nc.PublishMsg(m); err != nil {
				return err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := p.nc.RequestMsgWithContext(rctx, m)
		cancel()
		if err != nil {
			return fmt.Errorf("commit batch: %w", err)
		}
		var ack refBatchAck
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return fmt.Errorf("decode batch ack: %w", err)
		}
		if ack.Error != nil {
			return fmt.Errorf("batch refused: %s (%d)", ack.Error.Description, ack.Error.Code)
		}
		if ack.Count != refBatchSize {
			return fmt.Errorf("batch ack counts %d messages, sent %d", ack.Count, refBatchSize)
		}
		p.acked.Add(int64(ack.Count))
		p.meter.add(ack.Count)
	}
	return nil
}
