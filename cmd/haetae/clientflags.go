package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
	"golang.org/x/term"
)

// defaultServer is the node the client commands talk to when neither --server nor a login names one.
const defaultServer = "http://127.0.0.1:8080"

// sessionFile is where login keeps the session, inside the config directory.
const sessionFile = "session.json"

// clientFlags are the flags every client command takes.
type clientFlags struct {
	server    string
	json      bool
	configDir string
}

// newClientFlagSet returns a flag set named for the command with the common client flags defined.
func newClientFlagSet(env *Env, name string) (*flag.FlagSet, *clientFlags) {
	fs := flag.NewFlagSet("haetae "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	f := &clientFlags{}
	fs.StringVar(&f.server, "server", "", "comma-separated API `URLs` of the nodes to use (default: those of the last login, else "+defaultServer+")")
	fs.BoolVar(&f.json, "json", false, "machine-readable output: one JSON value per line")
	dir := ""
	if d, err := os.UserConfigDir(); err == nil {
		dir = filepath.Join(d, "haetae")
	}
	fs.StringVar(&f.configDir, "config-dir", dir, "`dir`ectory of the stored session")
	return fs, f
}

// clientOptions are the ffcli options of every client command: flags may come from HAETAE_* variables.
func clientOptions() []ff.Option { return []ff.Option{ff.WithEnvVarPrefix("HAETAE")} }

// storedSession is what login keeps in <config-dir>/session.json for the later commands.
type storedSession struct {
	Servers   []string  `json:"servers"`
	Name      string    `json:"name"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (f *clientFlags) sessionPath() (string, error) {
	if f.configDir == "" {
		return "", errors.New("no config directory: set --config-dir or HAETAE_CONFIG_DIR")
	}
	return filepath.Join(f.configDir, sessionFile), nil
}

// loadSession reads the stored session; nil without an error when there is none.
func (f *clientFlags) loadSession() (*storedSession, error) {
	path, err := f.sessionPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	var s storedSession
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read session %s: %w (log in again)", path, err)
	}
	return &s, nil
}

// saveSession writes the session readable by its owner only, replacing any older one at once.
func (f *clientFlags) saveSession(s *storedSession) (string, error) {
	path, err := f.sessionPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(f.configDir, 0o700); err != nil {
		return "", fmt.Errorf("create config dir: %w", err)
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp, err := os.CreateTemp(f.configDir, sessionFile+".*")
	if err != nil {
		return "", fmt.Errorf("write session: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write session: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write session: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write session: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("write session: %w", err)
	}
	return path, nil
}

// servers are the endpoints to use: --server if given, else the stored session's, else the default.
func (f *clientFlags) servers(stored *storedSession) []string {
	var out []string
	for _, s := range strings.Split(f.server, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 && stored != nil {
		out = stored.Servers
	}
	if len(out) == 0 {
		out = []string{defaultServer}
	}
	return out
}

// anonymousClient is a client without a token, for register and login.
func (f *clientFlags) anonymousClient() (*client.Client, error) {
	stored, err := f.loadSession()
	if err != nil {
		stored = nil // a broken session file must not keep anyone from logging in again
	}
	return client.New(f.servers(stored))
}

// loggedInClient is a client with the stored session's token.
func (f *clientFlags) loggedInClient() (*client.Client, error) {
	stored, err := f.loadSession()
	if err != nil {
		return nil, err
	}
	if stored == nil || stored.Token == "" {
		return nil, errors.New("not logged in: run 'haetae login NAME' first")
	}
	return client.New(f.servers(stored), client.WithToken(stored.Token))
}

// explain adds what to do to an error the server answered, where there is something to do.
func explain(err error) error {
	if haetae.ErrorCode(err) == haetae.EUnauthorized {
		return fmt.Errorf("%w (log in again: haetae login NAME)", err)
	}
	return err
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// parseArgs parses flags that come after positional arguments too (`haetae history ROOM --limit 5`),
// which the flag package alone stops at. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	usage := fs.Usage
	fs.Usage = func() {} // ffcli prints the usage once on --help; a parse error prints it below
	defer func() { fs.Usage = usage }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			if usage != nil { // the flag package has printed the error
				usage()
			}
			return nil, errUsage
		}
		consumed := len(args) - fs.NArg()
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, fs.Args()...), nil
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// exactArgs parses the flags and positional arguments of a command that takes exactly the arguments
// named in want ("ROOM", "NAME"), and explains the usage when the count is off.
func exactArgs(env *Env, cmd *ffcli.Command, fs *flag.FlagSet, args []string, want ...string) ([]string, error) {
	args, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(args) == len(want) {
		return args, nil
	}
	switch len(want) {
	case 0:
		return nil, wrongArgs(env, cmd, "takes no arguments, got %q", args)
	case 1:
		return nil, wrongArgs(env, cmd, "want one %s, got %d arguments", want[0], len(args))
	default:
		return nil, wrongArgs(env, cmd, "want %s, got %d arguments", strings.Join(want, " and "), len(args))
	}
}

// wrongArgs tells the user what the command expects and returns errUsage.
func wrongArgs(env *Env, cmd *ffcli.Command, format string, a ...any) error {
	fmt.Fprintf(env.Stderr, "haetae %s: %s\n", cmd.Name, fmt.Sprintf(format, a...))
	fmt.Fprintf(env.Stderr, "usage: %s\n", cmd.ShortUsage)
	return errUsage
}

// maxPasswordBytes bounds the line read as a password.
const maxPasswordBytes = 4096

// readPassword reads one line from stdin, after a prompt on stderr unless the password is piped in.
// On a terminal, what is typed is not echoed.
func readPassword(env *Env, name string, fromStdin bool) (string, error) {
	if !fromStdin {
		fmt.Fprintf(env.Stderr, "Password for %s: ", name)
	}
	if f, ok := env.Stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("no password given")
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, maxPasswordBytes)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password given on stdin")
	}
	return pw, nil
}
