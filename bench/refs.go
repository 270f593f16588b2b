package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
	// replicas is 1 (one embedded server) or 3 (three embedded servers clustered over loopback routes,
	// each tagged as its own data center, the stream placed one replica per server).
	replicas int
	publish  func(ctx context.Context, p *refPublisher) error
}

// refs are the references in the order they run and are printed.
var refs = []refKind{
	{name: "JetStream: 1 sync publish at a time", describe: "one js.Publish at a time, each waiting for its ack", publish: publishSync},
	{name: "JetStream: async, 4096 in flight", describe: "PublishAsync with a window of 4096 pending acks", publish: publishAsync},
	{name: "JetStream: atomic batches of 100", describe: "4 publishers, each committing atomic batches of 100 (Nats-Batch-* headers)", publish: publishBatches},
	{name: "JetStream: async, 4096 in flight", describe: "PublishAsync with a window of 4096, server fsyncs lazily (every 2 min)", lazy: true, publish: publishAsync},
	{name: "JetStream R3: async, 4096 in flight", describe: "three clustered servers, R3 stream: PublishAsync with a window of 4096 (fsync always)", replicas: 3, publish: publishAsync},
	{name: "JetStream R3: atomic batches of 100", describe: "three clustered servers, R3 stream: 4 publishers of atomic batches of 100 (fsync always)", replicas: 3, publish: publishBatches},
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
	servers, err := startRefServers(dir, k)
	for _, ns := range servers {
		defer ns.Shutdown()
	}
	if err != nil {
		return fail(err)
	}
	nc, err := servers[0].Connect("bench-ref")
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(sctx, 2*time.Second)
		_, err = js.CreateStream(actx, jetstream.StreamConfig{
			Name:               refStream,
			Subjects:           []string{refSubject},
			Storage:            jetstream.FileStorage,
			Replicas:           max(k.replicas, 1),
			AllowAtomicPublish: true,
		})
		acancel()
		if err == nil || sctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // a cluster answers only once its meta leader is elected
	}
	if err != nil {
		return fail(fmt.Errorf("create stream: %w", err))
	}
	// A stream just created may have no leader yet (an R3 stream elects one after creation), and a
	// publish before then gets "no responders": one acknowledged publish, not timed, says it is ready.
	for {
		actx, acancel := context.WithTimeout(sctx, 2*time.Second)
		_, err = js.Publish(actx, refSubject, []byte("ready"))
		acancel()
		if err == nil || sctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fail(fmt.Errorf("stream not ready: %w", err))
	}
	fsync := "fsync " + res.Fsync
	if k.replicas > 1 {
		fsync = "R3, fsync always"
	}
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

// startRefServers starts the embedded servers of a reference: one, or three clustered over loopback
// routes, each tagged with a data center of its own, as a Haetae cluster is.
func startRefServers(dir string, k refKind) ([]*embednats.Server, error) {
	if k.replicas <= 1 {
		ns, err := embednats.Start(embednats.Config{DataDir: dir, ServerName: "bench-ref", LazySync: k.lazy, MaxBatchSize: refBatchSize})
		if err != nil {
			return nil, err
		}
		return []*embednats.Server{ns}, nil
	}
	routes := make([]string, k.replicas)
	for i := range routes {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		routes[i] = addr
	}
	secret := nuid.Next() + nuid.Next() // one per run, the same on every server
	servers := make([]*embednats.Server, k.replicas)
	errs := make([]error, k.replicas)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dc := fmt.Sprintf("ref%d", i+1)
			servers[i], errs[i] = embednats.Start(embednats.Config{
				DataDir:      fmt.Sprintf("%s/%s", dir, dc),
				ServerName:   dc,
				LazySync:     k.lazy,
				MaxBatchSize: refBatchSize,
				StartTimeout: time.Minute,
				Cluster: &embednats.Cluster{
					Name: "bench-ref", DC: dc, Listen: routes[i], Peers: routes,
					User: "bench", Secret: secret,
				},
			})
		}()
	}
	wg.Wait()
	var live []*embednats.Server
	for _, s := range servers {
		if s != nil {
			live = append(live, s)
		}
	}
	return live, errors.Join(errs...)
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
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
