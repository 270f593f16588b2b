package jsstore_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/haetae/haetae/embednats"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkDedupeWindowMemory measures what JetStream's duplicate window costs in memory per remembered
// message id, with ids shaped like Haetae's (room/from/client_id). It publishes the same messages with
// and without ids and reports the difference of the live heap per message, in the same run.
func BenchmarkDedupeWindowMemory(b *testing.B) {
	const n = 200000
	heap := func(withIDs bool) uint64 {
		ns, err := embednats.Start(embednats.Config{DataDir: b.TempDir(), ServerName: "mem", LazySync: true})
		if err != nil {
			b.Fatal(err)
		}
		defer ns.Shutdown()
		nc, err := ns.Connect("mem")
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx := context.Background()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"m.*"}, Duplicates: time.Hour}); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < n; i++ {
			m := nats.NewMsg("m.abcdefghijklmnop")
			m.Data = make([]byte, 200)
			if withIDs {
				m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("abcdefghijklmnop/user%06d/client-%012d", i%1000, i))
			}
			if _, err := js.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		<-js.PublishAsyncComplete()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	}
	for i := 0; i < b.N; i++ {
		without := heap(false)
		with := heap(true)
		b.ReportMetric(float64(int64(with)-int64(without))/n, "bytes/id")
	}
}
