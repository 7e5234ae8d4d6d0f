package ecs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/deploybot/deploybot/bot"
)

var _ bot.Inspector = (*Deployer)(nil)

// Running reads the container image of the service's PRIMARY deployment's
// task definition: what the service runs, or is rolling out, now. It only
// describes.
func (dp *Deployer) Running(ctx context.Context, env *bot.Environment) (bot.Running, error) {
	if env.ECS == nil {
		return bot.Running{}, bot.Errorf(bot.EINVALID, "environment %s has no ecs target", env.Name)
	}
	t := env.ECS
	client := ecs.NewFromConfig(dp.configs.For(env))
	svc, err := dp.describeService(ctx, client, t)
	if err != nil {
		return bot.Running{}, err
	}
	current := aws.ToString(svc.TaskDefinition)
	for _, dep := range svc.Deployments {
		if aws.ToString(dep.Status) == "PRIMARY" && dep.TaskDefinition != nil {
			current = aws.ToString(dep.TaskDefinition)
		}
	}
	if current == "" {
		return bot.Running{Revision: "no task definition"}, nil
	}
	out, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(current)})
	if err != nil {
		return bot.Running{}, fmt.Errorf("ECS DescribeTaskDefinition %s: %w", current, err)
	}
	image := containerImage(out.TaskDefinition, t.Container)
	if image == "" {
		return bot.Running{}, bot.Errorf(bot.EINVALID, "task definition %s has no container %q", shortTaskDef(current), t.Container)
	}
	return bot.Running{Image: image, Revision: "task definition " + shortTaskDef(current)}, nil
}
