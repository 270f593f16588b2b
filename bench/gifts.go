package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/node"
)

// GiftConfig says what `haetae bench gifts` measures. Zero values mean the defaults of
// [DefaultGiftConfig], except Servers and AdminToken.
type GiftConfig struct {
	// Servers are the API endpoints to drive; empty starts an in-process node (fsync always) in a
	// temporary directory, with its redemption rate limit out of the way.
	Servers []string
	// AdminToken makes the merchants on Servers (the in-process node's own is used otherwise).
	AdminToken string
	// Merchants redeem concurrently, each logged in as its own merchant, each starting at server i mod
	// len(Servers).
	Merchants int
	// Gifts are sent first (not timed as redemptions), then redeemed.
	Gifts int
	// Contenders is how many merchants try each gift at once with their own keys (1: no contention).
	// Exactly one of them must win.
	Contenders int
	// Senders send the gifts concurrently.
	Senders int
	// Duration caps the redeeming phase.
	Duration time.Duration
	// TempDir is where the in-process node keeps its files.
	TempDir string
	// Node adjusts the in-process node's configuration before it starts.
	Node func(*node.Config)
	// CPUProfile, when set, receives a CPU profile of the redeeming phase.
	CPUProfile io.Writer
}

// DefaultGiftConfig is what `haetae bench gifts` runs with no flags.
func DefaultGiftConfig() GiftConfig {
	return GiftConfig{Merchants: 32, Gifts: 3000, Contenders: 1, Senders: 16, Duration: 2 * time.Minute}
}

func (c *GiftConfig) setDefaults() {
	d := DefaultGiftConfig()
	if c.Merchants <= 0 {
		c.Merchants = d.Merchants
	}
	if c.Gifts <= 0 {
		c.Gifts = d.Gifts
	}
	if c.Contenders <= 0 {
		c.Contenders = d.Contenders
	}
	c.Contenders = min(c.Contenders, c.Merchants)
	if c.Senders <= 0 {
		c.Senders = d.Senders
	}
	if c.Duration <= 0 {
		c.Duration = d.Duration
	}
}

// GiftResult is what one gifts run measured. Latencies are in milliseconds.
type GiftResult struct {
	Servers    []string `json:"servers,omitempty"`
	InProcess  bool     `json:"in_process"`
	Merchants  int      `json:"merchants"`
	Gifts      int      `json:"gifts"`
	Contenders int      `json:"contenders"`
	CPUs       int      `json:"cpus"`
	CPUModel   string   `json:"cpu_model,omitempty"`

	// Sending: gifts made per second, and one send's latency.
	Sent       int     `json:"sent"`
	SendErrors int     `json:"send_errors"`
	SentPerSec float64 `json:"sent_per_sec"`
	SendP50Ms  float64 `json:"send_p50_ms"`
	SendP99Ms  float64 `json:"send_p99_ms"`

	// Redeeming. Attempts counts redeem calls; Redeemed the 200s; AlreadyRedeemed the 409s of
	// contenders that lost; RateLimited the 429s (retried after Retry-After).
	Attempts        int     `json:"attempts"`
	Redeemed        int     `json:"redeemed"`
	AlreadyRedeemed int     `json:"already_redeemed"`
	RateLimited     int     `json:"rate_limited"`
	Errors          int     `json:"errors"`
	FirstError      string  `json:"first_error,omitempty"`
	Seconds         float64 `json:"seconds"`
	RedeemedPerSec  float64 `json:"redeemed_per_sec"`
	AttemptsPerSec  float64 `json:"attempts_per_sec"`
	P50Ms           float64 `json:"p50_ms"`
	P99Ms           float64 `json:"p99_ms"`
	MaxMs           float64 `json:"max_ms"`
	// Gifts redeemed by more than one merchant, or by none although every attempt on them was
	// answered: either is a bug.
	DoubleRedeemed int `json:"double_redeemed"`
	Unredeemed     int `json:"unredeemed"`
}

// Problems lists what went wrong in a run that still produced figures.
func (r *GiftResult) Problems() []string {
	var p []string
	if r.Redeemed == 0 {
		p = append(p, "no gift was redeemed")
	}
	if r.SendErrors > 0 {
		p = append(p, fmt.Sprintf("%d gift sends failed", r.SendErrors))
	}
	if r.Errors > 0 {
		p = append(p, fmt.Sprintf("%d redemption attempts failed; first: %s", r.Errors, r.FirstError))
	}
	if r.DoubleRedeemed > 0 {
		p = append(p, fmt.Sprintf("%d gifts were redeemed by more than one merchant", r.DoubleRedeemed))
	}
	if r.Unredeemed > 0 {
		p = append(p, fmt.Sprintf("%d gifts whose attempts were all answered are not redeemed", r.Unredeemed))
	}
	return p
}

