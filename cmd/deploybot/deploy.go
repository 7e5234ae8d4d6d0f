package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/dispatch"
)

// deployCommand is `deploybot deploy APP REF ENV [--dry-run] [--config
// FILE]`: the pipeline run once from a terminal, with the same store,
// GitHub and Slack reporting as the server, or with --dry-run its plan,
// changing nothing. The exit status is 0 only on success.
func deployCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	a, err := parseCLIArgs("deploy", args, getenv, true, stdout)
	if a.help || err != nil {
		return err
	}
	if len(a.positional) != 3 {
		return usageError("deploy needs APP REF ENV")
	}
	app, ref, env := a.positional[0], a.positional[1], a.positional[2]
	return runCLI(ctx, a.path, app, env, stdout, stderr, getenv, func(in *instance, req bot.Request) (*bot.Deployment, error) {
		req.Ref = ref
		if !a.dryRun {
			return in.service.Accept(ctx, req)
		}
		p, err := in.service.Plan(ctx, req)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(stdout, p.Plain())
		return nil, nil
	})
}

// cliArgs are a terminal command's arguments: flags may come after the
// positional arguments, which the flag package does not allow, hence the
// small loop.
type cliArgs struct {
	positional []string
	path       string
	dryRun     bool
	help       bool // asked for, and printed to stdout
}

func parseCLIArgs(cmd string, args []string, getenv func(string) string, dryRunOK bool, stdout io.Writer) (cliArgs, error) {
	a := cliArgs{path: defaultConfigPath(getenv)}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--config" || arg == "-config":
			if i+1 >= len(args) {
				return a, usageError("--config needs a file")
			}
			a.path = args[i+1]
			i++
		case strings.HasPrefix(arg, "--config=") || strings.HasPrefix(arg, "-config="):
			_, a.path, _ = strings.Cut(arg, "=")
		case dryRunOK && (arg == "--dry-run" || arg == "-dry-run"):
			a.dryRun = true
		case arg == "-h" || arg == "-help" || arg == "--help":
			usage, _ := commandUsage(cmd)
			fmt.Fprintf(stdout, "%s\n\nflags:\n  -config FILE\n    \tthe config FILE; $DEPLOYBOT_CONFIG when set (default \"deploybot.yaml\")\n", usage)
			if dryRunOK {
				fmt.Fprintf(stdout, "  -dry-run\n    \tprint the plan only: create and change nothing\n")
			}
			a.help = true
			return a, nil
		case strings.HasPrefix(arg, "-"):
			return a, usageError(fmt.Sprintf("%s: unknown flag %s", cmd, arg))
		default:
			a.positional = append(a.positional, arg)
		}
	}
	return a, nil
}

// runCLI loads the config, wires the service, asks accept for a
// deployment as the person at the terminal and runs it to its end; an
// accept that returns none has answered already.
func runCLI(ctx context.Context, path, app, env string, stdout, stderr io.Writer, getenv func(string) string,
	accept func(in *instance, req bot.Request) (*bot.Deployment, error)) error {
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return err
	}
	if _, _, err := cfg.Lookup(app, env); err != nil {
		return fmt.Errorf("%s", bot.ErrorMessage(err))
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close()

	began := time.Now()
	printer := func(d *bot.Deployment, line string) {
		fmt.Fprintf(stdout, "[%6.1fs] %-16s %s\n", time.Since(began).Seconds(), d.State, line)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	in, err := wire(ctx, cfg, store, logger, options{progress: printer, failOnInterrupt: true})
	if err != nil {
		return err
	}
	user := getenv("USER")
	if user == "" {
		user = "unknown"
	}
	d, err := accept(in, bot.Request{App: app, Env: env, Requester: "cli:" + user, Source: bot.SourceCLI})
	if err != nil {
		return fmt.Errorf("%s", bot.ErrorMessage(err))
	}
	if d == nil {
		return nil
	}
	fmt.Fprintf(stdout, "deployment #%d: %s %s to %s\n", d.ID, app, d.Ref, env)
	if p := d.PromotedFrom; p != nil {
		fmt.Fprintf(stdout, "%s\n", p.Text().Plain())
	}
	err = in.dispatcher.RunOne(ctx, d)
	if errors.Is(err, dispatch.ErrTakenElsewhere) {
		fmt.Fprintf(stdout, "deployment #%d is run by a deploybot serve on the same store; following it\n", d.ID)
		var ended *bot.Deployment
		if ended, err = follow(ctx, store, d.ID, printer, time.Second); ended != nil {
			*d = *ended
		}
		if err == nil && d.State != bot.StateSucceeded {
			err = errors.New(d.Reason)
		}
	}
	if err != nil {
		return fmt.Errorf("deployment #%d failed after %s: %s", d.ID, time.Since(began).Round(100*time.Millisecond), d.Reason)
	}
	fmt.Fprintf(stdout, "deployment #%d succeeded in %s: %s\n", d.ID, time.Since(began).Round(100*time.Millisecond), d.Image)
	return nil
}

// follow prints deployment id's timeline as another replica writes it,
// reading the store every poll, until the deployment ends or ctx does.
func follow(ctx context.Context, store storeDB, id int64, print func(*bot.Deployment, string), poll time.Duration) (*bot.Deployment, error) {
	printed := 0
	for {
		d, err := store.Deployment(ctx, id)
		if err != nil {
			return nil, err
		}
		events, err := store.Events(ctx, id)
		if err != nil {
			return d, err
		}
		for _, e := range events[min(printed, len(events)):] {
			print(&bot.Deployment{State: e.Stage}, e.Message)
		}
		printed = max(printed, len(events))
		if d.State.Terminal() {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(poll):
		}
	}
}
