package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/haetae/haetae"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func giftCommand(env *Env) *ffcli.Command {
	fs := flag.NewFlagSet("haetae gift", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cmd := &ffcli.Command{
		Name:       "gift",
		ShortUsage: "haetae gift <send|list|show|redeem> [flags] ...",
		ShortHelp:  "send, list and redeem gift coupons",
		LongHelp: `Gift coupons: 'haetae gift send' gives one to another user (a gift message appears in your
1:1 chat), 'haetae gift list' lists those you sent and received with their codes, 'haetae gift show'
shows one, and merchants redeem them with 'haetae gift redeem'. A gift is redeemed exactly once,
whichever data center the merchant reaches. Run 'haetae gift <command> --help' for the flags.

Example:

  haetae gift send bob Americano tall
  haetae gift list
  haetae gift redeem 7K3M-Q9XA-2BCD-EF01      # logged in as a merchant`,
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{giftSendCommand(env), giftListCommand(env), giftShowCommand(env), giftRedeemCommand(env)},
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(env.Stderr, "haetae gift: unknown command %q\n", args[0])
		}
		fmt.Fprintln(env.Stderr, ffcli.DefaultUsageFunc(cmd))
		return errUsage
	}
	return cmd
}

func giftSendCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "gift send")
	clientID := fs.String("client-id", "", "idempotency `id` of the gift, 1-64 of A-Z a-z 0-9 _ - (default: random)")
	room := fs.String("room", "", "post the gift message in this `room` (default: your 1:1 room with TO)")
	cmd := &ffcli.Command{
		Name:       "send",
		ShortUsage: "haetae gift send [flags] TO PRODUCT...",
		ShortHelp:  "give the user TO a gift coupon for PRODUCT",
		LongHelp: `Give the user TO a coupon for PRODUCT (the words joined by spaces) and print its code. A gift
message appears in your 1:1 room with TO (made if you have none), or in --room. The code is shown
only to you, TO and merchants: 'haetae gift list' shows it again. A gift can be redeemed for 90 days
unless the server says otherwise.

The request carries a client id, kept across the command's own retries, so one gift is made even when
a node fails mid-request. Give --client-id yourself to make re-running the command safe too: a repeat
with the same id, receiver and product prints the gift made first ("already sent").

Example:

  haetae gift send bob Americano tall
  haetae gift send --client-id bob-birthday-2026 bob Chocolate cake`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(args) < 2 {
			return wrongArgs(env, cmd, "want TO and PRODUCT")
		}
		c, err := cf.loggedInClient()
		if err != nil {
			return err
		}
		g, created, err := c.SendGift(ctx, haetae.GiftRequest{ClientID: *clientID, To: args[0], Product: strings.Join(args[1:], " "), Room: *room})
		if err != nil {
			return explain(err)
		}
		if cf.json {
			return printJSON(env.Stdout, g)
		}
		what := "sent"
		if !created {
			what = "already sent"
		}
		fmt.Fprintf(env.Stdout, "%s %s a gift: %s\ncode %s, redeemable until %s (message in room %s)\n", what, g.To, oneLine(g.Product), g.Code, g.ExpiresAt.Local().Format(time.DateTime), g.Room)
		return nil
	}
	return cmd
}

func giftListCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "gift list")
	limit := fs.Int("limit", 0, "show at most this many, the newest first (default: the server's, 100)")
	cmd := &ffcli.Command{
		Name:       "list",
		ShortUsage: "haetae gift list [flags]",
		ShortHelp:  "list the gifts you sent and received",
		LongHelp: `List the gifts you sent and received, the newest first: code, status (issued, redeemed or
expired), sender and receiver, product, and when it expires or was redeemed. Show a code to a
merchant to redeem the gift. With --json, one gift object per line.

Example:

  haetae gift list
  haetae gift list --json | jq -r 'select(.status == "issued" and .to == "bob") | .code'`,
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
		gifts, err := c.Gifts(ctx, *limit)
		if err != nil {
			return explain(err)
		}
		if cf.json {
			for _, g := range gifts {
				if err := printJSON(env.Stdout, g); err != nil {
					return err
				}
			}
			return nil
		}
		if len(gifts) == 0 {
			fmt.Fprintln(env.Stderr, "no gifts yet; send one with: haetae gift send TO PRODUCT")
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tSTATUS\tFROM\tTO\tPRODUCT\tWHEN")
		for _, g := range gifts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Code, g.Status, g.From, g.To, oneLine(g.Product), giftWhen(g))
		}
		return tw.Flush()
	}
	return cmd
}

// giftWhen says when a gift was redeemed, or until when it can be.
func giftWhen(g *haetae.Gift) string {
	switch {
	case g.RedeemedAt != nil && g.Redemption != nil:
		return "redeemed " + g.RedeemedAt.Local().Format(time.DateTime) + " by " + g.Redemption.Merchant
	case g.Status == haetae.GiftExpired:
		return "expired " + g.ExpiresAt.Local().Format(time.DateTime)
	default:
		return "until " + g.ExpiresAt.Local().Format(time.DateTime)
	}
}

func giftShowCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "gift show")
	cmd := &ffcli.Command{
		Name:       "show",
		ShortUsage: "haetae gift show [flags] CODE",
		ShortHelp:  "show one gift",
		LongHelp: `Show the gift CODE: its status, sender, receiver, product, expiry, and who redeemed it where.
Its sender and receiver may look it up, and so may any merchant (to check a code before redeeming
it); to anyone else it does not exist. CODE may be typed in lower case and without the dashes.

Example:

  haetae gift show 7k3mq9xa2bcdef01`,
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
		g, err := c.Gift(ctx, args[0])
		if err != nil {
			return explain(err)
		}
		if cf.json {
			return printJSON(env.Stdout, g)
		}
		fmt.Fprintf(env.Stdout, "%s  %s  from %s to %s: %s\n%s\n", g.Code, g.Status, g.From, g.To, oneLine(g.Product), giftWhen(g))
		if r := g.Redemption; r != nil {
			fmt.Fprintf(env.Stdout, "redemption %s through %s\n", r.ID, r.Where())
		}
		return nil
	}
	return cmd
}
