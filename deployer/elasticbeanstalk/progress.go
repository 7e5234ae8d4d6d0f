package elasticbeanstalk

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"
)

// instancesOnVersion is the rolling deploy's progress from enhanced
// health, ", instances on the new version x/y", so a 20-minute rolling
// deploy shows more than "Updating". Environments with basic health
// refuse DescribeInstancesHealth; the first refusal turns it off for the
// deploy, as does any other error: progress is a nicety, never a verdict.
func (r *run) instancesOnVersion(ctx context.Context) string {
	if r.noInstanceHealth {
		return ""
	}
	out, err := r.eb.DescribeInstancesHealth(ctx, &elasticbeanstalk.DescribeInstancesHealthInput{
		EnvironmentId:  r.ebEnv.EnvironmentId,
		AttributeNames: []types.InstancesHealthAttribute{types.InstancesHealthAttributeDeployment},
	})
	if err != nil {
		r.noInstanceHealth = true
		return ""
	}
	onNew := 0
	for _, in := range out.InstanceHealthList {
		if d := in.Deployment; d != nil && aws.ToString(d.VersionLabel) == r.watch.label && aws.ToString(d.Status) == "Deployed" {
			onNew++
		}
	}
	if len(out.InstanceHealthList) == 0 {
		return ""
	}
	return fmt.Sprintf(", instances on the new version %d/%d", onNew, len(out.InstanceHealthList))
}
