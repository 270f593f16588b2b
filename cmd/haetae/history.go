package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/haetae/haetae"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func historyCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "history")
	var q haetae.HistoryQuery
	fs.Uint64Var(&q.After, "after", 0, "show messages after this `seq`, oldest first")
	fs.Uint64Var(&q.Before, "before", 0, "show the messages just before this `seq` instead")
	fs.IntVar(&q.Limit, "limit", 0, "most `messages` to show, 1-500 (default: the server's, 50)")
	cmd := &ffcli.Command{
		Name:       "history",
		ShortUsage: "haetae history [flags] ROOM",
		ShortHelp:  "show a room's messages",
		LongHelp: `Show a page of ROOM's messages, oldest first: "#seq time sender: text". Without flags, the
first page of the room; --after N pages forward from seq N, --before N shows the page just before N.
With --json, one message object per line (each with its seq and client_id).

Example:

  haetae history 0f3a9c2e --limit 20
  haetae history 0f3a9c2e --after 120 --json`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "ROOM")
		if err != nil {
			return err
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		msgs, _, err := c.History(ctx, args[0], q)
		if err != nil {
			return explain(err)
		}
		for _, m := range msgs {
			if err := printMessage(env.Stdout, cf.json, m); err != nil {
				return err
			}
		}
		if len(msgs) == 0 && !cf.json {
			fmt.Fprintln(env.Stderr, "no messages")
		}
		return nil
	}
	return cmd
}

// printMessage writes one message as a line: JSON, or "#seq time sender: text" for people.
func printMessage(w io.Writer, asJSON bool, m *haetae.Message) error {
	if asJSON {
		return printJSON(w, m)
	}
	from := m.From
	if m.Kind != haetae.KindText {
		from += " [" + m.Kind + "]"
	}
	_, err := fmt.Fprintf(w, "#%d %s %s: %s\n", m.Seq, m.SentAt.Local().Format(time.DateTime), from, oneLine(m.Text))
	return err
}
