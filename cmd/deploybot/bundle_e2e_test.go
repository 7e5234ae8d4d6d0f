package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/elasticbeanstalk"
	"github.com/deploybot/deploybot/emulator/githubemu"
)

// newBundleSandbox is the sandbox whose staging environment (EB) ships
// .ebextensions and .platform from the repository in its source bundle,
// and whose "multi" environment is a multi-container EB environment whose
// current version is such a bundle.
func newBundleSandbox(t *testing.T) *sandbox {
	t.Helper()
	return newConfiguredSandbox(t, func(c *bot.Config) {
		envs := c.Apps[sandboxApp].Environments
		envs["staging"].ElasticBeanstalk.Bundle = []string{".ebextensions", ".platform"}
		envs["multi"] = &bot.Environment{Timeout: envs["staging"].Timeout, ElasticBeanstalk: &bot.EBTarget{
			Application: sandboxApp, Environment: "takumi-multi", Bucket: sandboxBucket,
			Dockerrun: bot.DockerrunV2, Container: "app", Bundle: []string{".ebextensions"},
		}}
	})
}

// bundledCommit is a commit whose .ebextensions say which it is.
func bundledCommit(sb *sandbox, seed string) string {
	sha := sb.commit(seed, "main", "success", true)
	sb.github.SetFiles(sandboxRepo, sha, map[string]githubemu.File{
		".ebextensions/01-options.config":         {Content: "option_settings:\n  - option_name: BUILT_FROM\n    value: " + seed + "\n"},
		".platform/hooks/predeploy/01-migrate.sh": {Content: "#!/bin/sh\necho migrate " + seed + "\n", Mode: "100755"},
		"README.md":              {Content: "not shipped"},
		"Dockerrun.aws.json":     {Content: `{"not": "this one"}`},
		"src/.ebextensions/nope": {Content: "not shipped either"},
	})
	return sha
}

