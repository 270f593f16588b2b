package node

import (
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/jsstore"
	"github.com/haetae/haetae/status"
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

// registerIncidentMetrics exposes the incident history as this node serves it.
func registerIncidentMetrics(reg *prometheus.Registry, svc *status.Service) {
	for _, impact := range []string{haetae.ImpactMinor, haetae.ImpactMajor, haetae.ImpactCritical} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "haetae_incidents_open", Help: "Open incidents in the history this node serves, by impact.",
			ConstLabels: prometheus.Labels{"impact": impact},
		}, func() float64 { open, _, _ := svc.Counts(); return float64(open[impact]) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "haetae_incidents_local", Help: "Incidents this node saw while it could not write the replicated history, not merged yet.",
	}, func() float64 { _, local, _ := svc.Counts(); return float64(local) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "haetae_incident_history_age_seconds", Help: "How old this node's copy of the incident history is.",
	}, func() float64 { _, _, age := svc.Counts(); return age.Seconds() }))
}

// registerWebhookMetrics counts webhook deliveries by how they ended.
func registerWebhookMetrics(reg *prometheus.Registry, n *status.Notifier) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "haetae_webhook_deliveries_total", Help: "Webhook deliveries by outcome: ok, failed (after every retry) or dropped (queue full).",
	}, []string{"outcome"})
	for _, o := range []string{"ok", "failed", "dropped"} {
		c.WithLabelValues(o)
	}
	reg.MustRegister(c)
	n.Result = func(outcome string) { c.WithLabelValues(outcome).Inc() }
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
