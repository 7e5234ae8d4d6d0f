package elasticbeanstalk

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"

	"github.com/deploybot/deploybot/bot"
)

// envNamespace is where EB keeps the environment properties its
// instances' containers get as environment variables.
const envNamespace = "aws:elasticbeanstalk:application:environment"

// optionSettings are vars as environment properties for UpdateEnvironment,
// which changes them with the version in one update.
func optionSettings(vars map[string]string) []types.ConfigurationOptionSetting {
	var out []types.ConfigurationOptionSetting
	for _, name := range bot.EnvVarNames(vars) {
		out = append(out, types.ConfigurationOptionSetting{
			Namespace:  aws.String(envNamespace),
			OptionName: aws.String(name),
			Value:      aws.String(vars[name]),
		})
	}
	return out
}