// bundleFiles reads deployment d's source bundle from S3.
func bundleFiles(t *testing.T, sb *sandbox, d *bot.Deployment) map[string]string {
	t.Helper()
	_, env, _ := sb.cfg.Lookup(d.App, d.Env)
	bucket, key := env.ElasticBeanstalk.Bucket, elasticbeanstalk.ObjectKey(env.ElasticBeanstalk, d)
	raw, ok := sb.aws.Object(bucket, key)
	if !ok {
		t.Fatalf("no source bundle at s3://%s/%s", bucket, key)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("s3://%s/%s is not a zip: %v", bucket, key, err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(b)
		if f.Name == ".platform/hooks/predeploy/01-migrate.sh" && f.Mode().Perm() != 0o755 {
			t.Errorf("%s lost its executable bit: %v", f.Name, f.Mode())
		}
	}
	return files
}

func TestElasticBeanstalkBundleFollowsTheCommitAndRollsBack(t *testing.T) {
	sb := newBundleSandbox(t)
	first := bundledCommit(sb, "bundle first")
	a := slashDeploy(t, sb, "takumi-server "+first[:7]+" staging")
	second := bundledCommit(sb, "bundle second")
	b := slashDeploy(t, sb, "takumi-server "+second[:7]+" staging")
	for _, d := range []*bot.Deployment{a, b} {
		if d.State != bot.StateSucceeded {
			t.Fatalf("deployment #%d: %s %s", d.ID, d.State, d.Reason)
		}
	}
	for _, tc := range []struct {
		d    *bot.Deployment
		seed string
	}{{a, "bundle first"}, {b, "bundle second"}} {
		files := bundleFiles(t, sb, tc.d)
		if len(files) != 3 || !strings.Contains(files[".ebextensions/01-options.config"], "value: "+tc.seed) ||
			!strings.Contains(files[".platform/hooks/predeploy/01-migrate.sh"], "migrate "+tc.seed) {
			t.Errorf("bundle of #%d = %v, want Dockerrun and the two files of %q", tc.d.ID, files, tc.seed)
		}
		var dockerrun struct{ Image struct{ Name string } }
		if err := json.Unmarshal([]byte(files["Dockerrun.aws.json"]), &dockerrun); err != nil || dockerrun.Image.Name != tc.d.Image {
			t.Errorf("bundle of #%d: Dockerrun.aws.json %q (%v), want deploybot's running %s", tc.d.ID, files["Dockerrun.aws.json"], err, tc.d.Image)
		}
	}

	rb := slashDeploy(t, sb, "rollback takumi-server staging")
	if rb.State != bot.StateSucceeded || rb.SHA != first {
		t.Fatalf("rollback #%d: %s on %s (%s), want succeeded on %s", rb.ID, rb.State, rb.ShortSHA(), rb.Reason, first[:7])
	}
	if got := bundleFiles(t, sb, rb)[".ebextensions/01-options.config"]; !strings.Contains(got, "value: bundle first") {
		t.Errorf("the rollback's .ebextensions = %q, want the first commit's", got)
	}
	ebEnv, _ := sb.aws.EBEnvironment(sandboxEBEnv)
	if ebEnv.VersionLabel != elasticbeanstalk.VersionLabel(rb) {
		t.Errorf("EB runs %s, want the rollback's version %s", ebEnv.VersionLabel, elasticbeanstalk.VersionLabel(rb))
	}
}

func TestElasticBeanstalkV2ReadsDockerrunInsideABundle(t *testing.T) {
	sb := newBundleSandbox(t)
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, _ := zw.Create("Dockerrun.aws.json")
	io.WriteString(w, `{"AWSEBDockerrunVersion": 2, "containerDefinitions": [
	  {"name": "proxy", "image": "nginx:1.27", "essential": true, "memory": 128, "links": ["app"]},
	  {"name": "app", "image": "`+sandboxImage+`:old", "essential": true, "memory": 512}]}`)
	w, _ = zw.Create(".ebextensions/old.config")
	io.WriteString(w, "old")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sb.aws.AddEBVersion(sandboxApp, "zipped-v1", zipped.Bytes())
	sb.aws.AddEBEnvironment(sandboxApp, "takumi-multi", "takumi-multi.us-east-1.elasticbeanstalk.com", "zipped-v1")

	sha := bundledCommit(sb, "bundle multi")
	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" multi")
	if d.State != bot.StateSucceeded {
		t.Fatalf("deployment: %s %s", d.State, d.Reason)
	}
	files := bundleFiles(t, sb, d)
	var doc struct {
		ContainerDefinitions []struct{ Name, Image string }
	}
	if err := json.Unmarshal([]byte(files["Dockerrun.aws.json"]), &doc); err != nil || len(doc.ContainerDefinitions) != 2 ||
		doc.ContainerDefinitions[0].Image != "nginx:1.27" || doc.ContainerDefinitions[1].Image != d.Image {
		t.Errorf("Dockerrun.aws.json = %s (%v), want the proxy kept and app on %s", files["Dockerrun.aws.json"], err, d.Image)
	}
	if _, ok := files[".ebextensions/old.config"]; ok || !strings.Contains(files[".ebextensions/01-options.config"], "bundle multi") {
		t.Errorf("bundle files %v, want the commit's .ebextensions, not the old version's", files)
	}
}

func TestElasticBeanstalkBundleRefusesSymlinks(t *testing.T) {
	sb := newBundleSandbox(t)
	sha := sb.commit("bundle symlink", "main", "success", true)
	sb.github.SetFiles(sandboxRepo, sha, map[string]githubemu.File{
		".ebextensions/01.config": {Content: "ok"},
		".ebextensions/secrets":   {Content: "/etc/shadow", Mode: "120000"},
	})
	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" staging")
	if d.State != bot.StateFailed || !strings.Contains(d.Reason, ".ebextensions/secrets is a symbolic link") {
		t.Fatalf("deployment %s: %q, want failed naming the link", d.State, d.Reason)
	}
	for _, op := range []string{"PutObject", "CreateApplicationVersion", "UpdateEnvironment"} {
		if n := sb.aws.CallCount(op); n != 0 {
			t.Errorf("%s called %d times for a refused bundle", op, n)
		}
	}
}
