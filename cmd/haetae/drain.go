package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/haetae/haetae/client"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func drainCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "drain")
	af := addAdminFlags(fs)
	cmd := &ffcli.Command{
		Name:       "drain",
		ShortUsage: "haetae drain --server URL [flags]",
		ShortHelp:  "evacuate one node before a planned shutdown (admin)",
		LongHelp: `Evacuate the node at --server before it is stopped: every JetStream stream it leads hands its
leadership to another data center, its /readyz turns 503 so load balancers look elsewhere, and its
live WebSocket clients are told to resume on another node. The node keeps serving requests, whose
writes now go to the new leaders, until you stop it (SIGTERM drains too, but a drain first leaves
nothing to hand off at the last moment).

A planned hand-off stalls writes for milliseconds; a leader that is simply killed stalls the writes
of its streams for the seconds JetStream needs to elect a new one. Needs the admin token.

Example:

  haetae drain --server http://dc1.example:8080 --admin-token-file /etc/haetae/admin-token
  systemctl stop haetae`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if _, err := exactArgs(env, cmd, fs, args); err != nil {
			return err
		}
		servers := cf.servers(nil)
		if cf.server == "" || len(servers) != 1 {
			return wrongArgs(env, cmd, "name exactly one node to drain with --server")
		}
		token, err := af.token()
		if err != nil {
			return err
		}
		// One endpoint and a short budget: a drain is for this node, never another.
		c, err := client.New(servers, client.WithToken(token), client.WithRetryBudget(5*time.Second))
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "draining %s ...\n", servers[0])
		res, err := c.Drain(ctx)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, res)
		}
		if len(res.HandedOff) == 0 {
			fmt.Fprintf(env.Stdout, "drained in %d ms: it led no stream\n", res.TookMS)
		} else {
			fmt.Fprintf(env.Stdout, "drained in %d ms: handed off %s\n", res.TookMS, strings.Join(res.HandedOff, ", "))
		}
		fmt.Fprintln(env.Stdout, "the node still serves requests; stop it when you are ready")
		return nil
	}
	return cmd
}

// adminFlags are the flags of commands that need the admin token.
type adminFlags struct {
	tokenValue, tokenFile string
}

func addAdminFlags(fs *flag.FlagSet) *adminFlags {
	f := &adminFlags{}
	fs.StringVar(&f.tokenValue, "admin-token", "", "the admin `token` (prefer HAETAE_ADMIN_TOKEN or --admin-token-file, which ps cannot show)")
	fs.StringVar(&f.tokenFile, "admin-token-file", "", "`file` holding the admin token, such as <data dir>/admin-token")
	return f
}

// token returns the admin token from the flag, else from the file.
func (f *adminFlags) token() (string, error) {
	if f.tokenValue != "" {
		return f.tokenValue, nil
	}
	if f.tokenFile == "" {
		return "", errors.New("the admin token is needed: --admin-token-file, --admin-token or HAETAE_ADMIN_TOKEN")
	}
	b, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("admin token: %s is empty", f.tokenFile)
	}
	return t, nil
}
