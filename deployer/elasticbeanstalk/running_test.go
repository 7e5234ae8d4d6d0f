package elasticbeanstalk_test

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

func TestRunningReadsTheCurrentDockerrunAndWritesNothing(t *testing.T) {
	const sidecar = "nginx@sha256:3333333333333333333333333333333333333333333333333333333333333333"
	f := setup(t, func(emu *awsemu.Server) {
		emu.AddEBVersion("web", "v1", []byte(`{"AWSEBDockerrunVersion":2,"containerDefinitions":[{"name":"proxy","image":"`+sidecar+`"},{"name":"app","image":"`+newImage+`"}]}`))
	})
	ctx := context.Background()
	env := prodEnv()
	env.ElasticBeanstalk.Dockerrun, env.ElasticBeanstalk.Container = bot.DockerrunV2, "proxy"
	got, err := f.deployer.Running(ctx, env)
	if want := (bot.Running{Image: sidecar, Revision: "version v1"}); err != nil || got != want {
		t.Errorf("Running of a v2 version = %+v, %v; want %+v", got, err, want)
	}
	if w := f.emu.Writes(); len(w) != 0 {
		t.Errorf("Running wrote to AWS: %+v", w)
	}
	env.ElasticBeanstalk.Container = "worker"
	if _, err := f.deployer.Running(ctx, env); bot.ErrorCode(err) != bot.EINVALID {
		t.Errorf("Running of a missing container: error %v; want %s", err, bot.EINVALID)
	}

	if _, _, err := f.deploy(t, deployment(), prodEnv()); err != nil {
		t.Fatal(err)
	}
	got, err = f.deployer.Running(ctx, prodEnv())
	if want := (bot.Running{Image: newImage, Revision: "version git_cf7edb2-deploybot-42"}); err != nil || got != want {
		t.Errorf("Running after a v1 deploy = %+v, %v; want %+v", got, err, want)
	}
}

// With blue/green, what runs is what the half holding the CNAME runs.
func TestRunningOfBlueGreenReadsTheLiveHalf(t *testing.T) {
	f := setupBlueGreen(t)
	ctx := context.Background()
	got, err := f.deployer.Running(ctx, blueGreenEnv())
	if err != nil || got.Revision != "version v1" {
		t.Errorf("Running before a deploy = %+v, %v; want shop-blue's version v1", got, err)
	}
	if _, _, err := f.deploy(t, deployment(), blueGreenEnv()); err != nil {
		t.Fatal(err)
	}
	got, err = f.deployer.Running(ctx, blueGreenEnv())
	if want := (bot.Running{Image: newImage, Revision: "version " + label}); err != nil || got != want {
		t.Errorf("Running after the swap = %+v, %v; want %+v", got, err, want)
	}
}
