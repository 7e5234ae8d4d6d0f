package elasticbeanstalk

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/deploybot/deploybot/bot"
)

var _ bot.Inspector = (*Deployer)(nil)

// Running reads the Dockerrun.aws.json of the version the environment
// (with blue/green, its live one) runs and the image it names (v1), or
// the image of the env's container (v2). It only describes and reads.
func (dp *Deployer) Running(ctx context.Context, env *bot.Environment) (bot.Running, error) {
	if env.ElasticBeanstalk == nil {
		return bot.Running{}, bot.Errorf(bot.EINVALID, "environment %s has no elasticbeanstalk target", env.Name)
	}
	cfg := dp.configs.For(env)
	r := &run{dp: dp, eb: elasticbeanstalk.NewFromConfig(cfg), s3: s3.NewFromConfig(cfg), env: env, t: env.ElasticBeanstalk}
	if bg := r.t.BlueGreen; bg != nil {
		// What the env runs is what its live half, holding the CNAME, runs.
		live, _, err := r.pair(ctx, bg)
		if err != nil {
			return bot.Running{}, err
		}
		t := *r.t
		t.Environment, t.BlueGreen = aws.ToString(live.EnvironmentName), nil
		r.t = &t
	}
	if err := r.preflight(ctx, false); err != nil {
		return bot.Running{}, err
	}
	label := aws.ToString(r.ebEnv.VersionLabel)
	if label == "" {
		return bot.Running{Revision: "no application version"}, nil
	}
	body, err := r.currentDockerrun(ctx)
	if err != nil {
		return bot.Running{}, err
	}
	image, err := dockerrunImageOf(body, label, r.t.Container)
	if err != nil {
		return bot.Running{}, err
	}
	return bot.Running{Image: image, Revision: "version " + label}, nil
}

// dockerrunImageOf is the image a Dockerrun.aws.json runs: v1's Image.Name,
// or the image of v2's container named container.
func dockerrunImageOf(body []byte, label, container string) (string, error) {
	var doc struct {
		Version    json.RawMessage `json:"AWSEBDockerrunVersion"`
		Image      dockerrunImage  `json:"Image"`
		Containers []struct {
			Name  string `json:"name"`
			Image string `json:"image"`
		} `json:"containerDefinitions"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", bot.Errorf(bot.EINVALID, "the Dockerrun.aws.json of version %s is not valid JSON: %v", label, err)
	}
	if doc.Image.Name != "" {
		return doc.Image.Name, nil
	}
	for _, c := range doc.Containers {
		if c.Name == container || container == "" && len(doc.Containers) == 1 {
			return c.Image, nil
		}
	}
	return "", bot.Errorf(bot.EINVALID, "the Dockerrun.aws.json of version %s names no image for container %q", label, container)
}