// RunGifts sends cfg.Gifts gifts, then has cfg.Merchants merchants redeem them through the API, in
// teams of cfg.Contenders that try the same gift at once, and measures redemptions per second and their
// latency. Progress goes to progress (nil: none).
func RunGifts(ctx context.Context, cfg GiftConfig, progress io.Writer) (*GiftResult, error) {
	cfg.setDefaults()
	if progress == nil {
		progress = io.Discard
	}
	res := &GiftResult{Servers: cfg.Servers, InProcess: len(cfg.Servers) == 0, Merchants: cfg.Merchants, Gifts: cfg.Gifts,
		Contenders: cfg.Contenders, CPUs: numCPU(), CPUModel: cpuModel()}
	servers, admin := cfg.Servers, cfg.AdminToken
	if len(servers) == 0 {
		dir, err := os.MkdirTemp(cfg.TempDir, "haetae-bench-gifts-")
		if err != nil {
			return nil, fmt.Errorf("temp dir: %w", err)
		}
		defer os.RemoveAll(dir)
		n, err := startNode(ctx, dir, func(c *node.Config) {
			c.RedeemRate = 1e6 // measure the redemptions, not the limiter
			if cfg.Node != nil {
				cfg.Node(c)
			}
		})
		if err != nil {
			return nil, err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			n.Close(cctx)
		}()
		servers, admin = []string{n.URL()}, n.Config.AdminToken
	}
	if admin == "" {
		return nil, errors.New("bench gifts: the admin token is needed to make merchants (--admin-token-file)")
	}
	hc := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2*cfg.Merchants + 2*cfg.Senders + 16,
		MaxIdleConnsPerHost: 2*cfg.Merchants + 2*cfg.Senders + 16,
		IdleConnTimeout:     90 * time.Second,
	}}
	defer hc.CloseIdleConnections()
	id := runID()
	newClient := func(i int, token string) (*client.Client, error) {
		rotated := append(slices.Clone(servers[i%len(servers):]), servers[:i%len(servers)]...)
		return client.New(rotated, client.WithHTTPClient(hc), client.WithDiscovery(false), client.WithToken(token))
	}
	pw := "bench-" + id + "-password"

	// Accounts: sender i gives to receiver i; merchant j redeems.
	setup := startMeter(progress, 2*cfg.Senders+cfg.Merchants, "setup: users, merchants")
	senders := make([]*client.Client, cfg.Senders)
	receivers := make([]string, cfg.Senders)
	merchants := make([]*client.Client, cfg.Merchants)
	adminClient, err := newClient(0, admin)
	if err != nil {
		return nil, err
	}
	err = parallel(ctx, 2*cfg.Senders+cfg.Merchants, setupWorkers, func(ctx context.Context, i int) error {
		defer setup.add(1)
		var name string
		var c *client.Client
		var err error
		if c, err = newClient(i, ""); err != nil {
			return err
		}
		switch {
		case i < 2*cfg.Senders:
			name = fmt.Sprintf("gb-%s-u%d", id, i)
			if err := c.Register(ctx, name, pw); err != nil {
				return fmt.Errorf("register %s: %w", name, err)
			}
		default:
			name = fmt.Sprintf("gb-%s-m%d", id, i-2*cfg.Senders)
			if err := adminClient.CreateMerchant(ctx, name, pw); err != nil {
				return fmt.Errorf("make merchant %s: %w", name, err)
			}
		}
		if _, err := c.Login(ctx, name, pw); err != nil {
			return fmt.Errorf("log in %s: %w", name, err)
		}
		switch {
		case i < cfg.Senders:
			senders[i] = c
		case i < 2*cfg.Senders:
			receivers[i-cfg.Senders] = name
		default:
			merchants[i-2*cfg.Senders] = c
		}
		return nil
	})
	setup.finish()
	if err != nil {
		return nil, err
	}

	// Gifts.
	codes := make([]string, cfg.Gifts)
	var sendLat []int64
	var mu sync.Mutex
	bar := startMeter(progress, cfg.Gifts, "send gifts")
	start := time.Now()
	parallel(ctx, cfg.Gifts, cfg.Senders, func(ctx context.Context, i int) error {
		s := i % cfg.Senders
		t0 := time.Now()
		g, _, err := senders[s].SendGift(ctx, haetae.GiftRequest{ClientID: fmt.Sprintf("g%d", i), To: receivers[s], Product: fmt.Sprintf("bench %s coupon %d", id, i)})
		d := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.SendErrors++
			return nil
		}
		codes[i] = g.Code
		sendLat = append(sendLat, int64(d))
		res.Sent++
		bar.add(1)
		return nil
	})
	bar.finish()
	if s := time.Since(start).Seconds(); s > 0 {
		res.SentPerSec = float64(res.Sent) / s
	}
	res.SendP50Ms, res.SendP99Ms, _ = percentiles(sendLat)

	// Redemptions: teams of Contenders merchants take the next gift and try it at once.
	teams := cfg.Merchants / cfg.Contenders
	var next atomic.Int64
	var lat []int64
	winners := make([][]string, cfg.Gifts)
	answered := make([]bool, cfg.Gifts)
	bar = startMeter(progress, cfg.Gifts, fmt.Sprintf("redeem, %d per gift", cfg.Contenders))
	if cfg.CPUProfile != nil && pprof.StartCPUProfile(cfg.CPUProfile) == nil {
		defer pprof.StopCPUProfile()
	}
	start = time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for t := range teams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= cfg.Gifts {
					return
				}
				if codes[i] == "" {
					continue
				}
				var team sync.WaitGroup
				all := true
				for k := range cfg.Contenders {
					m := merchants[t*cfg.Contenders+k]
					team.Add(1)
					go func() {
						defer team.Done()
						ok := redeemOnce(ctx, m, codes[i], fmt.Sprintf("%s-g%d-k%d", id, i, k), res, &mu, &lat, &winners[i])
						if !ok {
							mu.Lock()
							all = false
							mu.Unlock()
						}
					}()
				}
				team.Wait()
				answered[i] = all
				bar.add(1)
			}
		}()
	}
	wg.Wait()
	bar.finish()
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.RedeemedPerSec = float64(res.Redeemed) / res.Seconds
		res.AttemptsPerSec = float64(res.Attempts) / res.Seconds
	}
	res.P50Ms, res.P99Ms, res.MaxMs = percentiles(lat)
	for i, w := range winners {
		switch {
		case len(w) > 1:
			res.DoubleRedeemed++
		case len(w) == 0 && answered[i] && codes[i] != "":
			res.Unredeemed++
		}
	}
	return res, ctx.Err()
}

