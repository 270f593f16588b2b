package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/haetae/haetae"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func roomCommand(env *Env) *ffcli.Command {
	fs := flag.NewFlagSet("haetae room", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cmd := &ffcli.Command{
		Name:       "room",
		ShortUsage: "haetae room <create|add> [flags] ...",
		ShortHelp:  "create a room or add a member to one",
		LongHelp: `Manage rooms: 'haetae room create' makes one, 'haetae room add' adds a member. Run
'haetae room <command> --help' for their flags. 'haetae rooms' lists your rooms.

Example:

  haetae room create --title 'weekend trip' bob carol
  haetae room add 0f3a9c2e dave`,
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{roomCreateCommand(env), roomAddCommand(env)},
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(env.Stderr, "haetae room: unknown command %q\n", args[0])
		}
		fmt.Fprintln(env.Stderr, ffcli.DefaultUsageFunc(cmd))
		return errUsage
	}
	return cmd
}

func roomCreateCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "room create")
	title := fs.String("title", "", "the room's `title` (default: none)")
	cmd := &ffcli.Command{
		Name:       "create",
		ShortUsage: "haetae room create [flags] [MEMBER...]",
		ShortHelp:  "create a room with you and the MEMBERs in it",
		LongHelp: `Create a room whose members are you and every MEMBER (user names). A room of two is a 1:1
chat, more make a group chat. It prints the new room's id, which the other commands take as ROOM;
with --json, the room object.

Example:

  haetae room create --title 'weekend trip' bob carol`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		members, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		room, err := c.CreateRoom(ctx, *title, members)
		if err != nil {
			return explain(err)
		}
		return printRoom(env, cf, room, "created")
	}
	return cmd
}

func roomAddCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "room add")
	cmd := &ffcli.Command{
		Name:       "add",
		ShortUsage: "haetae room add [flags] ROOM NAME",
		ShortHelp:  "add the user NAME to ROOM",
		LongHelp: `Add the user NAME to ROOM, which you must be a member of. The new member reads the room's
whole history. Adding someone who is already a member changes nothing.

Example:

  haetae room add 0f3a9c2e dave`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "ROOM", "NAME")
		if err != nil {
			return err
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		room, err := c.AddMember(ctx, args[0], args[1])
		if err != nil {
			return explain(err)
		}
		return printRoom(env, cf, room, "updated")
	}
	return cmd
}

func printRoom(env *Env, cf *clientFlags, room *haetae.Room, what string) error {
	if cf.json {
		return printJSON(env.Stdout, room)
	}
	title := ""
	if room.Title != "" {
		title = fmt.Sprintf(" %q", oneLine(room.Title))
	}
	fmt.Fprintf(env.Stdout, "%s room %s%s with %s\n", what, room.ID, title, strings.Join(room.Members, ", "))
	return nil
}
