package admission

import "github.com/prometheus/client_golang/prometheus"

// Collector returns the limiter's metrics for /metrics: the adaptive limit, the work in flight, and per
// class the work waiting, admitted and shed (by reason), and the rate shed over the last 10 seconds.
func (l *Limiter) Collector() prometheus.Collector { return (*collector)(l) }

type collector Limiter

var (
	descLimit    = prometheus.NewDesc("haetae_admission_limit", "The adaptive limit on requests in flight (0 with --no-limiter).", nil, nil)
	descInflight = prometheus.NewDesc("haetae_admission_inflight", "Admitted requests and frames not yet done.", nil, nil)
	descQueued   = prometheus.NewDesc("haetae_admission_queued", "Requests and frames waiting for a slot, by priority class.", []string{"class"}, nil)
	descAdmitted = prometheus.NewDesc("haetae_admission_admitted_total", "Requests and frames admitted, by priority class.", []string{"class"}, nil)
	descShed     = prometheus.NewDesc("haetae_admission_shed_total", "Requests and frames shed unserved (503 overloaded), by priority class and reason.", []string{"class", "reason"}, nil)
	descShedRate = prometheus.NewDesc("haetae_admission_shed_per_second", "Requests and frames shed per second over the last 10 seconds, by priority class.", []string{"class"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLimit, descInflight, descQueued, descAdmitted, descShed, descShedRate} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	l := (*Limiter)(c)
	s := l.Stats()
	per, _ := l.window.rates()
	ch <- prometheus.MustNewConstMetric(descLimit, prometheus.GaugeValue, float64(s.Limit))
	ch <- prometheus.MustNewConstMetric(descInflight, prometheus.GaugeValue, float64(s.Inflight))
	for _, cl := range Classes {
		name := cl.String()
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.Queued[cl]), name)
		ch <- prometheus.MustNewConstMetric(descAdmitted, prometheus.CounterValue, float64(s.Admitted[cl]), name)
		for reason, n := range s.Shed[cl] {
			ch <- prometheus.MustNewConstMetric(descShed, prometheus.CounterValue, float64(n), name, reason)
		}
		ch <- prometheus.MustNewConstMetric(descShedRate, prometheus.GaugeValue, per[cl], name)
	}
}
