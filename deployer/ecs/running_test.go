package ecs_test

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/bot"
)

func TestRunningReadsThePrimaryTaskDefinitionAndWritesNothing(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	got, err := f.deployer.Running(ctx, prodEnv())
	if want := (bot.Running{Image: oldImage, Revision: "task definition web:1"}); err != nil || got != want {
		t.Errorf("Running before a deploy = %+v, %v; want %+v", got, err, want)
	}
	if w := f.emu.Writes(); len(w) != 0 {
		t.Errorf("Running wrote to AWS: %+v", w)
	}
	if _, _, err := f.deploy(t, prodEnv()); err != nil {
		t.Fatal(err)
	}
	got, err = f.deployer.Running(ctx, prodEnv())
	if want := (bot.Running{Image: newImage, Revision: "task definition web:2"}); err != nil || got != want {
		t.Errorf("Running after a deploy = %+v, %v; want %+v", got, err, want)
	}
	env := prodEnv()
	env.ECS.Container = "sidecar"
	if _, err := f.deployer.Running(ctx, env); bot.ErrorCode(err) != bot.EINVALID {
		t.Errorf("Running of a missing container: error %v; want %s", err, bot.EINVALID)
	}
	env.ECS.Service = "gone"
	if _, err := f.deployer.Running(ctx, env); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("Running of a missing service: error %v; want %s", err, bot.ENOTFOUND)
	}
}
