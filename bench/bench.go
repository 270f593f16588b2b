// Package bench measures Haetae: concurrent clients send messages through the real HTTP API while
// WebSocket subscribers receive them, and, as references, raw JetStream publishes on the same machine.
// It drives a node only from outside (package client), or starts one in-process exactly as `haetae serve`
// would; it must not reach into a node's internals, so its figures are what a user would see. `haetae
// bench` is a thin command over [Run] and [Result.Print]. The surge scenario of `haetae load` ([RunLoad],
// [LoadReport]) drives a node the same way with a baseline, a 10x surge of a realistic mix and the
// recovery, and reads the node's own figures only from its /metrics.
package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/node"
)

// Config says what to measure. The zero value of a field means its default (see [DefaultConfig]), except
// Servers, Rate, Refs and Node.
type Config struct {
	// Servers are the API endpoints to drive; empty starts an in-process node with fsync always in a
	// temporary directory that is removed afterwards.
	Servers []string
	// Clients send concurrently, each logged in as its own user.
	Clients int
	// Messages is how many messages are sent in total.
	Messages int
	// Rooms the messages are spread over, round robin.
	Rooms int
	// Subscribers follow the rooms over WebSockets; every room has at least one.
	Subscribers int
	// Batch, above 1, sends that many messages per request (POST .../messages/batch), all to one room;
	// 0 or 1 sends one message per request.
	Batch int
	// Rate is the target of messages per second over all clients; 0 sends as fast as acknowledgements
	// come back.
	Rate float64
	// Duration caps the sending: it stops at Messages or Duration, whichever comes first.
	Duration time.Duration
	// DrainTimeout bounds the wait for subscribers to receive what was acknowledged.
	DrainTimeout time.Duration
	// TextBytes is the size of each message's text.
	TextBytes int
	// Refs also measures raw JetStream publishing, each pattern against its own fresh server.
	Refs bool
	// RefDuration and RefMessages bound each reference: whichever comes first.
	RefDuration time.Duration
	RefMessages int
	// TempDir is where the in-process node and the references keep their files; "" is the system's.
	TempDir string
	// CPUProfile, when set, receives a CPU profile of the sending phase only (set-up, such as hashing
	// the passwords of the bench users, would drown it).
	CPUProfile io.Writer
	// Node, when set, adjusts the in-process node's configuration before it starts (tests make password
	// hashing cheap with it).
	Node func(*node.Config)
}

