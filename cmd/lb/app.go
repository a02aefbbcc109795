package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const (
	defaultAddr    = "127.0.0.1:9092"
	addrEnv        = "LOGBROKER_ADDR"
	defaultTimeout = 10 * time.Second
)

// command is one top-level subcommand.
type command struct {
	name    string
	summary string // one line for lb --help
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is the table of subcommands, in the order lb --help lists them.
// A new command is one file plus one line here.
func commands() []command {
	return []command{
		{"topics", "create, list, describe and delete topics", runTopics},
		{"produce", "append records to a topic", runProduce},
		{"consume", "print a partition's records, then follow new ones like tail -f", runConsume},
		{"groups", "list and describe consumer groups: members, offsets, lag", runGroups},
		{"bench", "measure produce and consume throughput and end-to-end latency", runBench},
	}
}

const mainUsage = `lb is the command-line client of LogBroker, a Kafka-style log broker.

Usage:
  lb [global flags] <command> [arguments] [flags]

Commands:
%s
Global flags (accepted before or after the command):
  --addr HOST:PORT   broker address (default %s; env %s)
  --timeout DURATION deadline for each request to the broker (default %s)

Examples:
  lb topics create orders --partitions 3
  echo hello | lb produce orders --key user-1
  lb consume orders --partition 0 --from earliest

Run 'lb <command> --help' for a command's arguments and flags.
`

// env is what a command runs with: the process's streams and the global
// flags. Global flags are bound to addr and timeout on every flag set, so
// they may come before or after the command name.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	addr           string
	timeout        time.Duration
}

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, addr: defaultAddr, timeout: defaultTimeout}
	if a, ok := os.LookupEnv(addrEnv); ok && a != "" {
		e.addr = a
	}
	cmds := commands()
	var list strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&list, "  %-9s %s\n", c.name, c.summary)
	}
	top := usage{
		line: "lb [global flags] <command> [arguments] [flags]",
		text: fmt.Sprintf(mainUsage, list.String(), defaultAddr, addrEnv, defaultTimeout),
		name: "lb",
	}

	fs := e.flagSet("lb")
	if err := fs.Parse(args); err != nil {
		return e.exit(top.parseError(e, err))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return e.exit(top.fail("no command given"))
	}
	name := rest[0]
	if name == "help" { // lb help [command]
		if len(rest) == 1 {
			fmt.Fprint(e.stdout, top.text)
			return exitOK
		}
		// lb help topics create: the words after help, then --help.
		name, rest = rest[1], append(append([]string{}, rest[1:]...), "--help")
	}
	for _, c := range cmds {
		if c.name == name {
			return e.exit(c.run(ctx, e, rest[1:]))
		}
	}
	return e.exit(top.fail(fmt.Sprintf("unknown command %q", name)))
}

// dispatch runs the subcommand that args[0] names (lb topics create ...),
// for commands made of subcommands; their summaries go unused.
func (e *env) dispatch(ctx context.Context, u usage, args []string, subs []command) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	choices := orList(names)
	// Global flags may come between the command and its subcommand too
	// (lb topics --addr HOST:PORT list).
	fs := e.flagSet(u.name)
	if err := fs.Parse(args); err != nil {
		return u.parseError(e, err)
	}
	args = fs.Args()
	if len(args) == 0 {
		return u.fail("which one? " + choices)
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(e.stdout, u.text)
		return errHelpShown
	}
	return u.fail(fmt.Sprintf("unknown subcommand %q: want %s", args[0], choices))
}

// orList writes names as a person would: "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// exit prints err for a person and picks the exit code.
func (e *env) exit(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "%s: %s\n", ue.name, ue.msg)
		if ue.line != "" {
			fmt.Fprintf(e.stderr, "Usage: %s\n", ue.line)
		}
		fmt.Fprintf(e.stderr, "Run '%s --help' for details.\n", ue.name)
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "lb: %s\n", describe(err, e))
		return exitError
	}
}

// errHelpShown: --help was asked for and printed; exit 0.
var errHelpShown = errors.New("help shown")

// usageError is a mistake in the command line: exit 2 with a pointer to help.
type usageError struct {
	name string // "lb produce"
	line string // the usage line
	msg  string
}

