package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func sendCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "send")
	clientID := fs.String("client-id", "", "idempotency `id` of the message, 1-64 of A-Z a-z 0-9 _ - (default: random)")
	cmd := &ffcli.Command{
		Name:       "send",
		ShortUsage: "haetae send [flags] ROOM TEXT...",
		ShortHelp:  "send a message to a room",
		LongHelp: `Send the words of TEXT, joined by spaces, as one message to ROOM, and print its seq.

The message carries a client id, which the command keeps across its own retries, so a message is
stored once even when a node fails mid-request. Give --client-id yourself to make re-running the
command safe too: a repeat with the same id and text prints the original message ("already sent").
Sending also marks the room read up to the new message, as replying in a messenger does.
Put '--' before a text that begins with '-'.

Example:

  haetae send 0f3a9c2e see you at ten
  haetae send --client-id trip-42 0f3a9c2e -- -5 degrees, bring gloves`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(args) < 2 {
			return wrongArgs(env, cmd, "want ROOM and TEXT")
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		msg, created, err := c.Send(ctx, args[0], *clientID, strings.Join(args[1:], " "))
		if err != nil {
			return explain(err)
		}
		// Replying means having read the room, as in any messenger: without this, one's own messages
		// would count as unread. The message is sent either way, so a failure here is only a warning.
		if err := c.MarkRead(ctx, msg.Room, msg.Seq); err != nil {
			fmt.Fprintf(env.Stderr, "haetae: warning: could not mark the room read: %v\n", explain(err))
		}
		if cf.json {
			return printJSON(env.Stdout, msg)
		}
		if created {
			fmt.Fprintf(env.Stdout, "sent #%d to %s (client id %s)\n", msg.Seq, msg.Room, msg.ClientID)
		} else {
			fmt.Fprintf(env.Stdout, "already sent as #%d to %s (client id %s)\n", msg.Seq, msg.Room, msg.ClientID)
		}
		return nil
	}
	return cmd
}
