package main

import (
	"context"

	"github.com/haetae/haetae"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func rideShowCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "ride show")
	limit := fs.Int("limit", 20, "most rides to list")
	cmd := &ffcli.Command{
		Name:       "show",
		ShortUsage: "haetae ride show [flags] [RIDE]",
		ShortHelp:  "show the ride RIDE, or your rides, newest first",
		LongHelp: `Show one of your rides with its fare, or, without RIDE, your rides, newest first. A ride held for
review says why: the vehicle went silent, or its lock report arrived after the fare and disagrees.

Example:

  haetae ride show
  haetae ride show --json kzxq2m4b7c3dfe6g`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(args) > 1 {
			return wrongArgs(env, cmd, "want at most one RIDE, got %d arguments", len(args))
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		var rides []*haetae.Rental
		if len(args) == 1 {
			r, err := c.Rental(ctx, args[0])
			if err != nil {
				return explain(err)
			}
			rides = []*haetae.Rental{r}
		} else if rides, err = c.Rentals(ctx, *limit); err != nil {
			return explain(err)
		}
		for _, r := range rides {
			if cf.json {
				if err := printJSON(env.Stdout, r); err != nil {
					return err
				}
				continue
			}
			printRental(env.Stdout, r)
		}
		return nil
	}
	return cmd
}
