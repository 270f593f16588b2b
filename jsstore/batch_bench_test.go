package jsstore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/haetae/haetae/embednats"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// BenchmarkCommitBySize measures what one commit costs on a single node with fsync always, by the number
// of messages in it: an atomic batch (what the batcher sends from atomicMin messages on) against the same
// messages published one by one, pipelined (what it sends below atomicMin). The crossover is where
// atomicMin belongs.
func BenchmarkCommitBySize(b *testing.B) {
	ns, err := embednats.Start(embednats.Config{DataDir: b.TempDir(), ServerName: "bench", MaxBatchSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := ns.Connect("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.*"}, AllowAtomicPublish: true, Duplicates: 15 * time.Minute}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 200)
	id := 0
	msg := func(i int) *nats.Msg {
		id++
		m := nats.NewMsg("s.room" + strconv.Itoa(i%16))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, "id"+strconv.Itoa(id))
		return m
	}
	for _, size := range []int{1, 4, 16, 64, 256} {
		b.Run(fmt.Sprintf("atomic/%d", size), func(b *testing.B) {
			for n := 0; n < b.N; n++ {
				bid := nuid.Next()
				for i := 0; i < size; i++ {
					m := msg(i)
					m.Header.Set("Nats-Batch-Id", bid)
					m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
					if i < size-1 {
						nc.PublishMsg(m)
						continue
					}
					m.Header.Set("Nats-Batch-Commit", "1")
					r, err := nc.RequestMsg(m, 10*time.Second)
					if err != nil || len(r.Data) < 3 || r.Data[2] != 's' {
						b.Fatalf("commit: %v %s", err, r.Data)
					}
				}
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
		b.Run(fmt.Sprintf("each/%d", size), func(b *testing.B) {
			for n := 0; n < b.N; n++ {
				futures := make([]jetstream.PubAckFuture, size)
				for i := range futures {
					if futures[i], err = js.PublishMsgAsync(msg(i)); err != nil {
						b.Fatal(err)
					}
				}
				for _, f := range futures {
					select {
					case <-f.Ok():
					case err := <-f.Err():
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
