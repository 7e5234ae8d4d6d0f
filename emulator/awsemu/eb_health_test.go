package awsemu_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"
)

func TestEBInstancesHealthShowsRollingBatches(t *testing.T) {
	c := startQuery(t)
	ctx := context.Background()
	c.emu.AddBucket("eb-bucket")
	c.emu.AddEBEnvironment("web", "web-prod", "web-prod.us-east-1.elasticbeanstalk.com", "v1")
	c.emu.AddEBEnvironment("web", "web-basic", "web-basic.us-east-1.elasticbeanstalk.com", "v1")
	c.emu.SetEBUpdatePolls(4)
	c.emu.SetEBRollingInstances("web-prod", 4)

	_, err := c.eb.DescribeInstancesHealth(ctx, &elasticbeanstalk.DescribeInstancesHealthInput{EnvironmentName: aws.String("web-basic")})
	if apiCode(err) != "InvalidRequestException" {
		t.Errorf("basic health: %v, want InvalidRequestException", err)
	}

	putBundle(t, c, "web/v2/Dockerrun.aws.json")
	if _, err := c.eb.CreateApplicationVersion(ctx, &elasticbeanstalk.CreateApplicationVersionInput{
		ApplicationName: aws.String("web"), VersionLabel: aws.String("v2"),
		SourceBundle: &ebtypes.S3Location{S3Bucket: aws.String("eb-bucket"), S3Key: aws.String("web/v2/Dockerrun.aws.json")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.eb.UpdateEnvironment(ctx, &elasticbeanstalk.UpdateEnvironmentInput{EnvironmentName: aws.String("web-prod"), VersionLabel: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	var onNew []int
	for range 4 {
		describeEnv(t, c, "web-prod") // the emulator's clock
		out, err := c.eb.DescribeInstancesHealth(ctx, &elasticbeanstalk.DescribeInstancesHealthInput{
			EnvironmentName: aws.String("web-prod"),
			AttributeNames:  []ebtypes.InstancesHealthAttribute{ebtypes.InstancesHealthAttributeDeployment},
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, in := range out.InstanceHealthList {
			if in.Deployment != nil && aws.ToString(in.Deployment.VersionLabel) == "v2" && aws.ToString(in.Deployment.Status) == "Deployed" {
				n++
			}
		}
		if len(out.InstanceHealthList) != 4 {
			t.Fatalf("%d instances, want 4", len(out.InstanceHealthList))
		}
		onNew = append(onNew, n)
	}
	if want := []int{1, 2, 3, 4}; !slices.Equal(onNew, want) {
		t.Errorf("instances on v2 per poll %v, want %v", onNew, want)
	}
}
