package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func loginCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "login")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin, without a prompt")
	cmd := &ffcli.Command{
		Name:       "login",
		ShortUsage: "haetae login [flags] NAME",
		ShortHelp:  "log in and keep the session for the other commands",
		LongHelp: `Log in as NAME and keep the session in <config-dir>/session.json (mode 0600): the servers, the
name, the token and when it expires. The other commands use that token, and its servers unless
--server says otherwise. The password is read from one line of stdin, after a prompt unless
--password-stdin is given.

Give every node you know in --server, comma-separated: the commands fail over between them.

Example:

  haetae login --server http://dc1.example:8080,http://dc2.example:8080 alice`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "NAME")
		if err != nil {
			return err
		}
		name := args[0]
		c, err := cf.anonymousClient()
		if err != nil {
			return err
		}
		if _, err := cf.sessionPath(); err != nil {
			return err
		}
		password, err := readPassword(env, name, *passwordStdin)
		if err != nil {
			return err
		}
		sess, err := c.Login(ctx, name, password)
		if err != nil {
			return err
		}
		stored := &storedSession{Servers: c.Endpoints(), Name: name, Token: sess.Token, ExpiresAt: sess.ExpiresAt}
		path, err := cf.saveSession(stored)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, map[string]any{"name": name, "servers": stored.Servers, "expires_at": stored.ExpiresAt, "session_file": path})
		}
		fmt.Fprintf(env.Stdout, "logged in as %s on %s\nsession saved in %s, valid until %s\n",
			name, strings.Join(stored.Servers, ", "), path, sess.ExpiresAt.Local().Format(time.DateTime))
		return nil
	}
	return cmd
}
