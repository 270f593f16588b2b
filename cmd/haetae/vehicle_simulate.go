package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/vehiclesim"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func vehicleSimulateCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "vehicle simulate")
	vehicle := fs.String("vehicle", "", "the vehicle's `id`")
	tokenValue := fs.String("token", "", "the vehicle's `token` (prefer --token-file, which ps cannot show)")
	tokenFile := fs.String("token-file", "", "`file` holding the vehicle's token, as written by 'vehicle register --token-file'")
	outbox := fs.String("outbox", "", "`file` keeping reports not yet acknowledged across restarts (default: vehicle-<id>.outbox.json in --config-dir)")
	ride := fs.Duration("ride", 0, "simulate one ride and exit: unlock now, lock after this `duration`, deliver both")
	discover := fs.Bool("discover", false, "also use the endpoints the first node that answers lists (default: only --server)")
	maxBackoff := fs.Duration("max-backoff", 10*time.Second, "longest `wait` between rounds of attempts")
	skew := fs.Duration("clock-skew", 0, "run the vehicle's clock this `duration` ahead of this machine's (negative: behind)")
	cmd := &ffcli.Command{
		Name:       "simulate",
		ShortUsage: "haetae vehicle simulate --vehicle ID --token-file FILE [flags]",
		ShortHelp:  "act as a vehicle: report its lock and unlock until the platform acknowledges them",
		LongHelp: `Act as the vehicle ID. Each report (locked or unlocked, at the vehicle's clock) goes into an
outbox file and is sent to the --server endpoints, one after the other, until one acknowledges it;
between rounds the vehicle waits, doubling the wait up to --max-backoff, with jitter. A report made
while no endpoint can be reached is delivered late, when one comes back, which is how a real vehicle
behaves during an outage. Stopping the command (Ctrl-C) keeps what is undelivered in the outbox for
the next run.

With --ride, it unlocks, waits, locks, delivers both and exits. Without it, it reads commands from
standard input, one a line, and delivers what is left at the end of the input:

  unlock            report an unlock now
  lock              report a lock now
  lock TIME         report a lock at TIME (RFC 3339), as a vehicle whose clock is off would
  pending           list the reports not acknowledged yet

Example:

  haetae vehicle simulate --vehicle S-0042 --token-file s42.token --server http://dc1:8080,http://dc2:8080 --ride 3m
  echo lock | haetae vehicle simulate --vehicle S-0042 --token-file s42.token`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if _, err := exactArgs(env, cmd, fs, args); err != nil {
			return err
		}
		if *vehicle == "" {
			return wrongArgs(env, cmd, "name the vehicle with --vehicle")
		}
		token := *tokenValue
		if token == "" && *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return fmt.Errorf("vehicle token: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		if token == "" {
			return wrongArgs(env, cmd, "give the vehicle's token with --token-file or --token")
		}
		if *outbox == "" && cf.configDir != "" {
			if err := os.MkdirAll(cf.configDir, 0o700); err != nil {
				return err
			}
			*outbox = filepath.Join(cf.configDir, "vehicle-"+*vehicle+".outbox.json")
		}
		out := &lockedWriter{w: env}
		sim, err := vehiclesim.New(vehiclesim.Config{
			Endpoints:  cf.servers(nil),
			Vehicle:    *vehicle,
			Token:      token,
			Now:        func() time.Time { return time.Now().Add(*skew) },
			OutboxFile: *outbox,
			MaxBackoff: *maxBackoff,
			Discover:   *discover,
			OnAck: func(ev haetae.VehicleEvent, created bool) {
				if cf.json {
					out.json(ev)
					return
				}
				what := "kept"
				if !created {
					what = "already kept"
				}
				out.printf("%s: %s at %s, received %s\n", what, ev.Type, ev.At.Format(time.RFC3339), ev.ReceivedAt.Format(time.RFC3339))
			},
			OnDrop: func(ev haetae.VehicleEvent, err error) {
				out.errorf("refused for good, dropped: %s at %s: %v\n", ev.Type, ev.At.Format(time.RFC3339), err)
			},
			OnRetry: func(ev haetae.VehicleEvent, err error, wait time.Duration) {
				out.errorf("not delivered: %s at %s: %v; trying again in %s\n", ev.Type, ev.At.Format(time.RFC3339), err, wait.Round(time.Millisecond))
			},
		})
		if err != nil {
			return err
		}
		if p := sim.Pending(); len(p) > 0 {
			out.errorf("%d reports of an earlier run are still to be delivered\n", len(p))
		}
		if *ride > 0 {
			return simulateRide(ctx, sim, *ride, out)
		}
		return simulateFromInput(ctx, env, sim, out)
	}
	return cmd
}

// simulateRide unlocks, waits d, locks and delivers both.
func simulateRide(ctx context.Context, sim *vehiclesim.Simulator, d time.Duration, out *lockedWriter) error {
	if _, err := sim.Unlock(); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sim.Run(runCtx) }()
	out.errorf("riding for %s ...\n", d)
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
	case <-t.C:
	}
	stop()
	<-done
	if ctx.Err() != nil {
		return fmt.Errorf("stopped; %d reports kept in the outbox", len(sim.Pending()))
	}
	if _, err := sim.Lock(); err != nil {
		return err
	}
	return flush(ctx, sim)
}

// simulateFromInput reports what standard input says, delivering as it goes, then what is left.
func simulateFromInput(ctx context.Context, env *Env, sim *vehiclesim.Simulator, out *lockedWriter) error {
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sim.Run(runCtx) }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(env.Stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-runCtx.Done():
				return
			}
		}
	}()
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			if err = simulateLine(sim, line, out); err != nil {
				break loop
			}
		}
	}
	stop()
	<-done
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped; %d reports kept in the outbox", len(sim.Pending()))
	}
	return flush(ctx, sim)
}

func simulateLine(sim *vehiclesim.Simulator, line string, out *lockedWriter) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	switch {
	case len(f) == 1 && f[0] == "pending":
		for _, ev := range sim.Pending() {
			out.printf("pending: %s at %s (%s)\n", ev.Type, ev.At.Format(time.RFC3339), ev.ClientID)
		}
		return nil
	case (f[0] == "lock" || f[0] == "unlock") && len(f) <= 2:
		typ := haetae.VehicleLocked
		if f[0] == "unlock" {
			typ = haetae.VehicleUnlocked
		}
		at := time.Now()
		if len(f) == 2 {
			t, err := time.Parse(time.RFC3339, f[1])
			if err != nil {
				out.errorf("%q: a time is RFC 3339 with its offset, such as 2026-03-02T10:07:00+09:00\n", f[1])
				return nil
			}
			at = t
		}
		_, err := sim.Record(typ, at)
		return err
	default:
		out.errorf("%q: the commands are lock [TIME], unlock [TIME] and pending\n", line)
		return nil
	}
}

// flush delivers what is left, saying so while it waits.
func flush(ctx context.Context, sim *vehiclesim.Simulator) error {
	if err := sim.Flush(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("stopped; %d reports kept in the outbox", len(sim.Pending()))
		}
		return err
	}
	return nil
}

// lockedWriter serializes the output of the delivery goroutine and the command's own.
type lockedWriter struct {
	mu sync.Mutex
	w  *Env
}

func (l *lockedWriter) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w.Stdout, format, a...)
}

func (l *lockedWriter) errorf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w.Stderr, format, a...)
}

func (l *lockedWriter) json(v any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	printJSON(l.w.Stdout, v)
}
