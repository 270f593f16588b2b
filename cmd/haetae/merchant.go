package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/haetae/haetae/client"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func merchantCommand(env *Env) *ffcli.Command {
	fs := flag.NewFlagSet("haetae merchant", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cmd := &ffcli.Command{
		Name:       "merchant",
		ShortUsage: "haetae merchant create [flags] NAME",
		ShortHelp:  "make merchant accounts, which redeem gifts (admin)",
		LongHelp: `Merchants are the accounts that may redeem gift coupons. 'haetae merchant create NAME' makes
one with the admin token; the merchant then logs in with 'haetae login NAME' like any user and
redeems with 'haetae gift redeem CODE'.`,
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{merchantCreateCommand(env)},
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(env.Stderr, "haetae merchant: unknown command %q\n", args[0])
		}
		fmt.Fprintln(env.Stderr, ffcli.DefaultUsageFunc(cmd))
		return errUsage
	}
	return cmd
}

func merchantCreateCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "merchant create")
	af := addAdminFlags(fs)
	passwordStdin := fs.Bool("password-stdin", false, "read the merchant's password from the first line of stdin, without a prompt")
	cmd := &ffcli.Command{
		Name:       "create",
		ShortUsage: "haetae merchant create [flags] NAME",
		ShortHelp:  "make the merchant account NAME (admin)",
		LongHelp: `Make the merchant account NAME, which may redeem gifts. Needs the admin token: the node
generates it into <data dir>/admin-token on first start unless HAETAE_ADMIN_TOKEN sets it. The name
follows the rules of user names (3 to 32 of a-z, 0-9, '_', '.', '-'); the password, at least 8
characters, is read from one line of stdin, after a prompt unless --password-stdin is given.

Example:

  echo 'correct horse battery' | haetae merchant create --password-stdin \
      --admin-token-file haetae-data/admin-token cafe-gangnam
  haetae login cafe-gangnam`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "NAME")
		if err != nil {
			return err
		}
		token, err := af.token()
		if err != nil {
			return err
		}
		stored, _ := cf.loadSession()
		c, err := client.New(cf.servers(stored), client.WithToken(token), client.WithRetryBudget(10*time.Second))
		if err != nil {
			return err
		}
		password, err := readPassword(env, args[0], *passwordStdin)
		if err != nil {
			return err
		}
		if err := c.CreateMerchant(ctx, args[0], password); err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, map[string]string{"name": args[0], "role": "merchant"})
		}
		fmt.Fprintf(env.Stdout, "made merchant %s\nnext: haetae login %s, then haetae gift redeem CODE\n", args[0], args[0])
		return nil
	}
	return cmd
}
