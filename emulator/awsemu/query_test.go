package awsemu_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/deploybot/deploybot/emulator/awsemu"
)

type clients struct {
	emu *awsemu.Server
	s3  *s3.Client
	eb  *elasticbeanstalk.Client
	sts *sts.Client
	cfg aws.Config
}

func startQuery(t *testing.T) *clients {
	t.Helper()
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: static, BaseEndpoint: aws.String(srv.URL)}
	return &clients{
		emu: emu,
		s3:  s3.NewFromConfig(cfg),
		eb:  elasticbeanstalk.NewFromConfig(cfg),
		sts: sts.NewFromConfig(cfg),
		cfg: cfg,
	}
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestS3ObjectsPathStyle(t *testing.T) {
	c := startQuery(t)
	ctx := context.Background()
	c.emu.AddBucket("eb-bucket")
	body := []byte(`{"AWSEBDockerrunVersion":"1"}`)

	_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("eb-bucket"), Key: aws.String("web/abc/Dockerrun.aws.json"),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	// The object lands under its key: proof that the SDK addressed the
	// bucket in the path, not in the host name.
	got, ok := c.emu.Object("eb-bucket", "web/abc/Dockerrun.aws.json")
	if !ok || !bytes.Equal(got, body) {
		t.Fatalf("Object = %q, %v; want %q", got, ok, body)
	}
	calls := c.emu.Calls()
	if last := calls[len(calls)-1]; last.Service != "s3" || last.Op != "PutObject" || last.AccessKeyID != "AKIDEXAMPLE" || !bytes.Equal(last.Body, body) {
		t.Errorf("logged %+v", last)
	}

	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("eb-bucket"), Key: aws.String("web/abc/Dockerrun.aws.json")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	read, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(read, body) || aws.ToString(out.ContentType) != "application/json" {
		t.Errorf("GetObject = %q (%s), %v", read, aws.ToString(out.ContentType), err)
	}

	if _, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("eb-bucket"), Key: aws.String("web/abc/Dockerrun.aws.json")}); err != nil {
		t.Errorf("HeadObject: %v", err)
	}
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("eb-bucket")}); err != nil {
		t.Errorf("HeadBucket: %v", err)
	}
}

func TestS3Errors(t *testing.T) {
	c := startQuery(t)
	ctx := context.Background()
	c.emu.AddBucket("eb-bucket")

	_, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("eb-bucket"), Key: aws.String("missing")})
	var noKey *s3types.NoSuchKey
	if !errors.As(err, &noKey) {
		t.Errorf("GetObject of a missing key: got %v, want NoSuchKey", err)
	}
	_, err = c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("eb-bucket"), Key: aws.String("missing")})
	var notFound *s3types.NotFound
	if !errors.As(err, &notFound) {
		t.Errorf("HeadObject of a missing key: got %v, want NotFound", err)
	}
	_, err = c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")})
	if !errors.As(err, &notFound) {
		t.Errorf("HeadBucket of a missing bucket: got %v, want NotFound", err)
	}
	_, err = c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nope"), Key: aws.String("k"), Body: strings.NewReader("x")})
	// PutObject models no typed error; the code is what a caller sees.
	if apiCode(err) != "NoSuchBucket" {
		t.Errorf("PutObject to a missing bucket: got %v, want NoSuchBucket", err)
	}
	if _, ok := c.emu.Object("nope", "k"); ok {
		t.Error("object written to a missing bucket")
	}

	anon := s3.NewFromConfig(c.cfg, func(o *s3.Options) { o.Credentials = aws.AnonymousCredentials{} })
	_, err = anon.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("eb-bucket"), Key: aws.String("k")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("anonymous GetObject: got %v, want AccessDenied", err)
	}
}

