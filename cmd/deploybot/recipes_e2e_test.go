package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deployer/elasticbeanstalk"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/registryemu"
)

// recipeBlock matches the ```yaml blocks of docs/recipes.md that are
// recipes: their first line is "# recipe: <name>".
var recipeBlock = regexp.MustCompile("(?s)```yaml\n# recipe: ([a-z-]+)\n(.*?)```")

// recipeSecrets are the ${VAR}s the recipes name, as deploybot's
// environment would hold them.
var recipeSecrets = map[string]string{
	"QUAY_TOKEN":          "quay-robot-token-value",
	"DOCKERHUB_TOKEN":     "dockerhub-token-value",
	"STG_DATABASE_URL":    "postgres://api:db-password-value@db/api",
	"STG_SECRET_KEY_BASE": "secret-key-base-value",
}

func readRecipes(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/recipes.md")
	if err != nil {
		t.Fatal(err)
	}
	recipes := map[string]string{}
	for _, m := range recipeBlock.FindAllStringSubmatch(string(doc), -1) {
		recipes[m[1]] = m[2]
	}
	if len(recipes) != 5 {
		t.Fatalf("docs/recipes.md has %d recipes, want the issue's five", len(recipes))
	}
	return recipes
}

// TestRecipes checks each recipe of docs/recipes.md with deploybot check,
// then deploys every environment of it through the emulators.
func TestRecipes(t *testing.T) {
	for name, recipe := range readRecipes(t) {
		t.Run(name, func(t *testing.T) { playRecipe(t, recipe) })
	}
}

func playRecipe(t *testing.T, recipe string) {
	// Registries outside ECR are served on loopback, under the recipe's
	// own credentials.
	regs := map[string]*registryemu.Registry{}
	for _, host := range []string{"quay.io", "docker.io"} {
		if strings.Contains(recipe, host+"/") {
			user := regexp.MustCompile(host + `:\s+#[^\n]*\n\s+username: (\S+)|` + host + `:\n\s+username: (\S+)`).FindStringSubmatch(recipe)
			pass := regexp.MustCompile(`password: \$\{(\w+)\}`).FindStringSubmatch(recipe)
			if user == nil || pass == nil {
				t.Fatalf("recipe uses %s without registries credentials", host)
			}
			reg := registryemu.Start(registryemu.Token, user[1]+user[2], recipeSecrets[pass[1]])
			t.Cleanup(reg.Close)
			regs[reg.Host()] = reg
			recipe = strings.ReplaceAll(recipe, host, reg.Host())
		}
	}
	header, _, _ := strings.Cut(sandboxConfig, "\napps:\n")
	text := header + "\n" + recipe
	getenv := func(name string) string {
		if v, ok := recipeSecrets[name]; ok {
			return v
		}
		return map[string]string{"STORE": "sqlite:recipe.db", "GITHUB_API_URL": "http://127.0.0.1:1/api/v3/", "GITHUB_KEY": string(testKeyPEM()), "SLACK_API_URL": "http://127.0.0.1:1/"}[name]
	}

	path := filepath.Join(t.TempDir(), "deploybot.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"check", "--config", path}, &out, &errOut, getenv); err != nil || !strings.Contains(out.String(), "is valid") {
		t.Fatalf("deploybot check: %v\n%s%s", err, out.String(), errOut.String())
	}
	for _, v := range recipeSecrets {
		if strings.Contains(out.String()+errOut.String(), v) {
			t.Errorf("deploybot check printed a secret value: %s", out.String())
		}
	}
	cfg, err := config.Parse([]byte(text), getenv)
	if err != nil {
		t.Fatal(err)
	}

	sb := newConfiguredSandbox(t, func(c *bot.Config) { c.Apps, c.Registries = cfg.Apps, cfg.Registries })
	for _, appName := range cfg.AppNames() {
		app := cfg.Apps[appName]
		if app.Repo != sandboxRepo {
			sb.github.AddRepo(app.Repo, sandboxInstall)
		}
		for _, envName := range app.EnvNames() {
			deployRecipeEnv(t, sb, regs, app, app.Environments[envName])
		}
	}
}

