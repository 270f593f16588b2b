package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/haetae/haetae/bench"
	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func benchCommand(env *Env) *ffcli.Command {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("haetae bench", flag.ContinueOnError)
	servers := fs.String("server", "", "comma-separated API `URLs` to measure (default: start an in-process node with fsync always in a temporary directory)")
	fs.IntVar(&cfg.Clients, "c", cfg.Clients, "concurrent sending `clients`, each its own user")
	fs.IntVar(&cfg.Messages, "n", cfg.Messages, "`messages` to send in total")
	fs.IntVar(&cfg.Rooms, "r", cfg.Rooms, "`rooms` the messages are spread over")
	fs.IntVar(&cfg.Batch, "batch", 1, "messages per request, 1 to 100: above 1 each client sends batches of this many to one room (POST .../messages/batch)")
	fs.IntVar(&cfg.Subscribers, "w", cfg.Subscribers, "WebSocket `subscribers` receiving the messages (every room has at least one)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "target `msgs/s` over all clients; 0 sends as fast as acknowledgements come back")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "stop sending after this long even if -n is not reached")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long to wait for subscribers to receive what was acknowledged")
	fs.IntVar(&cfg.TextBytes, "size", cfg.TextBytes, "`bytes` of text per message")
	fs.BoolVar(&cfg.Refs, "refs", cfg.Refs, "also measure raw JetStream publishing on this machine as references")
	fs.DurationVar(&cfg.RefDuration, "ref-duration", cfg.RefDuration, "time cap of each JetStream reference")
	fs.IntVar(&cfg.RefMessages, "ref-messages", cfg.RefMessages, "message cap of each JetStream reference")
	fs.StringVar(&cfg.TempDir, "tmp", "", "`dir`ectory for the temporary data of the in-process node and the references (default: the system's)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the sending phase (node included when in-process) to this `file`")
	return &ffcli.Command{
		Name:       "bench",
		ShortUsage: "haetae bench [flags] | haetae bench gifts [flags]",
		ShortHelp:  "measure send throughput and delivery latency through the API",
		LongHelp: `Measure Haetae through its real HTTP and WebSocket API: -c clients send -n messages (about
200 bytes each) to -r rooms while -w WebSocket subscribers receive them. It prints acknowledged
messages per second, send latency and end-to-end delivery latency (p50, p99), and the peak RSS.
Sending stops at -n messages or --duration, whichever comes first.

Without --server the bench starts its own node in-process (fsync always, temporary data directory,
removed afterwards), and the peak RSS is that of the node and the bench together. Against --server
only the bench's own memory is known.

Then, unless --refs=false, it measures raw JetStream publishing on this machine, each against a
fresh embedded server: one synchronous publish at a time, 4,096 async publishes in flight, atomic
batches of 100 (all with fsync always), and async publishes with the lazy default fsync.

Progress goes to stderr, the result to stdout. The exit status is 1 if any message failed or was
not delivered exactly once.

'haetae bench gifts' measures gift redemptions instead; see 'haetae bench gifts --help'.`,
		FlagSet:     fs,
		Options:     []ff.Option{ff.WithEnvVarPrefix("HAETAE")},
		Subcommands: []*ffcli.Command{benchGiftsCommand(env)},
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("bench takes no arguments, got %q", args)
			}
			cfg.Servers = splitServers(*servers)
			if *cpuProfile != "" {
				f, err := os.Create(*cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				cfg.CPUProfile = f
			}
			res, err := bench.Run(ctx, cfg, env.Stderr)
			if err != nil {
				return err
			}
			return reportBench(env, "bench", *asJSON, res)
		},
	}
}

// benchResult is what each bench measured: printable for people, and with a list of what went wrong.
type benchResult interface {
	Print(io.Writer) error
	Problems() []string
}

// reportBench prints a bench's result, as JSON or for people, and fails if the run had problems.
func reportBench(env *Env, name string, asJSON bool, res benchResult) error {
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if err := res.Print(env.Stdout); err != nil {
		return err
	}
	if p := res.Problems(); len(p) > 0 {
		return fmt.Errorf("%s: %d problems: %s", name, len(p), strings.Join(p, "; "))
	}
	return nil
}

// splitServers turns a comma-separated --server value into URLs.
func splitServers(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}