// DefaultConfig is what `haetae bench` runs with no flags.
func DefaultConfig() Config {
	return Config{
		Clients:      64,
		Messages:     50000,
		Rooms:        16,
		Subscribers:  16,
		Duration:     2 * time.Minute,
		DrainTimeout: 15 * time.Second,
		TextBytes:    200,
		Refs:         true,
		RefDuration:  5 * time.Second,
		RefMessages:  20000,
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.Clients <= 0 {
		c.Clients = d.Clients
	}
	if c.Messages <= 0 {
		c.Messages = d.Messages
	}
	if c.Rooms <= 0 {
		c.Rooms = d.Rooms
	}
	c.Batch = min(max(c.Batch, 1), haetae.SendBatchMax)
	if c.Subscribers < 0 {
		c.Subscribers = 0
	}
	if c.Duration <= 0 {
		c.Duration = d.Duration
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if c.TextBytes <= 0 {
		c.TextBytes = d.TextBytes
	}
	if c.RefDuration <= 0 {
		c.RefDuration = d.RefDuration
	}
	if c.RefMessages <= 0 {
		c.RefMessages = d.RefMessages
	}
}

// Result is what one run measured. Latencies are in milliseconds; rates in messages per second.
type Result struct {
	Config ResultConfig `json:"config"`
	HTTP   HTTPResult   `json:"http"`
	// Refs are the raw JetStream references, in the order they ran; empty when skipped.
	Refs []RefResult `json:"refs,omitempty"`
}

// ResultConfig echoes the parameters a result was measured with.
type ResultConfig struct {
	Servers     []string `json:"servers,omitempty"`
	InProcess   bool     `json:"in_process"`
	Clients     int      `json:"clients"`
	Batch       int      `json:"batch"`
	Messages    int      `json:"messages"`
	Rooms       int      `json:"rooms"`
	Subscribers int      `json:"subscribers"`
	Rate        float64  `json:"rate"`
	Duration    string   `json:"duration"`
	TextBytes   int      `json:"text_bytes"`
	CPUs        int      `json:"cpus"`
	CPUModel    string   `json:"cpu_model,omitempty"`
}

// HTTPResult is the measurement through the API.
type HTTPResult struct {
	// Sent counts send requests made; Acked those answered with the committed message.
	Sent   int `json:"sent"`
	Acked  int `json:"acked"`
	Errors int `json:"errors"`
	// FirstError is the first send error, if any.
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	// AckedPerSec is Acked over the time from the first send to the last answer.
	AckedPerSec float64 `json:"acked_per_sec"`
	SendP50Ms   float64 `json:"send_p50_ms"`
	SendP99Ms   float64 `json:"send_p99_ms"`
	SendMaxMs   float64 `json:"send_max_ms"`
	// Delivery latency runs from the start of a message's send request to its arrival at a subscriber.
	DeliveryP50Ms float64 `json:"delivery_p50_ms"`
	DeliveryP99Ms float64 `json:"delivery_p99_ms"`
	DeliveryMaxMs float64 `json:"delivery_max_ms"`
	// Deliveries counts messages received by subscribers (each subscription counts its own); Expected is
	// what they should have received: every acknowledged message of each subscription's room.
	Deliveries int `json:"deliveries"`
	Expected   int `json:"expected"`
	// Missing acknowledged messages a subscription never received; Duplicates received more than once;
	// OutOfOrder arrived with a seq not above the previous one.
	Missing    int `json:"missing"`
	Duplicates int `json:"duplicates"`
	OutOfOrder int `json:"out_of_order"`
	// SubscriberErrors are subscriptions that ended early, with why.
	SubscriberErrors []string `json:"subscriber_errors,omitempty"`
	// PeakRSSBytes is the process's VmHWM after sending; RSSScope says whose memory that is.
	PeakRSSBytes int64  `json:"peak_rss_bytes"`
	RSSScope     string `json:"rss_scope"`
}

// RefResult is one raw JetStream reference.
type RefResult struct {
	Name     string  `json:"name"`
	Fsync    string  `json:"fsync"`
	Acked    int     `json:"acked"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_sec"`
	Error    string  `json:"error,omitempty"`
	Describe string  `json:"describe"`
}

// Run measures according to cfg, drawing progress bars on progress (nil draws none). It fails only when
// the measurement could not be made at all; send errors and missing deliveries are counted in the result.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	cfg.setDefaults()
	if progress == nil {
		progress = io.Discard
	}
	res := &Result{Config: ResultConfig{
		Servers:     cfg.Servers,
		InProcess:   len(cfg.Servers) == 0,
		Clients:     cfg.Clients,
		Batch:       cfg.Batch,
		Messages:    cfg.Messages,
		Rooms:       cfg.Rooms,
		Subscribers: cfg.Subscribers,
		Rate:        cfg.Rate,
		Duration:    cfg.Duration.String(),
		TextBytes:   cfg.TextBytes,
		CPUs:        numCPU(),
		CPUModel:    cpuModel(),
	}}
	servers := cfg.Servers
	if len(servers) == 0 {
		// A few bench clients stand for many users, each sending far more than a person could: the
		// per-client rate limits, which would hold each of them to 200 requests a second, are not what
		// is measured here.
		n, stop, err := startTempNode(ctx, cfg.TempDir, "haetae-bench-node-", func(c *node.Config) {
			c.TokenRate, c.AddrRate = node.RateLimit{}, node.RateLimit{}
		}, cfg.Node)
		if err != nil {
			return nil, err
		}
		defer stop()
		servers = []string{n.URL()}
	}
	h, err := runHTTP(ctx, cfg, servers, progress)
	if err != nil {
		return nil, fmt.Errorf("http bench: %w", err)
	}
	res.HTTP = *h
	if cfg.Refs {
		for _, ref := range refs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			r := runRef(ctx, cfg, ref, progress)
			res.Refs = append(res.Refs, r)
		}
	}
	return res, ctx.Err()
}

// Problems lists what went wrong in a run that still produced figures: failed sends, lost, duplicated
// or reordered deliveries, failed references. A clean run has none.
func (r *Result) Problems() []string {
	var p []string
	h := &r.HTTP
	if h.Acked == 0 {
		p = append(p, "no message was acknowledged")
	}
	if h.Errors > 0 {
		p = append(p, fmt.Sprintf("%d sends failed; first: %s", h.Errors, h.FirstError))
	}
	if h.Missing > 0 {
		p = append(p, fmt.Sprintf("%d acknowledged messages never reached a subscriber of their room", h.Missing))
	}
	if h.Duplicates > 0 {
		p = append(p, fmt.Sprintf("%d messages were delivered more than once to a subscription", h.Duplicates))
	}
	if h.OutOfOrder > 0 {
		p = append(p, fmt.Sprintf("%d messages were delivered out of seq order", h.OutOfOrder))
	}
	for _, e := range h.SubscriberErrors {
		p = append(p, "subscriber: "+e)
	}
	for _, ref := range r.Refs {
		if ref.Error != "" {
			p = append(p, fmt.Sprintf("reference %q: %s", ref.Name, ref.Error))
		}
	}
	return p
}
