package handlers

import (
	"net/url"
	"strings"

	"github.com/deploybot/deploybot/bot"
)

// links are where else a deployment can be looked at; "" for those not
// known (no message posted yet, an env no longer configured).
type links struct {
	// SlackURL opens the deployment's message. slack.com/archives
	// redirects to the workspace of whoever follows it, so no workspace
	// domain needs configuring.
	SlackURL string
	// GitHubDeploymentsURL is the repository's deployments page, where the
	// statuses deploybot set are listed.
	GitHubDeploymentsURL string
	// ConsoleURL is the target in the AWS console: the ECS service or the
	// Elastic Beanstalk application, in the configured region.
	ConsoleURL string
	// ConsoleLabel names what ConsoleURL opens.
	ConsoleLabel string
}

func (s *Server) links(d *bot.Deployment) links {
	var l links
	if d.SlackChannel != "" && d.SlackTS != "" {
		l.SlackURL = "https://slack.com/archives/" + url.PathEscape(d.SlackChannel) + "/p" + strings.ReplaceAll(d.SlackTS, ".", "")
	}
	if d.GitHubDeploymentID != 0 && d.Repo != "" {
		l.GitHubDeploymentsURL = s.githubWebURL() + "/" + d.Repo + "/deployments"
	}
	if s.Config == nil || s.Config.AWS.Region == "" {
		return l
	}
	app, ok := s.Config.Apps[d.App]
	if !ok {
		return l
	}
	env, ok := app.Environments[d.Env]
	if !ok {
		return l
	}
	l.ConsoleURL, l.ConsoleLabel = consoleURL(s.Config.AWS.Region, env)
	return l
}

// consoleURL is env's target in the AWS console of region. Only the
// standard partition: a region name is all the config says about it.
func consoleURL(region string, env *bot.Environment) (string, string) {
	base := "https://" + url.PathEscape(region) + ".console.aws.amazon.com/"
	q := "?region=" + url.QueryEscape(region)
	switch {
	case env.ECS != nil:
		t := env.ECS
		return base + "ecs/v2/clusters/" + url.PathEscape(t.Cluster) + "/services/" + url.PathEscape(t.Service) + "/health" + q,
			"ECS service " + t.Cluster + "/" + t.Service
	case env.ElasticBeanstalk != nil:
		t := env.ElasticBeanstalk
		return base + "elasticbeanstalk/home" + q + "#/application/overview?applicationName=" + url.QueryEscape(t.Application),
			"Elastic Beanstalk application " + t.Application
	}
	return "", ""
}