// redeemOnce makes one merchant's redemption of one gift, retrying 429s after their Retry-After, and
// records the outcome. It reports whether a definite answer came.
func redeemOnce(ctx context.Context, m *client.Client, code, key string, res *GiftResult, mu *sync.Mutex, lat *[]int64, winners *[]string) bool {
	for {
		t0 := time.Now()
		r, err := m.Redeem(ctx, code, key)
		d := time.Since(t0)
		var ae *client.APIError
		mu.Lock()
		res.Attempts++
		switch {
		case err == nil:
			res.Redeemed++
			*lat = append(*lat, int64(d))
			if !slices.Contains(*winners, r.Redemption.Merchant) {
				*winners = append(*winners, r.Redemption.Merchant)
			}
			mu.Unlock()
			return true
		case haetae.ErrorCode(err) == haetae.EAlreadyRedeemed:
			res.AlreadyRedeemed++
			*lat = append(*lat, int64(d))
			mu.Unlock()
			return true
		case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
			res.RateLimited++
			mu.Unlock()
			if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
				return false
			}
			continue
		default:
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			mu.Unlock()
			return false
		}
	}
}

// Print writes the result for people.
func (r *GiftResult) Print(w io.Writer) error {
	var b strings.Builder
	server := "in-process node, fsync always"
	if !r.InProcess {
		server = strings.Join(r.Servers, ",")
	}
	fmt.Fprintf(&b, "haetae bench gifts: %d gifts, %d merchants, %d per gift; server: %s; machine: %d CPUs, %s\n\n",
		r.Gifts, r.Merchants, r.Contenders, server, r.CPUs, r.CPUModel)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  sent\t%d gifts, %d errors: %s gifts/s, latency p50 %s  p99 %s\n", r.Sent, r.SendErrors, thousands(r.SentPerSec), ms(r.SendP50Ms), ms(r.SendP99Ms))
	fmt.Fprintf(tw, "  redeemed\t%d in %.2fs: %s redemptions/s (%s attempts/s)\n", r.Redeemed, r.Seconds, thousands(r.RedeemedPerSec), thousands(r.AttemptsPerSec))
	fmt.Fprintf(tw, "  latency\tp50 %s  p99 %s  max %s  (one redeem call, 200 or 409)\n", ms(r.P50Ms), ms(r.P99Ms), ms(r.MaxMs))
	fmt.Fprintf(tw, "  answers\t%d × 200, %d × 409 already_redeemed, %d × 429 (retried), %d errors\n", r.Redeemed, r.AlreadyRedeemed, r.RateLimited, r.Errors)
	fmt.Fprintf(tw, "  exactly once\t%d gifts redeemed twice, %d left unredeemed\n", r.DoubleRedeemed, r.Unredeemed)
	tw.Flush()
	if p := r.Problems(); len(p) > 0 {
		b.WriteString("\nPROBLEMS\n")
		for _, s := range p {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
