// Command deploybot is the GitHub App and Slack chatops bot that deploys
// container images to AWS. See DESIGN.md for the contract.
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

const usageText = `usage:
  deploybot serve   [--config FILE]   run the bot
  deploybot check   [--config FILE]   validate the config and print what is wrong
  deploybot sandbox [--once]          run the bot against local emulators of GitHub, Slack and AWS
  deploybot health  [--url URL]       exit 0 if the bot answers on /healthz (for container health checks)
  deploybot deploy  APP REF ENV [--config FILE]   run one deployment from a terminal

FILE defaults to $DEPLOYBOT_CONFIG, else deploybot.yaml.`

type usageError string

func (e usageError) Error() string { return string(e) + "\n" + usageText }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usageError("a command is required")
	}
	switch args[0] {
	case "serve":
		path, err := configFlag("serve", args[1:], getenv)
		if err != nil {
			return err
		}
		cfg, err := config.Load(path, getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr)
	case "check":
		path, err := configFlag("check", args[1:], getenv)
		if err != nil {
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
		fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
		fs.SetOutput(stderr)
		once := fs.Bool("once", false, "exit after the scenario, non-zero if anything went wrong")
		listen := fs.String("listen", "127.0.0.1:8080", "address of the bot's HTTP server while the sandbox stays up")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError(err.Error())
		}
		return runSandbox(ctx, stdout, *once, *listen)
	case "deploy":
		return deployCommand(ctx, args[1:], stdout, stderr, getenv)
	case "health":
		// For a container HEALTHCHECK: distroless images have no curl.
		fs := flag.NewFlagSet("health", flag.ContinueOnError)
		fs.SetOutput(stderr)
		target := fs.String("url", "http://127.0.0.1:8080/healthz", "health endpoint to ask")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError(err.Error())
		}
		return health(ctx, *target, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usageText)
		return nil
	}
	return usageError(fmt.Sprintf("unknown command %q", args[0]))
}

func configFlag(cmd string, args []string, getenv func(string) string) (string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := getenv("DEPLOYBOT_CONFIG")
	if def == "" {
		def = "deploybot.yaml"
	}
	path := fs.String("config", def, "config file")
	if err := fs.Parse(args); err != nil {
		return "", usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return "", usageError(fmt.Sprintf("unexpected arguments: %v", fs.Args()))
	}
	return *path, nil
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
