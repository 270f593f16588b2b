// Command haetae is the Haetae messenger: `haetae serve` runs a node, the other subcommands are the
// command-line client and the benchmark. This package only parses arguments and wires parts together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// Env is what a subcommand may touch of the outside world, injected so tests can run commands in-process.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	root := &ffcli.Command{
		Name:       "haetae",
		ShortUsage: "haetae <command> [flags]",
		ShortHelp:  "a messenger that keeps working when a data center burns down",
		LongHelp: `Haetae is a self-hosted messenger. 'haetae serve' runs a complete node with its data in
./haetae-data; the other commands talk to nodes over the HTTP API.

Every flag can also be set by an environment variable: HAETAE_ and the flag's name in capitals with
'-' as '_' (--data is HAETAE_DATA, --server is HAETAE_SERVER).

Run 'haetae <command> --help' for a command's flags.`,
		FlagSet:     flag.NewFlagSet("haetae", flag.ContinueOnError),
		Subcommands: commands(env),
	}
	root.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "haetae: unknown command %q\n\n", args[0])
		}
		fmt.Fprintln(stderr, ffcli.DefaultUsageFunc(root))
		return errUsage
	}
	root.FlagSet.SetOutput(stderr)
	for _, c := range root.Subcommands {
		if c.FlagSet != nil {
			c.FlagSet.SetOutput(stderr)
		}
	}
	err := root.ParseAndRun(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0 // --help: the usage has been printed
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "haetae: %v\n", err)
		return 1
	}
}

// commands lists every subcommand; each lives in its own file.
func commands(env *Env) []*ffcli.Command {
	return []*ffcli.Command{
		serveCommand(env),
		registerCommand(env),
		loginCommand(env),
		roomsCommand(env),
		roomCommand(env),
		sendCommand(env),
		historyCommand(env),
		tailCommand(env),
		giftCommand(env),
		merchantCommand(env),
		benchCommand(env),
		drainCommand(env),
		statusCommand(env),
		incidentCommand(env),
		webhookCommand(env),
	}
}
