package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/haetae/haetae/bench"
	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func benchGiftsCommand(env *Env) *ffcli.Command {
	cfg := bench.DefaultGiftConfig()
	fs := flag.NewFlagSet("haetae bench gifts", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	servers := fs.String("server", "", "comma-separated API `URLs` to measure, e.g. the three nodes of a cluster (default: an in-process node)")
	af := addAdminFlags(fs)
	fs.IntVar(&cfg.Merchants, "c", cfg.Merchants, "concurrent `merchants`, each its own account")
	fs.IntVar(&cfg.Gifts, "n", cfg.Gifts, "`gifts` to send and then redeem")
	fs.IntVar(&cfg.Contenders, "contend", cfg.Contenders, "`merchants` that try each gift at once with their own keys (exactly one must win)")
	fs.IntVar(&cfg.Senders, "senders", cfg.Senders, "concurrent gift `senders`")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "stop redeeming after this long even if -n is not reached")
	fs.StringVar(&cfg.TempDir, "tmp", "", "`dir`ectory for the in-process node's data (default: the system's)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the redeeming phase (node included when in-process) to this `file`")
	return &ffcli.Command{
		Name:       "gifts",
		ShortUsage: "haetae bench gifts [flags]",
		ShortHelp:  "measure gift redemptions per second and their latency through the API",
		LongHelp: `Measure gift coupons through the real HTTP API: -n gifts are sent (and their send rate
measured), then -c merchants redeem them, in teams of --contend that try the same gift at once with
their own Idempotency-Keys. It prints redemptions per second (200s), attempts per second, the latency
of one redeem call (p50, p99, max) and checks that every gift was redeemed exactly once.

Without --server the bench starts its own node in-process (fsync always, temporary data directory)
with the per-merchant rate limit lifted. Against --server it needs the admin token (to make the
merchants); start the nodes with a --redeem-rate above what one merchant will do, or the 429s
(retried, and counted) measure the limiter instead.

Example, against a three-DC cluster (see docs/benchmarks.md):

  haetae bench gifts --server http://dc1:8080,http://dc2:8080,http://dc3:8080 \
      --admin-token-file /etc/haetae/admin-token -c 48 -n 3000 --contend 3`,
		FlagSet: fs,
		Options: []ff.Option{ff.WithEnvVarPrefix("HAETAE")},
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("bench gifts takes no arguments, got %q", args)
			}
			cfg.Servers = splitServers(*servers)
			if len(cfg.Servers) > 0 {
				t, err := af.token()
				if err != nil {
					return err
				}
				cfg.AdminToken = t
			}
			if *cpuProfile != "" {
				f, err := os.Create(*cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				cfg.CPUProfile = f
			}
			res, err := bench.RunGifts(ctx, cfg, env.Stderr)
			if err != nil {
				return err
			}
			return reportBench(env, "bench gifts", *asJSON, res)
		},
	}
}
