package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/haetae/haetae"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func rideCommand(env *Env) *ffcli.Command {
	fs := flag.NewFlagSet("haetae ride", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cmd := &ffcli.Command{
		Name:       "ride",
		ShortUsage: "haetae ride <start|return|show> [flags] ...",
		ShortHelp:  "rent an e-scooter: start a ride, return it, see the fare",
		LongHelp: `Rent a vehicle as the logged-in user: 'haetae ride start' starts a ride, 'haetae ride return'
ends it and prints the fare, 'haetae ride show' shows one ride or your rides. Run
'haetae ride <command> --help' for their flags.

The vehicle reports its own lock, so a ride also ends when the vehicle is locked, whether or not you
return it; you are never billed for time in which the platform could not take the vehicle back.

Example:

  haetae ride start S-0042
  haetae ride return kzxq2m4b7c3dfe6g
  haetae ride show`,
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{rideStartCommand(env), rideReturnCommand(env), rideShowCommand(env)},
	}
	return groupCommand(env, cmd)
}

// groupCommand makes cmd, a command that only groups subcommands, explain its usage when run without
// one or with an unknown one.
func groupCommand(env *Env, cmd *ffcli.Command) *ffcli.Command {
	cmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(env.Stderr, "haetae %s: unknown command %q\n", cmd.Name, args[0])
		}
		fmt.Fprintln(env.Stderr, ffcli.DefaultUsageFunc(cmd))
		return errUsage
	}
	return cmd
}

// printRental writes a rental for people: its state, and once returned, its end and fare.
func printRental(w io.Writer, r *haetae.Rental) {
	fmt.Fprintf(w, "ride %s of %s: %s, started %s\n", r.ID, r.Vehicle, r.Status, r.StartedAt.Local().Format(time.DateTime))
	if r.EndedAt != nil {
		by := map[string]string{
			haetae.EndedByVehicle:  "the vehicle's lock",
			haetae.EndedByReturn:   "your return",
			haetae.EndedByLockedAt: "your return, at the lock time you gave",
		}[r.EndedBy]
		fmt.Fprintf(w, "  ended %s by %s\n", r.EndedAt.Local().Format(time.DateTime), by)
	}
	if r.FareWon != nil {
		fmt.Fprintf(w, "  billed %d s (%d min), %d s of platform downtime not billed: %s won\n",
			*r.BilledSeconds, (*r.BilledSeconds+59)/60, *r.ExcludedSeconds, groupThousands(*r.FareWon))
	}
	if r.Review != nil {
		fmt.Fprintf(w, "  held for review (%s): %s\n", r.Review.Reason, r.Review.Text)
	}
}

// groupThousands writes n with commas every three digits, as won amounts are read.
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
