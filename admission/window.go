package admission

import (
	"sync"
	"time"
)

// rateWindow counts events per class in one-second buckets over the last n seconds, so that a rate "now"
// neither remembers an old surge nor flickers with every second.
type rateWindow struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets []bucket
}

type bucket struct {
	sec    int64 // Unix second the counts belong to
	counts [numClasses]int64
}

func newRateWindow(seconds int, now func() time.Time) *rateWindow {
	return &rateWindow{now: now, buckets: make([]bucket, seconds)}
}

func (w *rateWindow) add(c Class, n int64) {
	sec := w.now().Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	b := &w.buckets[int(sec%int64(len(w.buckets)))]
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	b.counts[c] += n
}

// rates returns the events per second of each class and of all together over the window's seconds
// before the current one and the current one itself.
func (w *rateWindow) rates() (per [numClasses]float64, total float64) {
	sec := w.now().Unix()
	n := int64(len(w.buckets))
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.buckets {
		if b.sec > sec-n && b.sec <= sec {
			for c := range b.counts {
				per[c] += float64(b.counts[c])
			}
		}
	}
	for c := range per {
		per[c] /= float64(n)
		total += per[c]
	}
	return per, total
}
