package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/haetae/haetae/bench"
	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func loadCommand(env *Env) *ffcli.Command {
	cfg := bench.DefaultLoadConfig()
	fs := flag.NewFlagSet("haetae load", flag.ContinueOnError)
	servers := fs.String("server", "", "comma-separated API `URLs` to drive (default: start an in-process node in a temporary directory)")
	fs.IntVar(&cfg.Users, "users", cfg.Users, "`clients` active at baseline and in the recovery, each its own user")
	fs.Float64Var(&cfg.Factor, "factor", cfg.Factor, "how many times the baseline's clients are active in the surge")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "operations per second of one active client")
	fs.IntVar(&cfg.RoomSize, "room-size", cfg.RoomSize, "users per room")
	fs.DurationVar(&cfg.Baseline, "baseline", cfg.Baseline, "how long the baseline lasts")
	fs.DurationVar(&cfg.Surge, "surge", cfg.Surge, "how long the surge lasts")
	fs.DurationVar(&cfg.Recovery, "recovery", cfg.Recovery, "how long the recovery lasts")
	fs.DurationVar(&cfg.OpTimeout, "op-timeout", cfg.OpTimeout, "how long one operation may take, retries included")
	fs.IntVar(&cfg.MaxOutstanding, "max-outstanding", cfg.MaxOutstanding, "operations one client may have in flight; more are not started (busy)")
	fs.BoolVar(&cfg.NoLimiter, "no-limiter", false, "start the in-process node with load shedding turned off")
	compare := fs.Bool("compare", false, "run the scenario twice on in-process nodes, limiter on then off, and report them side by side")
	report := fs.String("report", "surge-report.html", "write the HTML report with charts to this `file` (\"\": none)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fs.StringVar(&cfg.TempDir, "tmp", "", "`dir`ectory for the in-process node's data (default: the system's)")
	return &ffcli.Command{
		Name:       "load",
		ShortUsage: "haetae load [flags]",
		ShortHelp:  "run a surge scenario: baseline, 10x surge, recovery; per class goodput, latency, shedding",
		LongHelp: `Drive Haetae through its real API as a crowd of people would on a bad day: --users clients for
the baseline, --factor times as many in the surge, then the baseline again while the node recovers.
Each active client does --rate operations a second, open-loop, drawn from a realistic mix: message
sends (critical), history reads and room lists (normal), typing notices, read receipts and status
polls by bots (sheddable). Every client is its own user in rooms of --room-size, follows its room live,
and uses the Go client with its retries, retry budget and adaptive throttle.

It prints, per phase and priority class, what was offered, what succeeded (goodput), p50 and p99
latency, what was shed (503 overloaded, 429, or held back by the client) and the errors; and once a
second the server's memory (RSS), adaptive limit and queue. Afterwards it reads every room's history
and checks that every acknowledged message is there. It writes an HTML report with charts (--report).

With --compare it runs the same scenario twice on fresh in-process nodes, the limiter on and then off
(haetae serve --no-limiter), and reports both side by side. The exit status is 1 if an acknowledged
message is missing.`,
		FlagSet: fs,
		Options: []ff.Option{ff.WithEnvVarPrefix("HAETAE")},
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("load takes no arguments, got %q", args)
			}
			for _, s := range strings.Split(*servers, ",") {
				if s = strings.TrimSpace(s); s != "" {
					cfg.Servers = append(cfg.Servers, s)
				}
			}
			if *compare && len(cfg.Servers) > 0 {
				return fmt.Errorf("--compare starts its own nodes; it cannot be used with --server")
			}
			command := []string{"haetae load"}
			fs.Visit(func(f *flag.Flag) { command = append(command, "--"+f.Name+"="+f.Value.String()) })
			rep := &bench.LoadReport{Command: strings.Join(command, " "), When: time.Now(), CPUs: bench.NumCPU(), CPU: bench.CPUModel()}
			runs := []bool{cfg.NoLimiter}
			if *compare {
				runs = []bool{false, true}
			}
			for _, off := range runs {
				c := cfg
				c.NoLimiter = off
				res, err := bench.RunLoad(ctx, c, env.Stderr)
				if err != nil {
					return err
				}
				rep.Runs = append(rep.Runs, res)
			}
			if *report != "" {
				f, err := os.Create(*report)
				if err != nil {
					return err
				}
				if err := rep.WriteHTML(f); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(env.Stderr, "haetae load: report in %s\n", *report)
			}
			if *asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if err := rep.Print(env.Stdout); err != nil {
				return err
			}
			if p := rep.Problems(); len(p) > 0 {
				return fmt.Errorf("load: %s", strings.Join(p, "; "))
			}
			return nil
		},
	}
}
