package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func roomsCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "rooms")
	cmd := &ffcli.Command{
		Name:       "rooms",
		ShortUsage: "haetae rooms [flags]",
		ShortHelp:  "list your rooms",
		LongHelp: `List the rooms you are a member of: the room's id (what the other commands take as ROOM),
its unread count, the seq of its last message, its title and members. With --json, one room object
per line.

Example:

  haetae rooms
  haetae rooms --json | jq -r 'select(.unread > 0) | .id'`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if _, err := exactArgs(env, cmd, fs, args); err != nil {
			return err
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		rooms, err := c.Rooms(ctx)
		if err != nil {
			return explain(err)
		}
		if cf.json {
			for _, r := range rooms {
				if err := printJSON(env.Stdout, r); err != nil {
					return err
				}
			}
			return nil
		}
		if len(rooms) == 0 {
			fmt.Fprintln(env.Stderr, "no rooms yet; make one with: haetae room create MEMBER...")
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROOM\tUNREAD\tLAST\tTITLE\tMEMBERS")
		for _, r := range rooms {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", r.ID, r.Unread, r.LastSeq, oneLine(r.Title), strings.Join(r.Members, ","))
		}
		return tw.Flush()
	}
	return cmd
}

// oneLine keeps text that others wrote from breaking the lines of a listing.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
