// Command deploybot is the GitHub App and Slack chatops bot that deploys
// container images to AWS. See docs/design.md for the contract.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	var usage usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "deploybot:", err)
		os.Exit(1)
	}
}

// commands are deploybot's subcommands, in the order the usage lists
// them. args names every flag, so that the top-level usage shows them all.
var commands = []struct{ name, args, about string }{
	{"serve", "[--config FILE]", "run the bot"},
	{"check", "[--config FILE]", "check the config as serve would at start-up; print every problem, then warnings"},
	{"sandbox", "[--once] [--listen ADDR]", "run the bot against local emulators of GitHub, Slack and AWS"},
	{"health", "[--url URL]", "exit 0 if the bot answers on /healthz (for container health checks)"},
	{"deploy", "APP REF ENV [--config FILE] [--dry-run]", "run one deployment from a terminal; with --dry-run print its plan and change nothing"},
	{"promote", "APP FROM TO [--config FILE]", "deploy to TO exactly the image FROM runs (deployed there by deploybot)"},
	{"version", "", "print deploybot's version and the commit it was built from"},
	{"help", "[COMMAND]", "print this text, or one command's"},
}

var usageText = func() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  deploybot %-7s %-30s %s\n", c.name, c.args, c.about)
	}
	b.WriteString("\nFILE defaults to $DEPLOYBOT_CONFIG, else deploybot.yaml. ADDR defaults to\n" +
		"127.0.0.1:8080, or a free loopback port with --once. Every command takes --help.")
	return b.String()
}()

type usageError string

func (e usageError) Error() string { return string(e) + "\n" + usageText }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usageError("a command is required")
	}
	switch args[0] {
	case "serve":
		path, help, err := configFlag("serve", args[1:], stdout, getenv)
		if help || err != nil {
			return err
		}
		cfg, err := config.Load(path, getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr)
	case "check":
		path, help, err := configFlag("check", args[1:], stdout, getenv)
		if help || err != nil {
			return err
		}
		r, err := config.CheckFile(path, getenv)
		if err != nil {
			return err
		}
		cfg := r.Config
		for _, w := range r.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		// The store is printed with ${VAR} expanded, so an operator sees
		// which database serve would use, but never its password.
		fmt.Fprintf(stdout, "%s is valid: store %s; %d app(s): %s\n", path, bot.RedactDSN(cfg.Store), len(cfg.Apps), describeApps(cfg))
		return nil
	case "sandbox":
		fs := newFlagSet("sandbox")
		once := fs.Bool("once", false, "exit after the scenario, non-zero if anything went wrong")
		listen := fs.String("listen", "127.0.0.1:8080", "address of the bot's HTTP server (with --once, a free loopback port unless given)")
		if help, err := parseFlags(fs, args[1:], stdout); help || err != nil {
			return err
		}
		addr := *listen
		if *once && !flagSet(fs, "listen") {
			addr = "127.0.0.1:0"
		}
		return runSandbox(ctx, stdout, *once, addr)
	case "deploy":
		return deployCommand(ctx, args[1:], stdout, stderr, getenv)
	case "promote":
		return promoteCommand(ctx, args[1:], stdout, stderr, getenv)
	case "health":
		// For a container HEALTHCHECK: distroless images have no curl.
		fs := newFlagSet("health")
		target := fs.String("url", "http://127.0.0.1:8080/healthz", "health endpoint to ask")
		if help, err := parseFlags(fs, args[1:], stdout); help || err != nil {
			return err
		}
		return health(ctx, *target, stdout)
	case "version":
		if help, err := parseFlags(newFlagSet("version"), args[1:], stdout); help || err != nil {
			return err
		}
		fmt.Fprintln(stdout, version())
		return nil
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] != "help" {
			if _, ok := commandUsage(args[1]); ok {
				return run(ctx, []string{args[1], "--help"}, stdout, stderr, getenv)
			}
			return usageError(fmt.Sprintf("no command %q", args[1]))
		}
		fmt.Fprintln(stdout, usageText)
		return nil
	}
	return usageError(fmt.Sprintf("unknown command %q", args[0]))
}

// commandUsage is the first line of one command's --help.
func commandUsage(name string) (string, bool) {
	for _, c := range commands {
		if c.name == name {
			return fmt.Sprintf("usage: deploybot %s %s\n\n%s.", c.name, c.args, c.about), true
		}
	}
	return "", false
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help goes to stdout
	return fs
}

// parseFlags parses args into fs. Asked for help, it prints the command's
// usage and flags to stdout and reports help, which is no error: a person
// asked, and got, what they wanted.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (help bool, err error) {
	err = fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(fs, stdout)
		return true, nil
	case err != nil:
		return false, usageError(fmt.Sprintf("%s: %v", fs.Name(), err))
	case fs.NArg() > 0:
		return false, usageError(fmt.Sprintf("%s: unexpected arguments: %v", fs.Name(), fs.Args()))
	}
	return false, nil
}

func printHelp(fs *flag.FlagSet, stdout io.Writer) {
	usage, _ := commandUsage(fs.Name())
	fmt.Fprintln(stdout, usage)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(stdout, "\nflags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// configFlag parses [--config FILE]; help reports that it printed the
// help asked for instead.
func configFlag(cmd string, args []string, stdout io.Writer, getenv func(string) string) (path string, help bool, err error) {
	fs := newFlagSet(cmd)
	p := fs.String("config", defaultConfigPath(getenv), "the config `FILE`; $DEPLOYBOT_CONFIG when set")
	if help, err := parseFlags(fs, args, stdout); help || err != nil {
		return "", help, err
	}
	return *p, false, nil
}

func defaultConfigPath(getenv func(string) string) string {
	if p := getenv("DEPLOYBOT_CONFIG"); p != "" {
		return p
	}
	return "deploybot.yaml"
}

// version is the module's version and the VCS revision the binary was
// built from, as the Go toolchain stamped them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "deploybot (no build information), " + runtime.Version()
	}
	return describeBuild(bi)
}

func describeBuild(bi *debug.BuildInfo) string {
	v := "deploybot " + bi.Main.Version
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " with local changes"
			}
		}
	}
	if rev != "" {
		v += fmt.Sprintf(", commit %s%s", rev, modified)
		if when != "" {
			v += " of " + when
		}
	}
	return v + ", " + bi.GoVersion
}

func health(ctx context.Context, target string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		return usageError(err.Error())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s", target, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
