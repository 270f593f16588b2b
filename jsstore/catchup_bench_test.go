package jsstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/haetae/haetae/embednats"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkCatchUp compares the two ways a live subscription could read a room's recent messages: an
// ordered consumer filtered on the room's subject (what a JetStream client would reach for), and the
// batch direct get with next_by_subj that the hub uses. Besides speed there is availability: creating
// any consumer goes through the JetStream meta leader, which may sit in the data center just lost,
// while a direct get is answered by any replica of the stream.
func BenchmarkCatchUp(b *testing.B) {
	const rooms, perRoom = 1000, 20
	ns, err := embednats.Start(embednats.Config{DataDir: b.TempDir(), ServerName: "catchup", LazySync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	nc, _ := ns.Connect("catchup")
	defer nc.Close()
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "C", Subjects: []string{"haetae.msg.0.*"}, AllowDirect: true})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 200)
	for i := 0; i < perRoom; i++ {
		for r := 0; r < rooms; r++ {
			if _, err := js.PublishAsync(fmt.Sprintf("haetae.msg.0.r%d", r), data); err != nil {
				b.Fatal(err)
			}
		}
	}
	<-js.PublishAsyncComplete()
	room := func(i int) string { return fmt.Sprintf("haetae.msg.0.r%d", (i*7919)%rooms) }

	b.Run("ordered_consumer", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, err := st.OrderedConsumer(cctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{room(i)}})
			if err != nil {
				b.Fatal(err)
			}
			batch, err := c.FetchNoWait(perRoom)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for range batch.Messages() {
				n++
			}
			cancel()
			if n != perRoom {
				b.Fatalf("read %d messages, want %d", n, perRoom)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/catch-up")
	})
	b.Run("direct_get_next_by_subj", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			msgs, _, err := directGetBatch(cctx, nc, "C", directGetReq{Seq: 1, NextFor: room(i), Batch: perRoom})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			if len(msgs) != perRoom {
				b.Fatalf("read %d messages, want %d", len(msgs), perRoom)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/catch-up")
	})
}
