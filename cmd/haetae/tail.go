package main

import (
	"context"
	"errors"
	"strconv"

	"github.com/haetae/haetae"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func tailCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "tail")
	var after uint64
	afterSet := false
	fs.Func("after", "show messages after this `seq` first, then follow (default: only messages sent from now on; 0: the whole room)", func(s string) error {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return errors.New("want a seq, a whole number")
		}
		after, afterSet = n, true
		return nil
	})
	cmd := &ffcli.Command{
		Name:       "tail",
		ShortUsage: "haetae tail [flags] ROOM",
		ShortHelp:  "follow a room's messages live",
		LongHelp: `Follow ROOM live over a WebSocket and print each message as it is sent, until Ctrl-C. With
--after N it first prints the messages after seq N. When a node goes away the command reconnects to
the next server and resumes where it was: no message is skipped or shown twice. With --json, one
message object per line.

Example:

  haetae tail 0f3a9c2e
  haetae tail 0f3a9c2e --after 0 --json > room.jsonl`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "ROOM")
		if err != nil {
			return err
		}
		room := args[0]
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		if !afterSet {
			// Start at the room's last message, which also checks the room before following it.
			msgs, _, err := c.History(ctx, room, haetae.HistoryQuery{Before: ^uint64(0), Limit: 1})
			if err != nil {
				return explain(err)
			}
			if len(msgs) > 0 {
				after = msgs[len(msgs)-1].Seq
			}
		}
		sub := c.Subscribe(ctx, room, after)
		defer sub.Close()
		for m := range sub.Messages() {
			if err := printMessage(env.Stdout, cf.json, m); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		return explain(sub.Err())
	}
	return cmd
}
