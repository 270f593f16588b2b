package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// percentiles returns p50, p99 and the maximum of ns durations, in milliseconds; zeros when empty.
func percentiles(ns []int64) (p50, p99, maxMs float64) {
	if len(ns) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ns)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return float64(s[max(i, 0)]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99), float64(s[len(s)-1]) / float64(time.Millisecond)
}

// peakRSS is this process's peak resident set size (VmHWM) in bytes, 0 where /proc is missing.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func numCPU() int { return runtime.NumCPU() }

// NumCPU is the number of CPUs of this machine, for reports.
func NumCPU() int { return numCPU() }

// CPUModel is the model name of this machine's CPU, for reports ("" where unknown).
func CPUModel() string { return cpuModel() }

// cpuModel is the first "model name" of /proc/cpuinfo, "" where there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// meter counts progress from any goroutine and redraws a progress bar from its own, so counting never
// waits on the terminal.
type meter struct {
	n     atomic.Int64
	bar   *progressbar.ProgressBar
	w     io.Writer
	desc  string
	start time.Time
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func startMeter(w io.Writer, total int, desc string) *meter {
	m := &meter{w: w, desc: desc, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	m.bar = progressbar.NewOptions(max(total, 1),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(m.describe()),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetVisibility(w != io.Discard),
	)
	go func() {
		defer close(m.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.bar.Describe(m.describe())
				m.bar.Set64(m.n.Load())
			case <-m.stop:
				return
			}
		}
	}()
	return m
}

func (m *meter) add(n int) { m.n.Add(int64(n)) }

// describe is the bar's label with the mean rate so far; the bar's own rate is a rolling average that
// starts out absurd.
func (m *meter) describe() string {
	rate := ""
	if s := time.Since(m.start).Seconds(); s > 0.2 {
		rate = fmt.Sprintf("%.0f/s", float64(m.n.Load())/s)
	}
	return fmt.Sprintf("%-42s %8s", m.desc, rate)
}

// finish draws the final count and ends the bar's line.
func (m *meter) finish() {
	m.once.Do(func() {
		close(m.stop)
		<-m.done
		m.bar.Describe(m.describe())
		m.bar.Set64(m.n.Load())
		if m.w != io.Discard {
			if !m.bar.IsFinished() {
				m.bar.Exit()
			}
			fmt.Fprintln(m.w)
		}
	})
}
