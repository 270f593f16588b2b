package httpapi

import (
	"strconv"
	"time"

	"github.com/haetae/haetae/admission"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	sent     prometheus.Counter
	liveSubs prometheus.Gauge
	liveConn prometheus.Gauge
	frames   prometheus.Counter
	slow     prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, lim *admission.Limiter, rates ...*admission.RateLimiter) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "haetae_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "haetae_http_request_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route"}),
		sent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "haetae_messages_sent_total", Help: "Messages committed through this node's API (repeats not counted)."}),
		liveSubs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "haetae_live_subscriptions", Help: "Live room subscriptions open on this node."}),
		liveConn: prometheus.NewGauge(prometheus.GaugeOpts{Name: "haetae_live_connections", Help: "WebSocket connections open on this node."}),
		frames:   prometheus.NewCounter(prometheus.CounterOpts{Name: "haetae_live_frames_sent_total", Help: "Frames written to WebSocket clients."}),
		slow:     prometheus.NewCounter(prometheus.CounterOpts{Name: "haetae_live_slow_consumers_total", Help: "Live connections closed with 1013 because a subscription fell too far behind (the client resumes from its cursor)."}),
	}
	reg.MustRegister(m.requests, m.latency, m.sent, m.liveSubs, m.liveConn, m.frames, m.slow, lim.Collector(),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "haetae_rate_limited_total", Help: "Requests refused with 429 because their client was over its own rate."}, func() float64 {
			var n int64
			for _, r := range rates {
				n += r.Limited()
			}
			return float64(n)
		}))
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	if status == 0 {
		status = 200
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
