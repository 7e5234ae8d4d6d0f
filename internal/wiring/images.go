package wiring

import (
	"context"

	"github.com/deploybot/deploybot/bot"
)

// imagesByRegistry sends an image to ECR's API when it lives in ECR, and
// to the OCI distribution API otherwise.
type imagesByRegistry struct {
	ecr, oci bot.Images
}

func (im imagesByRegistry) Resolve(ctx context.Context, image, tag string, env *bot.Environment) (string, error) {
	if host, _, err := bot.ParseImage(image); err == nil && !bot.IsECRRegistry(host) {
		return im.oci.Resolve(ctx, image, tag, env)
	}
	return im.ecr.Resolve(ctx, image, tag, env)
}
