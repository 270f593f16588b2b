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

// BenchmarkMillionRoomSubjects checks the data model's claim that a million rooms are a million subjects
// of one stream: it writes one message to each of a million room subjects (lazily synced: this measures
// the subject index, not the disk), then reports the memory the server keeps per subject and what a
// room's last message and a filtered count (the unread number) cost to read among them.
func BenchmarkMillionRoomSubjects(b *testing.B) {
	const rooms = 1_000_000
	ns, err := embednats.Start(embednats.Config{DataDir: b.TempDir(), ServerName: "rooms", LazySync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	nc, _ := ns.Connect("rooms")
	defer nc.Close()
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"haetae.msg.0.*"}, AllowDirect: true})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	data := make([]byte, 100)
	subject := func(i int) string { return fmt.Sprintf("haetae.msg.0.r%015d", i) }
	for i := 0; i < rooms; i++ {
		if _, err := js.PublishAsync(subject(i), data); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	info, _ := st.Info(ctx, jetstream.WithSubjectFilter("haetae.msg.0.r00000000000001*"))
	if info.State.NumSubjects != rooms {
		b.Fatalf("stream holds %d subjects, want %d", info.State.NumSubjects, rooms)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		subj := subject((i * 7919) % rooms)
		if _, err := st.GetLastMsgForSubject(ctx, subj); err != nil {
			b.Fatal(err)
		}
		req := nats.NewMsg("$JS.API.DIRECT.GET.R")
		req.Data = []byte(`{"seq":1,"next_by_subj":"` + subj + `","batch":1}`)
		if _, err := nc.RequestMsg(req, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))/rooms, "heap-bytes/room")
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/room-read")
}