func TestSTSAssumeRole(t *testing.T) {
	c := startQuery(t)
	ctx := context.Background()
	const role = "arn:aws:iam::210987654321:role/deploybot"

	out1, err := c.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("deploybot")})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	out2, err := c.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("deploybot"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	k1, k2 := aws.ToString(out1.Credentials.AccessKeyId), aws.ToString(out2.Credentials.AccessKeyId)
	if !strings.HasPrefix(k1, "ASIA") || k1 == k2 {
		t.Errorf("access keys %q and %q: want distinct ASIA… keys", k1, k2)
	}
	if exp := aws.ToTime(out2.Credentials.Expiration); exp.Before(time.Now().Add(10*time.Minute)) || exp.After(time.Now().Add(16*time.Minute)) {
		t.Errorf("expiration %v is not 15 minutes away", exp)
	}
	if got, want := aws.ToString(out1.AssumedRoleUser.Arn), "arn:aws:sts::210987654321:assumed-role/deploybot/deploybot"; got != want {
		t.Errorf("assumed role user %q, want %q", got, want)
	}
	if roleARN, ok := c.emu.AssumedRole(k1); !ok || roleARN != role {
		t.Errorf("AssumedRole(%s) = %q, %v", k1, roleARN, ok)
	}

	// The temporary credentials work, with their session token only.
	temp := aws.Credentials{AccessKeyID: k1, SecretAccessKey: aws.ToString(out1.Credentials.SecretAccessKey), SessionToken: aws.ToString(out1.Credentials.SessionToken)}
	assumed := sts.NewFromConfig(c.cfg, func(o *sts.Options) { o.Credentials = credentialsValue(temp) })
	id, err := assumed.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(id.Account) != "210987654321" || !strings.Contains(aws.ToString(id.Arn), "assumed-role/deploybot") {
		t.Errorf("caller identity %s %s", aws.ToString(id.Account), aws.ToString(id.Arn))
	}
	temp.SessionToken = ""
	noToken := sts.NewFromConfig(c.cfg, func(o *sts.Options) { o.Credentials = credentialsValue(temp) })
	if _, err := noToken.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "InvalidClientTokenId" {
		t.Errorf("temporary key without its token: got %v, want InvalidClientTokenId", err)
	}

	base, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(base.Arn) != awsemu.BaseUserARN {
		t.Errorf("base caller identity %v, %v", base, err)
	}

	c.emu.DenyRole(role)
	_, err = c.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("deploybot")})
	if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "not authorized to perform: sts:AssumeRole") {
		t.Errorf("denied role: got %v, want AccessDenied", err)
	}
	_, err = c.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("deploybot"), RoleSessionName: aws.String("deploybot")})
	if apiCode(err) != "ValidationError" {
		t.Errorf("bad role ARN: got %v, want ValidationError", err)
	}
	if n := c.emu.CallCount("sts.AssumeRole"); n != 4 {
		t.Errorf("CallCount(sts.AssumeRole) = %d, want 4", n)
	}
}

type credentialsValue aws.Credentials

func (c credentialsValue) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(c), nil
}

func TestQueryUnsignedRefused(t *testing.T) {
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	defer srv.Close()
	form := url.Values{"Action": {"DescribeEnvironments"}, "Version": {"2010-12-01"}}
	resp, err := http.Post(srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>MissingAuthenticationToken</Code>") {
		t.Errorf("unsigned query: %d %s", resp.StatusCode, body)
	}
	if n := len(emu.Calls()); n != 0 {
		t.Errorf("refused request logged (%d calls)", n)
	}
}

func describeEnv(t *testing.T, c *clients, name string) ebtypes.EnvironmentDescription {
	t.Helper()
	out, err := c.eb.DescribeEnvironments(context.Background(), &elasticbeanstalk.DescribeEnvironmentsInput{
		ApplicationName:  aws.String("web"),
		EnvironmentNames: []string{name},
	})
	if err != nil {
		t.Fatalf("DescribeEnvironments: %v", err)
	}
	if len(out.Environments) != 1 {
		t.Fatalf("DescribeEnvironments returned %d environments", len(out.Environments))
	}
	return out.Environments[0]
}

