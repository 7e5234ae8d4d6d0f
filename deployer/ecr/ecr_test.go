package ecr_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
	"github.com/deploybot/deploybot/deployer/ecr"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

const (
	image  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/takumi-server"
	digest = "sha256:cf7edb2cf7edb2cf7edb2cf7edb2cf7edb2cf7edb2cf7edb2cf7edb2cf7edb2c"
)

func setup(t *testing.T) (*awsemu.Server, *ecr.Images) {
	t.Helper()
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), BaseEndpoint: aws.String(srv.URL)}
	return emu, ecr.New(awsenv.Static(cfg))
}

func TestResolveFound(t *testing.T) {
	emu, images := setup(t)
	emu.PutImage("takumi-server", "git_cf7edb2", digest)
	emu.PutImage("takumi-server", "git_0000000", "sha256:00")

	got, err := images.Resolve(context.Background(), image, "git_cf7edb2", &bot.Environment{Name: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if got != digest {
		t.Errorf("Resolve = %q, want %q", got, digest)
	}

	calls := emu.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	var sent struct {
		RegistryID     string `json:"registryId"`
		RepositoryName string `json:"repositoryName"`
	}
	if err := json.Unmarshal(calls[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.RegistryID != "123456789012" || sent.RepositoryName != "takumi-server" {
		t.Errorf("DescribeImages asked for registry %q repository %q", sent.RegistryID, sent.RepositoryName)
	}
}

func TestResolveMissing(t *testing.T) {
	emu, images := setup(t)
	emu.PutImage("takumi-server", "git_0000000", digest)

	for _, tc := range []struct{ name, image, tag string }{
		{"missing tag", image, "git_cf7edb2"},
		{"missing repository", "123456789012.dkr.ecr.us-east-1.amazonaws.com/other", "git_0000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := images.Resolve(context.Background(), tc.image, tc.tag, nil)
			if bot.ErrorCode(err) != bot.ENOTFOUND {
				t.Fatalf("Resolve error = %v, want code %s", err, bot.ENOTFOUND)
			}
			if want := tc.image + ":" + tc.tag + " not found in ECR"; !strings.Contains(bot.ErrorMessage(err), want) {
				t.Errorf("message %q does not say %q", bot.ErrorMessage(err), want)
			}
		})
	}
}

func TestResolveOtherErrorIsInternal(t *testing.T) {
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	defer srv.Close()
	emu.PutImage("takumi-server", "git_cf7edb2", digest)
	// Unsigned requests are refused, which stands in for any AWS failure
	// other than a missing image.
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(srv.URL)}

	_, err := ecr.New(awsenv.Static(cfg)).Resolve(context.Background(), image, "git_cf7edb2", nil)
	var apiErr smithy.APIError
	if bot.ErrorCode(err) != bot.EINTERNAL || !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnrecognizedClientException" {
		t.Errorf("Resolve error = %v, want an internal error wrapping the AWS one", err)
	}
}

func TestResolveBadImage(t *testing.T) {
	_, images := setup(t)
	_, err := images.Resolve(context.Background(), "no-registry", "latest", nil)
	if bot.ErrorCode(err) != bot.EINVALID {
		t.Errorf("Resolve error = %v, want code %s", err, bot.EINVALID)
	}
}