func (u *usageError) Error() string { return u.name + ": " + u.msg }

// usage is a command's help: the usage line and the full text.
type usage struct {
	name string // "lb topics create"
	line string // "lb topics create NAME [--partitions N]"
	text string // printed for --help, followed by the flags
}

func (u usage) fail(msg string) error {
	return &usageError{name: u.name, line: u.line, msg: msg}
}

func (u usage) parseError(e *env, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, u.text)
		return errHelpShown
	}
	return u.fail(err.Error())
}

// flagSet makes a flag set that carries the global flags and reports
// errors to its caller instead of printing them.
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&e.addr, "addr", e.addr, "broker address `HOST:PORT` (env "+addrEnv+")")
	fs.DurationVar(&e.timeout, "timeout", e.timeout, "deadline for each request to the broker, e.g. 500ms, 1m")
	return fs
}

// parse parses flags and positional arguments in any order (flag stops at
// the first argument; people write "lb topics create NAME --partitions 3").
// "--" ends the flags: what follows is positional even if it starts with -.
// On --help it prints u.text and the flags and returns errHelpShown.
func (e *env) parse(fs *flag.FlagSet, u usage, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(e.stdout, u.text)
				printFlags(e.stdout, fs)
				return nil, errHelpShown
			}
			return nil, u.fail(err.Error())
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseOne parses a command that takes exactly one argument, called what
// in the error ("topic NAME").
func (e *env) parseOne(fs *flag.FlagSet, u usage, args []string, what string) (string, error) {
	pos, err := e.parse(fs, u, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", u.fail(fmt.Sprintf("want one %s, got %d arguments", what, len(pos)))
	}
	return pos[0], nil
}

// parseNone parses a command that takes flags only.
func (e *env) parseNone(fs *flag.FlagSet, u usage, args []string) error {
	pos, err := e.parse(fs, u, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return u.fail(fmt.Sprintf("takes no arguments, got %q", strings.Join(pos, " ")))
	}
	return nil
}

// printFlags lists a flag set's flags in --name form.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "\nFlags:")
	fs.VisitAll(func(f *flag.Flag) {
		kind, text := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if kind != "" {
			left += " " + strings.ToUpper(kind)
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && !strings.Contains(text, "default") {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  %-22s %s%s\n", left, text, def)
	})
}

// dial connects to the broker. Dial does not wait for the broker, so a
// broker that is down shows up as UNAVAILABLE on the first call, which
// describe turns into advice.
func (e *env) dial(ctx context.Context) (*client.Client, error) {
	// The global flags may come anywhere on the line, so they are checked
	// here, before the first call, rather than where they are parsed.
	switch {
	case e.addr == "":
		return nil, &usageError{name: "lb", msg: "--addr is empty: want HOST:PORT (or set " + addrEnv + ")"}
	case e.timeout <= 0:
		return nil, &usageError{name: "lb", msg: fmt.Sprintf("--timeout %s: want a positive duration, e.g. 10s", e.timeout)}
	}
	return client.Dial(ctx, e.addr, client.WithLogger(e.logger()))
}

// logger writes warnings (such as a reconnect) to stderr for a person.
func (e *env) logger() zerolog.Logger {
	w := zerolog.ConsoleWriter{
		Out:        e.stderr,
		NoColor:    true,
		PartsOrder: []string{zerolog.LevelFieldName, zerolog.MessageFieldName},
		FormatLevel: func(any) string {
			return "lb:"
		},
	}
	return zerolog.New(w).Level(zerolog.WarnLevel)
}

// request dials the broker and runs do with a context bounded by --timeout;
// every call do makes shares that one deadline. The connection closes when
// do returns.
func (e *env) request(ctx context.Context, do func(rctx context.Context, c *client.Client) error) error {
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	rctx, cancel := e.withTimeout(ctx)
	defer cancel()
	return do(rctx, c)
}

// newTable starts a table for a person on w, its header row written; the
// table shows on Flush. The list and describe subcommands all print this way.
func newTable(w io.Writer, columns ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	return tw
}

// withTimeout bounds one request by --timeout.
func (e *env) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.timeout)
}
