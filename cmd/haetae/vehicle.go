package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/haetae/haetae/client"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func vehicleCommand(env *Env) *ffcli.Command {
	fs := flag.NewFlagSet("haetae vehicle", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cmd := &ffcli.Command{
		Name:       "vehicle",
		ShortUsage: "haetae vehicle <register|simulate> [flags] ...",
		ShortHelp:  "register a vehicle (admin), or be one",
		LongHelp: `Vehicles for rentals: 'haetae vehicle register' gives a vehicle its id and token (admin),
'haetae vehicle simulate' acts as that vehicle, reporting its lock and unlock to the platform.
Run 'haetae vehicle <command> --help' for their flags.

Example:

  haetae vehicle register --admin-token-file haetae-data/admin-token --token-file s42.token S-0042
  haetae vehicle simulate --vehicle S-0042 --token-file s42.token --ride 3m`,
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{vehicleRegisterCommand(env), vehicleSimulateCommand(env)},
	}
	return groupCommand(env, cmd)
}

func vehicleRegisterCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "vehicle register")
	af := addAdminFlags(fs)
	tokenFile := fs.String("token-file", "", "write the vehicle's token to this `file` (mode 0600) instead of printing it")
	cmd := &ffcli.Command{
		Name:       "register",
		ShortUsage: "haetae vehicle register [flags] ID",
		ShortHelp:  "register the vehicle ID and get its token (admin)",
		LongHelp: `Register a vehicle under ID (1-32 of A-Z a-z 0-9 _ -, the id printed on it) and print its token,
or write it to --token-file. The platform keeps only the token's hash: this is the one time it is
shown. Registering an ID again fails with conflict. Needs the admin token.

Example:

  haetae vehicle register --admin-token-file haetae-data/admin-token --token-file s42.token S-0042`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "ID")
		if err != nil {
			return err
		}
		token, err := af.token()
		if err != nil {
			return err
		}
		c, err := client.New(cf.servers(nil), client.WithToken(token))
		if err != nil {
			return err
		}
		cred, err := c.CreateVehicle(ctx, args[0])
		if err != nil {
			return err
		}
		if *tokenFile != "" {
			if err := os.WriteFile(*tokenFile, []byte(cred.Token+"\n"), 0o600); err != nil {
				return fmt.Errorf("write the vehicle's token: %w (it is %s; keep it)", err, cred.Token)
			}
			cred.Token = ""
		}
		if cf.json {
			return printJSON(env.Stdout, cred)
		}
		if *tokenFile != "" {
			fmt.Fprintf(env.Stdout, "registered vehicle %s; its token is in %s\n", cred.ID, *tokenFile)
		} else {
			fmt.Fprintf(env.Stdout, "registered vehicle %s; its token, shown only now:\n%s\n", cred.ID, cred.Token)
		}
		return nil
	}
	return cmd
}
