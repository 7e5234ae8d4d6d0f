package awsenv_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	awseb "github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
	"github.com/deploybot/deploybot/emulator/faults"
)

const motoPage = "<html>\n  <body>moto: NotImplementedError: The DescribeServices action has not been implemented</body>\n</html>"

func answering(status int, body string) faults.Rule {
	return faults.Rule{Respond: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}}
}

// An endpoint that answers with a body the SDK cannot read as an AWS
// error is quoted, not reported as silent.
func TestUnreadableAnswerIsQuoted(t *testing.T) {
	emu, cfg := start(t)
	cfg.RetryMaxAttempts = 1
	cfg = awsenv.RecordAnswers(cfg)
	ctx := context.Background()

	emu.Inject(answering(500, motoPage))
	_, err := awsecs.NewFromConfig(cfg).DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	want := "HTTP 500: <html> <body>moto: NotImplementedError: The DescribeServices action has not been implemented</body> </html>"
	if msg := bot.ErrorMessage(awsenv.Unavailable(err)); !strings.Contains(msg, want) {
		t.Errorf("ECS: %q does not contain %q", msg, want)
	}
	_, err = awseb.NewFromConfig(cfg).DescribeEnvironments(ctx, &awseb.DescribeEnvironmentsInput{})
	if msg := bot.ErrorMessage(awsenv.Unavailable(err)); !strings.Contains(msg, want) {
		t.Errorf("Elastic Beanstalk: %q does not contain %q", msg, want)
	}

	emu.ClearFaults()
	emu.Inject(answering(400, "moto says: bad request"))
	_, err = awseb.NewFromConfig(cfg).DescribeEnvironments(ctx, &awseb.DescribeEnvironmentsInput{})
	var answer *awsenv.HTTPAnswer
	if !errors.As(err, &answer) || answer.Status != 400 || !strings.Contains(err.Error(), "AWS answered HTTP 400: moto says: bad request") {
		t.Errorf("400 with a text body: %v", err)
	}

	// A real AWS error stays what it is.
	emu.ClearFaults()
	_, err = awsecs.NewFromConfig(cfg).DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("nowhere"), Services: []string{"web"}})
	var noCluster *ecstypes.ClusterNotFoundException
	if !errors.As(err, &noCluster) || errors.As(err, &answer) {
		t.Errorf("ClusterNotFound: %v, want the typed error, not an HTTPAnswer", err)
	}
}