func putBundle(t *testing.T, c *clients, key string) {
	t.Helper()
	_, err := c.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("eb-bucket"), Key: aws.String(key), Body: strings.NewReader(awsemu.DefaultDockerrun)})
	if err != nil {
		t.Fatal(err)
	}
}

func events(t *testing.T, c *clients, since time.Time) []ebtypes.EventDescription {
	t.Helper()
	out, err := c.eb.DescribeEvents(context.Background(), &elasticbeanstalk.DescribeEventsInput{
		ApplicationName: aws.String("web"), EnvironmentName: aws.String("web-prod"), StartTime: aws.Time(since),
	})
	if err != nil {
		t.Fatalf("DescribeEvents: %v", err)
	}
	return out.Events
}

func TestEBUpdateSucceeds(t *testing.T) {
	c := startQuery(t)
	ctx := context.Background()
	c.emu.AddBucket("eb-bucket")
	c.emu.AddEBEnvironment("web", "web-prod", "web-prod.us-east-1.elasticbeanstalk.com", "v1")
	c.emu.SetEBUpdatePolls(2)

	apps, err := c.eb.DescribeApplications(ctx, &elasticbeanstalk.DescribeApplicationsInput{ApplicationNames: []string{"web"}})
	if err != nil || len(apps.Applications) != 1 || len(apps.Applications[0].Versions) != 1 {
		t.Fatalf("DescribeApplications = %+v, %v", apps, err)
	}
	env := describeEnv(t, c, "web-prod")
	if env.Status != ebtypes.EnvironmentStatusReady || env.Health != ebtypes.EnvironmentHealthGreen || aws.ToString(env.VersionLabel) != "v1" ||
		aws.ToString(env.CNAME) != "web-prod.us-east-1.elasticbeanstalk.com" || !strings.HasPrefix(aws.ToString(env.EnvironmentId), "e-") {
		t.Fatalf("seeded environment %+v", env)
	}
	// The seeded version's bundle is readable where EB says it is.
	vs, err := c.eb.DescribeApplicationVersions(ctx, &elasticbeanstalk.DescribeApplicationVersionsInput{ApplicationName: aws.String("web"), VersionLabels: []string{"v1"}})
	if err != nil || len(vs.ApplicationVersions) != 1 {
		t.Fatalf("DescribeApplicationVersions = %+v, %v", vs, err)
	}
	sb := vs.ApplicationVersions[0].SourceBundle
	if got, ok := c.emu.Object(aws.ToString(sb.S3Bucket), aws.ToString(sb.S3Key)); !ok || string(got) != awsemu.DefaultDockerrun {
		t.Errorf("seeded bundle s3://%s/%s = %q, %v", aws.ToString(sb.S3Bucket), aws.ToString(sb.S3Key), got, ok)
	}

	putBundle(t, c, "web/v2/Dockerrun.aws.json")
	_, err = c.eb.CreateApplicationVersion(ctx, &elasticbeanstalk.CreateApplicationVersionInput{
		ApplicationName: aws.String("web"), VersionLabel: aws.String("v2"),
		SourceBundle: &ebtypes.S3Location{S3Bucket: aws.String("eb-bucket"), S3Key: aws.String("web/v2/Dockerrun.aws.json")},
	})
	if err != nil {
		t.Fatalf("CreateApplicationVersion: %v", err)
	}
	since := time.Now()
	up, err := c.eb.UpdateEnvironment(ctx, &elasticbeanstalk.UpdateEnvironmentInput{EnvironmentName: aws.String("web-prod"), VersionLabel: aws.String("v2")})
	if err != nil {
		t.Fatalf("UpdateEnvironment: %v", err)
	}
	if up.Status != ebtypes.EnvironmentStatusUpdating || aws.ToString(up.VersionLabel) != "v2" {
		t.Errorf("UpdateEnvironment returned %s %s", up.Status, aws.ToString(up.VersionLabel))
	}
	_, err = c.eb.UpdateEnvironment(ctx, &elasticbeanstalk.UpdateEnvironmentInput{EnvironmentName: aws.String("web-prod"), VersionLabel: aws.String("v2")})
	if apiCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "Environment named web-prod is in an invalid state for this operation. Must be Ready.") {
		t.Errorf("second UpdateEnvironment while Updating: got %v", err)
	}

	// EB shows the new label while the update is still running.
	if env := describeEnv(t, c, "web-prod"); env.Status != ebtypes.EnvironmentStatusUpdating || env.Health != ebtypes.EnvironmentHealthGrey || aws.ToString(env.VersionLabel) != "v2" {
		t.Errorf("poll 1: %s %s %s, want Updating Grey v2", env.Status, env.Health, aws.ToString(env.VersionLabel))
	}
	env = describeEnv(t, c, "web-prod")
	if env.Status != ebtypes.EnvironmentStatusReady || env.Health != ebtypes.EnvironmentHealthGreen || env.HealthStatus != ebtypes.EnvironmentHealthStatusOk || aws.ToString(env.VersionLabel) != "v2" {
		t.Errorf("poll 2: %s %s %s %s, want Ready Green Ok v2", env.Status, env.Health, env.HealthStatus, aws.ToString(env.VersionLabel))
	}

	evs := events(t, c, since)
	var msgs []string
	for _, e := range evs {
		msgs = append(msgs, aws.ToString(e.Message))
		if e.Severity == ebtypes.EventSeverityError {
			t.Errorf("ERROR event in a good update: %s", aws.ToString(e.Message))
		}
	}
	if len(msgs) == 0 || msgs[0] != awsemu.EBEventUpdateCompleted || msgs[len(msgs)-1] != awsemu.EBEventUpdateStarting {
		t.Errorf("events (newest first) = %q", msgs)
	}
	for i := 1; i < len(evs); i++ {
		if aws.ToTime(evs[i].EventDate).After(aws.ToTime(evs[i-1].EventDate)) {
			t.Errorf("events not newest first: %v after %v", evs[i].EventDate, evs[i-1].EventDate)
		}
	}
	if got := events(t, c, time.Now().Add(time.Hour)); len(got) != 0 {
		t.Errorf("StartTime in the future returned %d events", len(got))
	}
}

