package main

import (
	"context"
	"io"

	"github.com/deploybot/deploybot/bot"
)

// promoteCommand is `deploybot promote APP FROM TO [--config FILE]`: the
// digest FROM runs, deployed to TO from a terminal like `deploybot deploy`.
func promoteCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	a, err := parseCLIArgs("promote", args, getenv, false, stdout)
	if a.help || err != nil {
		return err
	}
	if len(a.positional) != 3 {
		return usageError("promote needs APP FROM TO")
	}
	app, from, to := a.positional[0], a.positional[1], a.positional[2]
	return runCLI(ctx, a.path, app, to, stdout, stderr, getenv, func(in *instance, req bot.Request) (*bot.Deployment, error) {
		return in.service.Promote(ctx, req, from)
	})
}
