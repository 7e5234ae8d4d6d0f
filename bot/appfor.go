package bot

import "strings"

// AppFor picks the app of repository repo that a request from src names,
// or repo's only app when it names none. The errors speak the trigger's
// words: a PR comment names the app in its text, a GitHub API deployment
// in its payload.
func (c *Config) AppFor(repo, named string, src Source) (string, error) {
	apps := c.AppsForRepo(repo)
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	if named != "" {
		for _, n := range names {
			if n == named {
				return n, nil
			}
		}
		if src == SourcePRComment && len(apps) > 0 {
			return "", Errorf(ENOTFOUND, "%s has no app %q; its apps: %s", repo, named, strings.Join(names, ", "))
		}
		if src != SourcePRComment {
			return "", Errorf(ENOTFOUND, "deploybot has no app %q for %s", named, repo)
		}
	}
	switch {
	case len(apps) == 0:
		return "", Errorf(ENOTFOUND, "deploybot has no app for %s", repo)
	case len(apps) > 1 && src == SourcePRComment:
		return "", Errorf(EINVALID, "%s deploys several apps (%s); say which: %v", repo, strings.Join(names, ", "), Name("deploy <app> to <env>"))
	case len(apps) > 1:
		return "", Errorf(EINVALID, "%s has several apps (%s); set payload.app", repo, strings.Join(names, ", "))
	}
	return names[0], nil
}
