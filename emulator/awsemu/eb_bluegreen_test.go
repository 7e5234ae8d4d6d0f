package awsemu_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"
)

func TestEBSwapEnvironmentCNAMEs(t *testing.T) {
	c := startQuery(t)
	c.emu.AddEBEnvironment("web", "web-blue", "web.us-east-1.elasticbeanstalk.com", "v1")
	c.emu.AddEBEnvironment("web", "web-green", "web-idle.us-east-1.elasticbeanstalk.com", "v1")
	c.emu.SetEBUpdatePolls(2)
	ctx := context.Background()

	if _, err := c.eb.SwapEnvironmentCNAMEs(ctx, &elasticbeanstalk.SwapEnvironmentCNAMEsInput{
		SourceEnvironmentName: aws.String("web-green"), DestinationEnvironmentName: aws.String("web-blue"),
	}); err != nil {
		t.Fatal(err)
	}
	// Both are Updating while the DNS change goes through, and a second
	// swap is refused meanwhile.
	out, err := c.eb.DescribeEnvironments(ctx, &elasticbeanstalk.DescribeEnvironmentsInput{ApplicationName: aws.String("web"), EnvironmentNames: []string{"web-blue", "web-green"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range out.Environments {
		if e.Status != ebtypes.EnvironmentStatusUpdating {
			t.Errorf("%s during the swap: %s, want Updating", aws.ToString(e.EnvironmentName), e.Status)
		}
	}
	_, err = c.eb.SwapEnvironmentCNAMEs(ctx, &elasticbeanstalk.SwapEnvironmentCNAMEsInput{
		SourceEnvironmentName: aws.String("web-green"), DestinationEnvironmentName: aws.String("web-blue"),
	})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("swap during a swap: %v, want InvalidParameterValue", err)
	}

	w := elasticbeanstalk.NewEnvironmentUpdatedWaiter(c.eb, func(o *elasticbeanstalk.EnvironmentUpdatedWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 2*time.Millisecond
	})
	if err := w.Wait(ctx, &elasticbeanstalk.DescribeEnvironmentsInput{ApplicationName: aws.String("web"), EnvironmentNames: []string{"web-green"}}, 5*time.Second); err != nil {
		t.Fatalf("EnvironmentUpdatedWaiter: %v", err)
	}
	if got := aws.ToString(describeEnv(t, c, "web-green").CNAME); got != "web.us-east-1.elasticbeanstalk.com" {
		t.Errorf("green CNAME after the swap %q, want the live one", got)
	}
	if got := aws.ToString(describeEnv(t, c, "web-blue").CNAME); got != "web-idle.us-east-1.elasticbeanstalk.com" {
		t.Errorf("blue CNAME after the swap %q, want green's old one", got)
	}
	if n := c.emu.EBSwaps(); n != 1 {
		t.Errorf("EBSwaps = %d, want 1", n)
	}
}
