package main

import (
	"context"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func rideReturnCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "ride return")
	clientID := fs.String("client-id", "", "idempotency `id` of the return (default: random)")
	lockedAt := fs.String("locked-at", "", "when you locked the vehicle, RFC 3339 (`time`), if the platform could not take the return then")
	cmd := &ffcli.Command{
		Name:       "return",
		ShortUsage: "haetae ride return [flags] RIDE",
		ShortHelp:  "end the ride RIDE and print its fare",
		LongHelp: `End the ride RIDE (its id, from 'ride start') and print the fare.

The ride ends now, or earlier if the vehicle has reported its lock. If you locked the vehicle while
the platform could not take the return (an outage), give --locked-at with the time you locked it; it
is believed unless the vehicle's own report disagrees. Either way you are not billed for time in which
the platform could not take the vehicle back.

Example:

  haetae ride return kzxq2m4b7c3dfe6g
  haetae ride return --locked-at 2026-03-02T10:07:00+09:00 kzxq2m4b7c3dfe6g`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "RIDE")
		if err != nil {
			return err
		}
		var at *time.Time
		if *lockedAt != "" {
			t, err := time.Parse(time.RFC3339, *lockedAt)
			if err != nil {
				return wrongArgs(env, cmd, "--locked-at wants an RFC 3339 time with its offset, such as 2026-03-02T10:07:00+09:00")
			}
			at = &t
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		r, err := c.ReturnRental(ctx, args[0], *clientID, at)
		if err != nil {
			return explain(err)
		}
		if cf.json {
			return printJSON(env.Stdout, r)
		}
		printRental(env.Stdout, r)
		return nil
	}
	return cmd
}
