package main

import (
	"context"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func rideStartCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "ride start")
	clientID := fs.String("client-id", "", "idempotency `id` of the ride, 1-64 of A-Z a-z 0-9 _ - (default: random)")
	cmd := &ffcli.Command{
		Name:       "start",
		ShortUsage: "haetae ride start [flags] VEHICLE",
		ShortHelp:  "start a ride of VEHICLE (the id printed on it)",
		LongHelp: `Start a ride of VEHICLE now and print the ride's id, which 'ride return' and 'ride show' take.
The fare rules in force now apply to the whole ride.

The request carries a client id that the command keeps across its own retries, so a ride is started
once even when a node fails mid-request; give --client-id to make re-running the command safe too.

Example:

  haetae ride start S-0042`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "VEHICLE")
		if err != nil {
			return err
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		r, created, err := c.StartRental(ctx, args[0], *clientID)
		if err != nil {
			return explain(err)
		}
		if cf.json {
			return printJSON(env.Stdout, r)
		}
		if !created {
			fmt.Fprintln(env.Stdout, "(started before, with this client id)")
		}
		printRental(env.Stdout, r)
		return nil
	}
	return cmd
}
