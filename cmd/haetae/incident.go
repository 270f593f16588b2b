package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/statuspage"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func incidentCommand(env *Env) *ffcli.Command {
	fs := flag.NewFlagSet("haetae incident", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cmd := &ffcli.Command{
		Name:       "incident",
		ShortUsage: "haetae incident <report|open|update> [flags] ...",
		ShortHelp:  "report an incident to users, or open and update one (admin)",
		LongHelp: `Incidents: 'haetae incident report ID' prints the notice users are owed about one incident (its
cause, how long each part of the service was affected, and the compensation under the policy);
'haetae incident open' and 'haetae incident update ID' are for operators with the admin token.
Nodes open and resolve incidents about faults they see by themselves; 'haetae status' lists them.`,
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{incidentReportCommand(env), incidentOpenCommand(env), incidentUpdateCommand(env)},
	}
	cmd.Exec = usageExec(env, cmd)
	return cmd
}

// usageExec is the Exec of a command that only groups subcommands: it explains them.
func usageExec(env *Env, cmd *ffcli.Command) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(env.Stderr, "haetae %s: unknown command %q\n", cmd.Name, args[0])
		}
		fmt.Fprintln(env.Stderr, ffcli.DefaultUsageFunc(cmd))
		return errUsage
	}
}

func incidentReportCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "incident report")
	p := haetae.DefaultCompensation
	fs.DurationVar(&p.After, "compensate-after", p.After, "an outage longer than this is compensated (Korean law: 2h)")
	fs.Float64Var(&p.Multiple, "compensate-multiple", p.Multiple, "users are owed this many times the affected time (and fee)")
	fs.Int64Var(&p.MonthlyFeeWon, "monthly-fee", p.MonthlyFeeWon, "the service's fee per user and month, in `won` (0: free; credit only)")
	fs.StringVar(&p.MinImpact, "outage-impact", p.MinImpact, "the least `impact` that counts as an outage: minor, major or critical")
	cmd := &ffcli.Command{
		Name:       "report",
		ShortUsage: "haetae incident report [flags] ID",
		ShortHelp:  "print the notice for users about incident ID, with the compensation owed",
		LongHelp: `Print the notice users are sent about an incident: what failed and why, when, how long each
component was affected, and what each user is owed under the compensation policy the flags set.
Korean law asks a service to compensate its users after an outage of 2 hours; the default policy is
3 times the affected time as service credit for an outage (impact major or critical) over 2 hours,
plus 3 times the fee of that time when --monthly-fee is set. Needs no login.

Example:

  haetae incident report --monthly-fee 4900 20261129-iffpbvdf`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "ID")
		if err != nil {
			return err
		}
		if err := p.Validate(); err != nil {
			return err
		}
		c, err := cf.anonymousClient()
		if err != nil {
			return err
		}
		inc, err := c.Incident(ctx, args[0])
		if err != nil {
			return err
		}
		now := time.Now()
		if cf.json {
			return printJSON(env.Stdout, map[string]any{"incident": inc, "policy": p, "compensation": haetae.Compensate(p, inc, now)})
		}
		return statuspage.Notice(env.Stdout, inc, p, now)
	}
	return cmd
}

// adminClient is a client for the admin endpoints: the given servers, the admin token.
func adminClient(cf *clientFlags, af *adminFlags) (*client.Client, error) {
	token, err := af.token()
	if err != nil {
		return nil, err
	}
	return client.New(cf.servers(nil), client.WithToken(token))
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func incidentOpenCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "incident open")
	af := addAdminFlags(fs)
	var n haetae.NewIncident
	fs.StringVar(&n.Title, "title", "", "what users see as the headline (required)")
	fs.StringVar(&n.Impact, "impact", haetae.ImpactMinor, "minor, major or critical")
	fs.StringVar(&n.Status, "stage", haetae.StageInvestigating, "investigating, identified or monitoring")
	comps := fs.String("components", "", "comma-separated affected `components`: "+strings.Join(haetae.DefaultComponents, ", ")+" (required)")
	fs.StringVar(&n.Cause, "cause", "", "the cause, as far as known")
	fs.StringVar(&n.Text, "text", "", "the first update's text")
	started := fs.String("started", "", "when it began, RFC 3339 (default: now)")
	cmd := &ffcli.Command{
		Name:       "open",
		ShortUsage: "haetae incident open --title TEXT --components LIST [flags]",
		ShortHelp:  "open an incident (admin)",
		LongHelp: `Open an incident by hand, for what the nodes cannot see themselves. It prints the incident's id.
Needs the admin token and a node that reaches a majority.

Example:

  haetae incident open --title 'Login codes arrive late' --impact minor --components accounts \
    --cause 'our SMS provider is slow' --admin-token-file /etc/haetae/admin-token`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if _, err := exactArgs(env, cmd, fs, args); err != nil {
			return err
		}
		n.Components = splitList(*comps)
		if *started != "" {
			t, err := time.Parse(time.RFC3339, *started)
			if err != nil {
				return fmt.Errorf("--started: %w", err)
			}
			n.StartedAt = &t
		}
		c, err := adminClient(cf, af)
		if err != nil {
			return err
		}
		inc, err := c.CreateIncident(ctx, n)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, inc)
		}
		fmt.Fprintln(env.Stdout, inc.ID)
		return nil
	}
	return cmd
}

func incidentUpdateCommand(env *Env) *ffcli.Command {
	fs, cf := newClientFlagSet(env, "incident update")
	af := addAdminFlags(fs)
	var u haetae.NewUpdate
	fs.StringVar(&u.Status, "stage", "", "investigating, identified, monitoring or resolved (required)")
	fs.StringVar(&u.Text, "text", "", "what to tell users")
	comps := fs.String("components", "", "comma-separated `components` affected from now on (default: unchanged)")
	fs.StringVar(&u.Postmortem, "postmortem", "", "the postmortem `text`, once the incident is resolved")
	cmd := &ffcli.Command{
		Name:       "update",
		ShortUsage: "haetae incident update --stage STAGE [flags] ID",
		ShortHelp:  "add an update to incident ID (admin)",
		LongHelp: `Add an update to an incident. Stages go forward only: investigating → identified → monitoring →
resolved. A resolved incident takes a --postmortem (with --stage resolved). Needs the admin token.

Example:

  haetae incident update --stage resolved --text 'The provider recovered.' 20261129-iffpbvdf`,
		FlagSet: fs,
		Options: clientOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := exactArgs(env, cmd, fs, args, "ID")
		if err != nil {
			return err
		}
		u.Components = splitList(*comps)
		c, err := adminClient(cf, af)
		if err != nil {
			return err
		}
		inc, err := c.AddIncidentUpdate(ctx, args[0], u)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, inc)
		}
		fmt.Fprintf(env.Stdout, "%s is %s\n", inc.ID, inc.Status)
		return nil
	}
	return cmd
}