func TestEBUpdateFailsAndReverts(t *testing.T) {
	c := startQuery(t)
	ctx := context.Background()
	c.emu.AddBucket("eb-bucket")
	c.emu.AddEBEnvironment("web", "web-prod", "web-prod.us-east-1.elasticbeanstalk.com", "v1")
	c.emu.SetEBUpdatePolls(1)
	c.emu.FailEBUpdates("web-prod", true)
	putBundle(t, c, "web/v2/Dockerrun.aws.json")
	if _, err := c.eb.CreateApplicationVersion(ctx, &elasticbeanstalk.CreateApplicationVersionInput{
		ApplicationName: aws.String("web"), VersionLabel: aws.String("v2"),
		SourceBundle: &ebtypes.S3Location{S3Bucket: aws.String("eb-bucket"), S3Key: aws.String("web/v2/Dockerrun.aws.json")},
	}); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	if _, err := c.eb.UpdateEnvironment(ctx, &elasticbeanstalk.UpdateEnvironmentInput{EnvironmentName: aws.String("web-prod"), VersionLabel: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	env := describeEnv(t, c, "web-prod")
	if env.Status != ebtypes.EnvironmentStatusReady || aws.ToString(env.VersionLabel) != "v1" || env.Health != ebtypes.EnvironmentHealthRed {
		t.Errorf("after the failed update: %s %s %s, want Ready v1 Red", env.Status, aws.ToString(env.VersionLabel), env.Health)
	}
	var errs []string
	for _, e := range events(t, c, since) {
		if e.Severity == ebtypes.EventSeverityError {
			errs = append(errs, aws.ToString(e.Message))
		}
		if aws.ToString(e.Message) == awsemu.EBEventUpdateCompleted {
			t.Error("a failed update reported completion")
		}
	}
	if len(errs) < 3 || errs[0] != awsemu.EBEventDeployFailed || !strings.HasPrefix(errs[1], "Unsuccessful command execution on instance id(s) 'i-") {
		t.Errorf("ERROR events (newest first) = %q", errs)
	}
	env = describeEnv(t, c, "web-prod")
	if env.Health != ebtypes.EnvironmentHealthGreen || aws.ToString(env.VersionLabel) != "v1" {
		t.Errorf("after recovery: %s %s, want Green on v1", env.Health, aws.ToString(env.VersionLabel))
	}
}

func TestEBErrors(t *testing.T) {
	c := startQuery(t)
	ctx := context.Background()
	c.emu.AddBucket("eb-bucket")
	c.emu.AddEBEnvironment("web", "web-prod", "web-prod.example.com", "v1")
	bundle := &ebtypes.S3Location{S3Bucket: aws.String("eb-bucket"), S3Key: aws.String("web/v2/Dockerrun.aws.json")}

	for _, tc := range []struct {
		name     string
		in       *elasticbeanstalk.CreateApplicationVersionInput
		code     string
		contains string
	}{
		{"missing bundle", &elasticbeanstalk.CreateApplicationVersionInput{ApplicationName: aws.String("web"), VersionLabel: aws.String("v2"), SourceBundle: bundle},
			"InvalidParameterCombination", "Unable to download from S3 location (Bucket: eb-bucket  Key: web/v2/Dockerrun.aws.json)"},
		{"unknown app", &elasticbeanstalk.CreateApplicationVersionInput{ApplicationName: aws.String("api"), VersionLabel: aws.String("v2"), SourceBundle: bundle},
			"InvalidParameterValue", "No Application named 'api' found."},
		{"duplicate label", &elasticbeanstalk.CreateApplicationVersionInput{ApplicationName: aws.String("web"), VersionLabel: aws.String("v1"), SourceBundle: bundle},
			"InvalidParameterValue", "Application Version v1 already exists."},
		{"long label", &elasticbeanstalk.CreateApplicationVersionInput{ApplicationName: aws.String("web"), VersionLabel: aws.String(strings.Repeat("x", 101)), SourceBundle: bundle},
			"ValidationError", "at 'versionLabel' failed to satisfy constraint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "duplicate label" {
				putBundle(t, c, "web/v2/Dockerrun.aws.json")
			}
			_, err := c.eb.CreateApplicationVersion(ctx, tc.in)
			if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("got %v, want %s containing %q", err, tc.code, tc.contains)
			}
		})
	}

	_, err := c.eb.UpdateEnvironment(ctx, &elasticbeanstalk.UpdateEnvironmentInput{EnvironmentName: aws.String("web-dev"), VersionLabel: aws.String("v1")})
	if apiCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "No Environment found for EnvironmentName = 'web-dev'.") {
		t.Errorf("unknown environment: got %v", err)
	}
	_, err = c.eb.UpdateEnvironment(ctx, &elasticbeanstalk.UpdateEnvironmentInput{EnvironmentName: aws.String("web-prod"), VersionLabel: aws.String("v9")})
	if apiCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "No Application Version named 'v9' found.") {
		t.Errorf("unknown version: got %v", err)
	}

	c.emu.TerminateEBEnvironment("web-prod")
	env := describeEnv(t, c, "web-prod")
	if env.Status != ebtypes.EnvironmentStatusTerminated {
		t.Errorf("terminated environment listed as %s", env.Status)
	}
	out, err := c.eb.DescribeEnvironments(ctx, &elasticbeanstalk.DescribeEnvironmentsInput{EnvironmentNames: []string{"web-prod"}, IncludeDeleted: aws.Bool(false)})
	if err != nil || len(out.Environments) != 0 {
		t.Errorf("IncludeDeleted=false listed %d environments, %v", len(out.Environments), err)
	}
}
