// Package vehiclesim is a simulated e-scooter: it records its own lock and unlock reports with its own
// clock, keeps them in an outbox (in memory, and in a file when given one, so that a restart loses
// none), and sends each to the platform, against every endpoint it knows, until one acknowledges it.
// A report made while the vehicle cannot reach any data center therefore arrives late, through
// whichever comes back first, which is what the platform's billing must cope with. It speaks only the
// public API through the Go client; it holds no rule of billing.
package vehiclesim

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
)

// Config is a simulated vehicle.
type Config struct {
	// Endpoints are the API base URLs the vehicle may reach, in the order it tries them.
	Endpoints []string
	// Vehicle is its id and Token its credential from POST /v1/vehicles.
	Vehicle string
	Token   string
	// Now is the vehicle's clock (default time.Now); tests give it a skewed or injected one.
	Now func() time.Time
	// OutboxFile, when set, keeps unacknowledged reports across restarts.
	OutboxFile string
	// MinBackoff and MaxBackoff bound the wait between rounds of attempts (default 200 ms and 10 s);
	// the wait doubles each round that fails and is drawn at random from its upper half.
	MinBackoff, MaxBackoff time.Duration
	// Discover lets the vehicle learn the cluster's other endpoints from GET /v1/endpoints. Off by
	// default: the endpoints given are the vehicle's view of the network.
	Discover bool
	// HTTPClient, when set, is used for every request.
	HTTPClient *http.Client
	// OnAck, when set, is told of every report the platform acknowledged (created false: it had it),
	// before the report leaves Pending.
	OnAck func(ev haetae.VehicleEvent, created bool)
	// OnDrop, when set, is told of a report the platform refused for good (a 4xx), which is dropped.
	OnDrop func(ev haetae.VehicleEvent, err error)
	// OnRetry, when set, is told of every failed round and how long the vehicle waits before the next.
	OnRetry func(ev haetae.VehicleEvent, err error, wait time.Duration)
}

// Simulator is one vehicle. Record and its shorthands may be called at any time, from any goroutine;
// Run delivers.
type Simulator struct {
	cfg  Config
	c    *client.Client
	wake chan struct{}

	mu       sync.Mutex
	outbox   []haetae.VehicleEvent
	attempts int
}

// New returns a vehicle, with the reports left in its outbox file by an earlier run.
func New(cfg Config) (*Simulator, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if err := haetae.ValidVehicleID(cfg.Vehicle); err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, errors.New("vehiclesim: the vehicle's token is required")
	}
	// One attempt per endpoint per call: the simulator's own loop is the retry, with its backoff.
	opts := []client.Option{client.WithToken(cfg.Token), client.WithRetryBudget(0), client.WithDiscovery(cfg.Discover)}
	if cfg.HTTPClient != nil {
		opts = append(opts, client.WithHTTPClient(cfg.HTTPClient))
	}
	c, err := client.New(cfg.Endpoints, opts...)
	if err != nil {
		return nil, err
	}
	s := &Simulator{cfg: cfg, c: c, wake: make(chan struct{}, 1)}
	if cfg.OutboxFile != "" {
		b, err := os.ReadFile(cfg.OutboxFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("vehiclesim: read outbox: %w", err)
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &s.outbox); err != nil {
				return nil, fmt.Errorf("vehiclesim: outbox %s: %w", cfg.OutboxFile, err)
			}
		}
	}
	return s, nil
}

// Lock records that the vehicle is locked now, by its own clock.
func (s *Simulator) Lock() (haetae.VehicleEvent, error) {
	return s.Record(haetae.VehicleLocked, s.cfg.Now())
}

// Unlock records that the vehicle is unlocked now, by its own clock.
func (s *Simulator) Unlock() (haetae.VehicleEvent, error) {
	return s.Record(haetae.VehicleUnlocked, s.cfg.Now())
}

// Record puts a report of typ at time at in the outbox, under a fresh client_id, and returns it. It
// is sent by Run.
func (s *Simulator) Record(typ string, at time.Time) (haetae.VehicleEvent, error) {
	b := make([]byte, 12)
	crand.Read(b)
	ev := haetae.VehicleEvent{Vehicle: s.cfg.Vehicle, ClientID: typ[:1] + "-" + hex.EncodeToString(b), Type: typ, At: at}
	s.mu.Lock()
	s.outbox = append(s.outbox, ev)
	err := s.save()
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return ev, err
}

// Pending returns the reports not acknowledged yet, oldest first.
func (s *Simulator) Pending() []haetae.VehicleEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]haetae.VehicleEvent(nil), s.outbox...)
}

// Attempts counts the failed rounds of delivery so far.
func (s *Simulator) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Run delivers the outbox, oldest report first, until ctx is done. A report is removed once the
// platform acknowledges it (2xx) or refuses it for good (4xx: it would never be taken); on anything
// else (no answer, 5xx, no quorum) the vehicle waits, backing off with jitter, and tries every
// endpoint again.
func (s *Simulator) Run(ctx context.Context) error {
	return s.deliver(ctx, false)
}

// Flush delivers the outbox like Run and returns once it is empty (or ctx is done).
func (s *Simulator) Flush(ctx context.Context) error {
	return s.deliver(ctx, true)
}

func (s *Simulator) deliver(ctx context.Context, untilEmpty bool) error {
	round := 0
	for {
		s.mu.Lock()
		var ev haetae.VehicleEvent
		empty := len(s.outbox) == 0
		if !empty {
			ev = s.outbox[0]
		}
		s.mu.Unlock()
		if empty {
			if untilEmpty {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.wake:
				continue
			}
		}
		kept, created, err := s.c.ReportVehicleEvent(ctx, ev)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *client.APIError
		switch {
		case err == nil:
			round = 0
			if s.cfg.OnAck != nil {
				s.cfg.OnAck(*kept, created)
			}
			if err := s.remove(ev.ClientID); err != nil {
				return err
			}
		case errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests:
			round = 0
			if s.cfg.OnDrop != nil {
				s.cfg.OnDrop(ev, err)
			}
			if err := s.remove(ev.ClientID); err != nil {
				return err
			}
		default:
			round++
			wait := s.backoff(round)
			s.mu.Lock()
			s.attempts++
			s.mu.Unlock()
			if s.cfg.OnRetry != nil {
				s.cfg.OnRetry(ev, err, wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// backoff is the wait after the n-th failed round in a row: doubling from MinBackoff up to
// MaxBackoff, drawn from its upper half so that a fleet that lost the same data center does not come
// back in step.
func (s *Simulator) backoff(n int) time.Duration {
	d := s.cfg.MaxBackoff
	if n < 30 {
		d = min(s.cfg.MinBackoff<<(n-1), s.cfg.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// remove takes a report out of the outbox for good.
func (s *Simulator) remove(clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outbox = slices.DeleteFunc(s.outbox, func(ev haetae.VehicleEvent) bool { return ev.ClientID == clientID })
	return s.save()
}

// save writes the outbox file, replacing it at once; s.mu is held.
func (s *Simulator) save() error {
	if s.cfg.OutboxFile == "" {
		return nil
	}
	b, _ := json.Marshal(s.outbox)
	tmp, err := os.CreateTemp(filepath.Dir(s.cfg.OutboxFile), filepath.Base(s.cfg.OutboxFile)+".*")
	if err != nil {
		return fmt.Errorf("vehiclesim: save outbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("vehiclesim: save outbox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vehiclesim: save outbox: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.cfg.OutboxFile); err != nil {
		return fmt.Errorf("vehiclesim: save outbox: %w", err)
	}
	return nil
}
