package config

import (
	"fmt"
	"strings"

	"github.com/deploybot/deploybot/bot"
)

// warnings are what a valid config allows that is probably not meant:
// `deploybot check` prints them and still succeeds.
func warnings(c *bot.Config) []*bot.ConfigError {
	var warns []*bot.ConfigError
	warn := func(key, format string, args ...any) {
		warns = append(warns, &bot.ConfigError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if c.Dashboard.Public {
		warn("dashboard.public", "the dashboard, /api and /metrics are open to anyone who reaches the bot; set a token or a username and password instead, unless only a trusted network reaches it")
	}
	for _, name := range c.AppNames() {
		app := c.Apps[name]
		// Two commits reached through two git tags: a template that names
		// neither (latest) gives them one image tag.
		a, errA := app.ImageTag(strings.Repeat("a", 40), "v1.0.0")
		b, errB := app.ImageTag(strings.Repeat("b", 40), "v2.0.0")
		if errA == nil && errB == nil && a == b {
			warn("apps."+name+".tag", "every commit gets the same tag %q, which a push moves: a deploy cannot promise the commit it was asked for; put {{.ShortSHA}} or {{.SHA}} in it", a)
		}
		for _, env := range app.EnvNames() {
			if len(app.Environments[env].Allow) == 0 {
				warn("apps."+name+".environments."+env, "no allow list: anyone who can type /deploy in the workspace, or comment on the repository's pull requests, can deploy here")
			}
		}
	}
	return warns
}
