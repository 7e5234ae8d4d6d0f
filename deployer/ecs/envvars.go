package ecs

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deploybot/deploybot/bot"
)

// mergeEnvironment sets vars on container in the revision to register,
// over the environment it had: a variable the config does not name is
// left as the team set it.
func mergeEnvironment(in *ecs.RegisterTaskDefinitionInput, container string, vars map[string]string) {
	if len(vars) == 0 {
		return
	}
	for i := range in.ContainerDefinitions {
		c := &in.ContainerDefinitions[i]
		if aws.ToString(c.Name) != container {
			continue
		}
		// The slice is the described revision's; the copy keeps that intact.
		env := slices.Clone(c.Environment)
		for _, name := range bot.EnvVarNames(vars) {
			at := slices.IndexFunc(env, func(kv types.KeyValuePair) bool { return aws.ToString(kv.Name) == name })
			kv := types.KeyValuePair{Name: aws.String(name), Value: aws.String(vars[name])}
			if at >= 0 {
				env[at] = kv
			} else {
				env = append(env, kv)
			}
		}
		c.Environment = env
	}
}
