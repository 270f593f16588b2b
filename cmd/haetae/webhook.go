package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func webhookCommand(env *Env) *ffcli.Command {
	fs := flag.NewFlagSet("haetae webhook", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cmd := &ffcli.Command{
		Name:       "webhook",
		ShortUsage: "haetae webhook <add|list|remove> [flags] ...",
		ShortHelp:  "manage the subscribers told of every incident change (admin)",
		LongHelp: `Every change of an incident is POSTed as JSON to each subscriber, signed with HMAC-SHA256 of the
body under the subscriber's secret in the Haetae-Signature-256 header ("sha256=<hex>"), and retried
with backoff when it fails. See docs/api.md. Needs the admin token.`,
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{webhookAddCommand(env), webhookListCommand(env), webhookRemoveCommand(env)},
	}
	cmd.Exec = usageExec(env, cmd)
	return cmd
}

func webhookAddCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "webhook add")
	af := addAdminFlags(fs)
	secretFile := fs.String("secret-file", "", "`file` holding the signing secret, 16 to 256 characters (required)")
	cmd := &ffcli.Command{
		Name:       "add",
		ShortUsage: "haetae webhook add --secret-file FILE [flags] URL",
		ShortHelp:  "register URL as a subscriber",
		LongHelp: `Register URL (http or https) to receive every incident change. It prints the subscriber's id.

Example:

  haetae webhook add --secret-file hook-secret https://ops.example/haetae-incidents`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "URL")
		if err != nil {
			return err
		}
		if *secretFile == "" {
			return wrongArgs(env, cmd, "--secret-file is required")
		}
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("webhook secret: %w", err)
		}
		c, err := adminClient(cf, af)
		if err != nil {
			return err
		}
		w, err := c.AddWebhook(ctx, args[0], strings.TrimSpace(string(b)))
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, w)
		}
		fmt.Fprintln(env.Stdout, w.ID)
		return nil
	}
	return cmd
}

func webhookListCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "webhook list")
	af := addAdminFlags(fs)
	cmd := &ffcli.Command{
		Name:       "list",
		ShortUsage: "haetae webhook list [flags]",
		ShortHelp:  "list the subscribers",
		FlagSet:    fs,
		Options:    clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if _, err := exactArgs(env, cmd, fs, args); err != nil {
			return err
		}
		c, err := adminClient(cf, af)
		if err != nil {
			return err
		}
		list, err := c.Webhooks(ctx)
		if err != nil {
			return err
		}
		for _, w := range list {
			if cf.json {
				if err := printJSON(env.Stdout, w); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(env.Stdout, "%s  %s  since %s\n", w.ID, w.URL, w.CreatedAt.UTC().Format(time.RFC3339))
		}
		return nil
	}
	return cmd
}

func webhookRemoveCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "webhook remove")
	af := addAdminFlags(fs)
	cmd := &ffcli.Command{
		Name:       "remove",
		ShortUsage: "haetae webhook remove [flags] ID",
		ShortHelp:  "remove a subscriber",
		FlagSet:    fs,
		Options:    clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "ID")
		if err != nil {
			return err
		}
		c, err := adminClient(cf, af)
		if err != nil {
			return err
		}
		return c.DeleteWebhook(ctx, args[0])
	}
	return cmd
}
