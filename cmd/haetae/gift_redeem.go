package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/haetae/haetae"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func giftRedeemCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "gift redeem")
	key := fs.String("key", "", "the redemption's Idempotency-Key, 1-64 of A-Z a-z 0-9 _ - (default: a fresh one, printed)")
	cmd := &ffcli.Command{
		Name:       "redeem",
		ShortUsage: "haetae gift redeem [flags] CODE",
		ShortHelp:  "redeem the gift CODE (merchants)",
		LongHelp: `Redeem the gift CODE, logged in as a merchant (an account made with 'haetae merchant create').
CODE may be typed in lower case and without the dashes.

A gift is redeemed exactly once. The command sends one Idempotency-Key with every try, to whichever
node answers, so a lost answer or a lost data center costs a retry, never a second redemption. It
prints one of:

  redeemed ...             you redeemed it now (or an earlier try with the same key did); exit 0
  already redeemed ...     someone else did, and when, by whom and through which data center; exit 1
  outcome unknown ...      no node answered in time; exit 1. Run the command again with the --key it
                           printed: the answer then says whether the first try redeemed the gift.

Expired gifts, unknown codes and codes that are not the shape of a gift code are errors (exit 1).

Example:

  haetae gift redeem 7K3M-Q9XA-2BCD-EF01
  haetae gift redeem --key till3-20261125-0042 7k3mq9xa2bcdef01`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "CODE")
		if err != nil {
			return err
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		k := *key
		if k == "" {
			b := make([]byte, 12)
			rand.Read(b)
			k = "cli-" + hex.EncodeToString(b)
		}
		res, err := c.Redeem(ctx, args[0], k)
		var re *haetae.RedeemedError
		switch {
		case err == nil:
			if cf.json {
				return printJSON(env.Stdout, res)
			}
			fmt.Fprintf(env.Stdout, "redeemed %s at %s through %s (redemption %s, key %s)\n", res.Code, res.RedeemedAt.Local().Format(time.DateTime), res.Redemption.Where(), res.Redemption.ID, k)
			return nil
		case errors.As(err, &re):
			if cf.json {
				printJSON(env.Stdout, map[string]any{"code": args[0], "status": haetae.GiftRedeemed, "redeemed_at": re.RedeemedAt, "redemption": re.Redemption, "won": false})
			} else {
				fmt.Fprintf(env.Stdout, "already redeemed %s: at %s by %s through %s (redemption %s); not by this request\n", args[0], re.RedeemedAt.Local().Format(time.DateTime), re.Redemption.Merchant, re.Redemption.Where(), re.Redemption.ID)
			}
			return errors.New("not redeemed: the gift was already redeemed")
		case haetae.ErrorCode(err) == haetae.EUnavailable || haetae.ErrorCode(err) == haetae.ENoQuorum || ctx.Err() != nil:
			fmt.Fprintf(env.Stdout, "outcome unknown: %v\nrun again with the same key to learn it: haetae gift redeem --key %s %s\n", err, k, args[0])
			return errors.New("outcome unknown")
		default:
			return explain(err)
		}
	}
	return cmd
}
