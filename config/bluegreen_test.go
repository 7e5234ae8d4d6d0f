package config

import (
	"slices"
	"strings"
	"testing"
)

const blueGreenDev = "        elasticbeanstalk: {application: takumi-server, bucket: eb-bucket, blue_green: {environments: [takumi-blue, takumi-green], cname_prefix: takumi}}\n"

func withDev(target string) string {
	return strings.Replace(validConfig, "        elasticbeanstalk: {application: takumi-server, environment: takumi-srv-dev, bucket: eb-bucket}\n", target, 1)
}

func TestParseBlueGreen(t *testing.T) {
	cfg, err := Parse([]byte(withDev(blueGreenDev)), testEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	_, env, _ := cfg.Lookup("takumi-server", "dev")
	bg := env.ElasticBeanstalk.BlueGreen
	if bg == nil || !slices.Equal(bg.Environments, []string{"takumi-blue", "takumi-green"}) || bg.CNAMEPrefix != "takumi" {
		t.Errorf("blue_green = %+v", bg)
	}
}

func TestParseBlueGreenErrors(t *testing.T) {
	for target, want := range map[string]string{
		strings.Replace(blueGreenDev, "takumi-green", "takumi-blue", 1):               "apps.takumi-server.environments.dev.elasticbeanstalk.blue_green.environments: must name two different environments",
		strings.Replace(blueGreenDev, ", cname_prefix: takumi", "", 1):                "apps.takumi-server.environments.dev.elasticbeanstalk.blue_green.cname_prefix: required",
		strings.Replace(blueGreenDev, "bucket:", "environment: x, bucket:", 1):        "apps.takumi-server.environments.dev.elasticbeanstalk.environment: not with blue_green",
		strings.Replace(blueGreenDev, "cname_prefix", "cname", 1):                     "blue_green.cname: unknown key",
		"        elasticbeanstalk: {application: takumi-server, bucket: eb-bucket}\n": "apps.takumi-server.environments.dev.elasticbeanstalk.environment: required (or blue_green)",
	} {
		_, err := Parse([]byte(withDev(target)), testEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", strings.TrimSpace(target), err, want)
		}
	}
}
