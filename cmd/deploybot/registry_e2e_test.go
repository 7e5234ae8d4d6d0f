package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/registryemu"
)

// newRegistrySandbox is the sandbox with the app's image in a registry
// outside ECR that asks for credentials the auth way; the bot signs in
// with password.
func newRegistrySandbox(t *testing.T, auth registryemu.Auth, password string) (*sandbox, *registryemu.Registry) {
	t.Helper()
	reg := registryemu.Start(auth, "acme+deploybot", "right-password")
	t.Cleanup(reg.Close)
	sb := newConfiguredSandbox(t, func(c *bot.Config) {
		c.Apps[sandboxApp].Image = reg.Host() + "/acme/takumi-server"
		c.Registries = map[string]*bot.RegistryConfig{reg.Host(): {Username: "acme+deploybot", Password: password}}
	})
	return sb, reg
}

// newConfiguredSandbox is the sandbox with its config changed by change,
// then validated again as at start-up.
func newConfiguredSandbox(t *testing.T, change func(*bot.Config)) *sandbox {
	t.Helper()
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.sandboxConfig = func(c *bot.Config) {
			change(c)
			if errs := c.Validate(); len(errs) > 0 {
				t.Fatalf("config: %v", errs)
			}
		}
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	return sb
}

func TestDeployFromPrivateRegistry(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth registryemu.Auth
	}{{"basic auth", registryemu.Basic}, {"token challenge", registryemu.Token}} {
		t.Run(tc.name, func(t *testing.T) {
			sb, reg := newRegistrySandbox(t, tc.auth, "right-password")
			sha := sb.commit("registry "+tc.name, "main", "success", false)
			digest, err := reg.Push("acme/takumi-server", "git_"+sha[:7])
			if err != nil {
				t.Fatal(err)
			}
			d := slashDeploy(t, sb, "takumi-server main dev")
			if d.State != bot.StateSucceeded {
				t.Fatalf("deployment %s: %s", d.State, d.Reason)
			}
			td, _ := sb.aws.Service(sandboxCluster, sandboxService)
			want := reg.Host() + "/acme/takumi-server@" + digest
			if got := sb.aws.TaskDefinitionImage(td, sandboxContainer); got != want {
				t.Errorf("task definition %s runs %q, want the pinned %q", td, got, want)
			}
			if n := sb.aws.CallCount("DescribeImages"); n != 0 {
				t.Errorf("ECR asked %d times about an image outside ECR", n)
			}
		})
	}
}

func TestRegistryMissingTagWritesNothing(t *testing.T) {
	sb, reg := newRegistrySandbox(t, registryemu.Token, "right-password")
	sha := sb.commit("registry missing", "main", "success", false)
	if _, err := reg.Push("acme/takumi-server", "some-other-tag"); err != nil {
		t.Fatal(err)
	}
	d := slashDeploy(t, sb, "takumi-server main dev")
	if d.State != bot.StateFailed || !strings.Contains(d.Reason, "has no tag git_"+sha[:7]) {
		t.Fatalf("deployment %s: %q, want failed naming tag git_%s", d.State, d.Reason, sha[:7])
	}
	assertNoAWSWrite(t, sb)
}

func TestRegistryWrongPasswordWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth registryemu.Auth
	}{{"basic auth", registryemu.Basic}, {"token challenge", registryemu.Token}} {
		t.Run(tc.name, func(t *testing.T) {
			sb, reg := newRegistrySandbox(t, tc.auth, "wrong-password")
			sha := sb.commit("registry refused "+tc.name, "main", "success", false)
			if _, err := reg.Push("acme/takumi-server", "git_"+sha[:7]); err != nil {
				t.Fatal(err)
			}
			d := slashDeploy(t, sb, "takumi-server main dev")
			if d.State != bot.StateFailed || !strings.Contains(d.Reason, "registry "+reg.Host()+" refused") {
				t.Fatalf("deployment %s: %q, want failed naming registry %s", d.State, d.Reason, reg.Host())
			}
			if reg.Refused() == 0 {
				t.Error("the registry never refused anything: the credentials were not sent")
			}
			assertNoAWSWrite(t, sb)
			for _, m := range sb.slack.Messages(sandboxChannel) {
				if strings.Contains(m.Text, "wrong-password") {
					t.Errorf("Slack shows the password: %s", m.Text)
				}
			}
		})
	}
}

func assertNoAWSWrite(t *testing.T, sb *sandbox) {
	t.Helper()
	for _, op := range []string{"RegisterTaskDefinition", "UpdateService", "PutObject", "CreateApplicationVersion", "UpdateEnvironment"} {
		if n := sb.aws.CallCount(op); n != 0 {
			t.Errorf("%s called %d times before the image was found", op, n)
		}
	}
}
