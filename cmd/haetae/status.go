package main

import (
	"context"
	"os"
	"time"

	"github.com/haetae/haetae/statuspage"
	"github.com/peterbourgon/ff/v3/ffcli"
	"golang.org/x/term"
)

func statusCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "status")
	color := fs.String("color", "auto", "colour the output: auto (on a terminal), always or never")
	cmd := &ffcli.Command{
		Name:       "status",
		ShortUsage: "haetae status [flags]",
		ShortHelp:  "show the status page in the terminal",
		LongHelp: `Show what the status page (/status) shows, for a terminal: the overall state as the node
sees it, each data center and component, 90 days of uptime, the open incidents and the past ones
with their updates. It needs no login and works against a node cut off from the others, which says
so and how old its copy of the history is.

Example:

  haetae status --server http://dc1.example:8080`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if _, err := exactArgs(env, cmd, fs, args); err != nil {
			return err
		}
		c, err := cf.anonymousClient()
		if err != nil {
			return err
		}
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		hist, err := c.Incidents(ctx, 1000)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, map[string]any{"status": st, "incidents": hist})
		}
		paint := *color == "always"
		if *color == "auto" {
			f, ok := env.Stdout.(*os.File)
			paint = ok && term.IsTerminal(int(f.Fd())) && env.Getenv("NO_COLOR") == ""
		}
		now := st.At
		if now.IsZero() {
			now = time.Now()
		}
		return statuspage.Text(env.Stdout, statuspage.Build(st, hist, now), paint)
	}
	return cmd
}
