package elasticbeanstalk_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebapi "github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"
	"github.com/aws/smithy-go"

	"github.com/deploybot/deploybot/bot"
)

const secret = "s3cr3t-nobody-may-see-"

// Elastic Beanstalk's limits on environment properties are checked
// before anything is written, naming the variable and never its value.
func TestEnvVarsOverEBLimitsRefusedBeforeAnyWrite(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{name: "one value over 256 characters", vars: map[string]string{"OK": "x", "TLS_CERT": strings.Repeat(secret, 12)},
			want: "env var TLS_CERT: its value is 264 characters, over Elastic Beanstalk's limit of 256"},
		{name: "over 4096 bytes in all", vars: func() map[string]string {
			m := map[string]string{}
			for _, n := range []string{"A_KEY", "B_KEY", "C_KEY", "D_KEY", "E_KEY", "F_KEY", "G_KEY", "H_KEY", "I_KEY", "J_KEY", "K_KEY", "L_KEY", "M_KEY", "N_KEY", "O_KEY", "P_KEY", "Q_KEY"} {
				m[n] = strings.Repeat(secret, 11)
			}
			return m
		}(), want: "env vars take 4216 bytes written as KEY=value, over Elastic Beanstalk's limit of 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, nil)
			env := prodEnv()
			env.EnvVars = tt.vars
			_, _, err := f.deploy(t, deployment(), env)
			if bot.ErrorCode(err) != bot.EINVALID || !strings.Contains(bot.ErrorMessage(err), tt.want) {
				t.Errorf("got %v, want refused with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes a value: %v", err)
			}
			if n := f.emu.CallCount("PutObject") + f.emu.CallCount("CreateApplicationVersion") + f.emu.CallCount("UpdateEnvironment") + f.emu.CallCount("DescribeApplications"); n != 0 {
				t.Errorf("%d AWS calls for env vars over EB's limits", n)
			}
		})
	}
}

// The emulator refuses such a value as EB does, quoting it: what the
// check above spares the requester.
func TestEmulatorRefusesLongEnvPropertyAsEBDoes(t *testing.T) {
	f := setup(t, nil)
	client := ebapi.NewFromConfig(f.cfg)
	_, err := client.UpdateEnvironment(context.Background(), &ebapi.UpdateEnvironmentInput{
		EnvironmentName: aws.String("web-prod"),
		OptionSettings: []types.ConfigurationOptionSetting{{
			Namespace: aws.String("aws:elasticbeanstalk:application:environment"), OptionName: aws.String("TLS_CERT"), Value: aws.String(strings.Repeat("x", 257)),
		}},
	})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ConfigurationValidationException" || !strings.Contains(api.ErrorMessage(), "OptionName: 'TLS_CERT'") {
		t.Errorf("UpdateEnvironment with a 257-character value: %v", err)
	}
}
