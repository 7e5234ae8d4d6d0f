package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
)

// deployCommand is `deploybot deploy APP REF ENV [--config FILE]`: the
// pipeline run once from a terminal, with the same store, GitHub and Slack
// reporting as the server. The exit status is 0 only on success.
func deployCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var positional []string
	path := defaultConfigPath(getenv)
	// Flags may come after the positional arguments, which the flag
	// package does not allow, hence the small loop.
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" || a == "-config":
			if i+1 >= len(args) {
				return usageError("--config needs a file")
			}
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			_, path, _ = strings.Cut(a, "=")
		case a == "-h" || a == "-help" || a == "--help":
			usage, _ := commandUsage("deploy")
			fmt.Fprintf(stdout, "%s\n\nflags:\n  -config FILE\n    \tthe config FILE; $DEPLOYBOT_CONFIG when set (default \"deploybot.yaml\")\n", usage)
			return nil
		case strings.HasPrefix(a, "-"):
			return usageError(fmt.Sprintf("deploy: unknown flag %s", a))
		default:
			positional = append(positional, a)
		}
	}
	if len(positional) != 3 {
		return usageError("deploy needs APP REF ENV")
	}
	app, ref, env := positional[0], positional[1], positional[2]

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
	d, err := in.service.Accept(ctx, bot.Request{App: app, Env: env, Ref: ref, Requester: "cli:" + user, Source: bot.SourceCLI})
	if err != nil {
		return fmt.Errorf("%s", bot.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "deployment #%d: %s %s to %s\n", d.ID, app, ref, env)
	if err := in.service.RunOne(ctx, d); err != nil {
		return fmt.Errorf("deployment #%d failed after %s: %s", d.ID, time.Since(began).Round(100*time.Millisecond), d.Reason)
	}
	fmt.Fprintf(stdout, "deployment #%d succeeded in %s: %s\n", d.ID, time.Since(began).Round(100*time.Millisecond), d.Image)
	return nil
}