// deployRecipeEnv builds the world env deploys to, makes a commit with
// green CI and its image, and deploys it: by a push where the env deploys
// on push, by /deploy otherwise.
func deployRecipeEnv(t *testing.T, sb *sandbox, regs map[string]*registryemu.Registry, app *bot.App, env *bot.Environment) {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256([]byte(app.Name + "/" + env.Name))
	sha := hex.EncodeToString(sum[:20])
	sb.github.AddCommit(app.Repo, sha)
	checks := app.Checks
	if len(checks) == 0 {
		checks = []string{"ci/build"}
	}
	for _, c := range checks {
		sb.github.SetStatus(app.Repo, sha, c, "success")
	}
	gitTag := ""
	if app.UsesGitTag() {
		gitTag = "1.2.3"
		sb.github.AddTag(app.Repo, gitTag, sha)
	}
	var files map[string]githubemu.File
	if eb := env.ElasticBeanstalk; eb != nil && len(eb.Bundle) > 0 {
		files = map[string]githubemu.File{".ebextensions/deploy.config": {Content: "option_settings:\n  aws:elasticbeanstalk:command:\n    BatchSize: 1\n# " + sha[:7] + "\n"}}
		sb.github.SetFiles(app.Repo, sha, files)
	}

	tag, err := app.ImageTag(sha, gitTag)
	if err != nil {
		t.Fatal(err)
	}
	host, repository, _ := bot.ParseImage(app.Image)
	if bot.IsECRRegistry(host) {
		sum := sha256.Sum256([]byte("image " + sha))
		sb.aws.PutImage(repository, tag, "sha256:"+hex.EncodeToString(sum[:]))
	} else if _, err := regs[host].Push(repository, tag); err != nil {
		t.Fatal(err)
	}

	switch {
	case env.ECS != nil:
		sb.aws.AddService(env.ECS.Cluster, env.ECS.Service, awsemu.TaskDef{Family: env.ECS.Service, Containers: []awsemu.Container{{Name: env.ECS.Container, Image: app.Image + ":old", Memory: 256}}})
	case env.ElasticBeanstalk.Dockerrun == bot.DockerrunV2:
		eb := env.ElasticBeanstalk
		sb.aws.AddEBVersion(eb.Application, "before-deploybot", []byte(fmt.Sprintf(`{"AWSEBDockerrunVersion": 2, "containerDefinitions": [
		  {"name": "nginx", "image": "nginx:1.27", "essential": true, "memory": 64, "links": [%q]},
		  {"name": %q, "image": "%s:old", "essential": true, "memory": 256}]}`, eb.Container, eb.Container, app.Image)))
		sb.aws.AddBucket(eb.Bucket)
		sb.aws.AddEBEnvironment(eb.Application, eb.Environment, eb.Environment+".elasticbeanstalk.com", "before-deploybot")
	default:
		if a := env.ElasticBeanstalk.Authentication; a != nil {
			sb.aws.AddBucket(a.Bucket)
			sb.aws.PutObject(a.Bucket, a.Key, []byte(`{"auths": {}}`))
		}
		sb.aws.AddBucket(env.ElasticBeanstalk.Bucket)
		sb.aws.AddEBEnvironment(env.ElasticBeanstalk.Application, env.ElasticBeanstalk.Environment, env.ElasticBeanstalk.Environment+".elasticbeanstalk.com", "initial")
	}

	var d *bot.Deployment
	if ad := env.AutoDeploy; ad != nil {
		if _, err := sb.github.Push(app.Repo, ad.Branch, sha, "octocat"); err != nil {
			t.Fatal(err)
		}
		if d, err = sb.latest(ctx); err != nil || d.Source != bot.SourceAuto || d.Env != env.Name {
			t.Fatalf("push to %s made no auto deployment of %s (%v, %+v)", ad.Branch, env.Name, err, d)
		}
		if d, err = sb.wait(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	} else {
		ref := sha[:7]
		if gitTag != "" {
			ref = gitTag
		}
		d = slashDeploy(t, sb, fmt.Sprintf("%s %s %s", app.Name, ref, env.Name))
	}
	if d.State != bot.StateSucceeded || d.SHA != sha || !strings.Contains(d.Image, "@sha256:") {
		t.Fatalf("%s %s: %s on %s (%s), image %s", app.Name, env.Name, d.State, d.ShortSHA(), d.Reason, d.Image)
	}

	if env.ECS != nil {
		td, _ := sb.aws.Service(env.ECS.Cluster, env.ECS.Service)
		if got := sb.aws.TaskDefinitionImage(td, env.ECS.Container); got != d.Image {
			t.Errorf("%s %s: ECS runs %s, want %s", app.Name, env.Name, got, d.Image)
		}
		return
	}
	ebEnv, _ := sb.aws.EBEnvironment(env.ElasticBeanstalk.Environment)
	if ebEnv.VersionLabel != elasticbeanstalk.VersionLabel(d) || ebEnv.Status != "Ready" {
		t.Errorf("%s %s: EB environment %+v, want Ready on %s", app.Name, env.Name, ebEnv, elasticbeanstalk.VersionLabel(d))
	}
	if a := env.ElasticBeanstalk.Authentication; a != nil {
		raw, _ := sb.aws.Object(env.ElasticBeanstalk.Bucket, elasticbeanstalk.ObjectKey(env.ElasticBeanstalk, d))
		var doc struct{ Authentication struct{ Bucket, Key string } }
		if err := json.Unmarshal(raw, &doc); err != nil || doc.Authentication.Bucket != a.Bucket || doc.Authentication.Key != a.Key {
			t.Errorf("%s %s: Dockerrun %s (%v), want Authentication s3://%s/%s", app.Name, env.Name, raw, err, a.Bucket, a.Key)
		}
	}
	if files != nil {
		got := bundleFiles(t, sb, d)
		if !strings.Contains(got[".ebextensions/deploy.config"], sha[:7]) {
			t.Errorf("%s %s: bundle %v lacks the commit's .ebextensions", app.Name, env.Name, got)
		}
	}
	if len(env.EnvVars) > 0 {
		var set []string
		for _, c := range sb.aws.Calls() {
			if c.Op == "UpdateEnvironment" {
				for _, name := range bot.EnvVarNames(env.EnvVars) {
					if strings.Contains(string(c.Body), "OptionName="+name) {
						set = append(set, name)
					}
				}
			}
		}
		sort.Strings(set)
		if strings.Join(set, ",") != strings.Join(bot.EnvVarNames(env.EnvVars), ",") {
			t.Errorf("%s %s: UpdateEnvironment set %v, want %v", app.Name, env.Name, set, bot.EnvVarNames(env.EnvVars))
		}
	}
}
