package node

import (
	"time"

	"github.com/haetae/haetae/jsstore"
	"github.com/prometheus/client_golang/prometheus"
)

// registerStoreMetrics exposes the group commit and live fan-out of the store.
func registerStoreMetrics(reg *prometheus.Registry, cfg *jsstore.Config) {
	batchSize := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "haetae_commit_batch_messages", Help: "Messages per JetStream commit (group commit).",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
	})
	batchTime := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "haetae_commit_batch_seconds", Help: "Time to commit one batch to JetStream, fsync included.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	delivered := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "haetae_live_delivered_total", Help: "Messages handed to live subscribers on this node.",
	})
	reg.MustRegister(batchSize, batchTime, delivered)
	cfg.OnCommit = func(n int, took time.Duration) {
		batchSize.Observe(float64(n))
		batchTime.Observe(took.Seconds())
	}
	cfg.OnDeliver = func(n int) { delivered.Add(float64(n)) }
}

// registerLeaderMetrics exports which streams this node leads, haetae_stream_leader{stream} = 1 or 0, so
// that operators (and the fault drills, from outside) see where each stream's writes go.
func registerLeaderMetrics(reg *prometheus.Registry, streams []string, isLeader func(string) bool) {
	for _, s := range streams {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "haetae_stream_leader",
			Help:        "1 if this node leads the JetStream stream, else 0.",
			ConstLabels: prometheus.Labels{"stream": s},
		}, func() float64 {
			if isLeader(s) {
				return 1
			}
			return 0
		}))
	}
}
