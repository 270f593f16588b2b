package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func registerCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "register")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin, without a prompt")
	cmd := &ffcli.Command{
		Name:       "register",
		ShortUsage: "haetae register [flags] NAME",
		ShortHelp:  "create an account",
		LongHelp: `Create the account NAME on the server. A name is 3 to 32 characters of a-z, 0-9, '_', '.' and
'-'; a password at least 8 characters. The password is read from one line of stdin, after a prompt
unless --password-stdin is given.

Registering does not log in; run 'haetae login NAME' next.

Example:

  echo 'correct horse battery' | haetae register --password-stdin --server http://127.0.0.1:8080 alice`,
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
		password, err := readPassword(env, name, *passwordStdin)
		if err != nil {
			return err
		}
		if err := c.Register(ctx, name, password); err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, map[string]any{"name": name, "servers": c.Endpoints()})
		}
		fmt.Fprintf(env.Stdout, "registered %s on %s\nnext: haetae login %s\n", name, strings.Join(c.Endpoints(), ", "), name)
		return nil
	}
	return cmd
}
