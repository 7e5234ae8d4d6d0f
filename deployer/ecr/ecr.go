// Package ecr finds deploybot's images in Amazon ECR.
package ecr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
)

// Images implements bot.Images with ECR's DescribeImages.
type Images struct {
	configs awsenv.Source
}

var _ bot.Images = (*Images)(nil)

// New returns Images asking ECR with the configuration configs gives each
// environment.
func New(configs awsenv.Source) *Images {
	return &Images{configs: configs}
}

// Resolve returns the digest image:tag has in ECR, asking with env's
// credentials (its role_arn, when it has one).
func (im *Images) Resolve(ctx context.Context, image, tag string, env *bot.Environment) (string, error) {
	registry, repository, err := bot.ParseImage(image)
	if err != nil {
		return "", bot.Errorf(bot.EINVALID, "image %s: %v", image, err)
	}
	in := &ecr.DescribeImagesInput{
		RepositoryName: aws.String(repository),
		ImageIds:       []types.ImageIdentifier{{ImageTag: aws.String(tag)}},
	}
	// The registry id is the account that owns the repository; naming it
	// lets an image live in another account than deploybot's credentials.
	if id := registryID(registry); id != "" {
		in.RegistryId = aws.String(id)
	}
	out, err := ecr.NewFromConfig(im.configs.For(env)).DescribeImages(ctx, in)
	var imageNotFound *types.ImageNotFoundException
	var repoNotFound *types.RepositoryNotFoundException
	switch {
	case errors.As(err, &imageNotFound), errors.As(err, &repoNotFound):
		return "", bot.Errorf(bot.ENOTFOUND, "image %s:%s not found in ECR", image, tag)
	case err != nil:
		return "", awsenv.Unavailable(fmt.Errorf("ECR DescribeImages %s:%s: %w", repository, tag, err))
	}
	for _, d := range out.ImageDetails {
		if digest := aws.ToString(d.ImageDigest); digest != "" {
			return digest, nil
		}
	}
	return "", bot.Errorf(bot.ENOTFOUND, "image %s:%s not found in ECR", image, tag)
}

// registryID returns the account id of an ECR registry host
// (123456789012.dkr.ecr.us-east-1.amazonaws.com), or "" for any other host.
func registryID(host string) string {
	id, rest, ok := strings.Cut(host, ".")
	if !ok || len(id) != 12 || !strings.HasPrefix(rest, "dkr.ecr.") {
		return ""
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return id
}
