// Package elasticbeanstalk deploys to AWS Elastic Beanstalk Docker
// environments: a Dockerrun.aws.json in S3, CreateApplicationVersion,
// UpdateEnvironment, then a wait until the environment really runs that
// version and is healthy.
package elasticbeanstalk

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
)

// Deployer implements bot.Deployer for environments with an
// elasticbeanstalk target.
type Deployer struct {
	configs     awsenv.Source
	pollInitial time.Duration
	pollMax     time.Duration
	now         func() time.Time
	files       RepoFiles // for environments with bundle paths
}

var _ bot.Deployer = (*Deployer)(nil)

// Option configures a Deployer.
type Option func(*Deployer)

// WithPollInterval sets how long to wait between DescribeEnvironments
// polls: initial at first, doubling up to maxInterval. The default is 10s
// up to 30s.
func WithPollInterval(initial, maxInterval time.Duration) Option {
	return func(d *Deployer) {
		// A zero interval would never back off and hammer the API.
		initial = max(initial, time.Millisecond)
		d.pollInitial, d.pollMax = initial, max(initial, maxInterval)
	}
}

// New returns a Deployer whose S3 and Elastic Beanstalk clients use the
// configuration configs gives each environment.
func New(configs awsenv.Source, opts ...Option) *Deployer {
	d := &Deployer{configs: configs, pollInitial: 10 * time.Second, pollMax: 30 * time.Second, now: time.Now}
	for _, o := range opts {
		o(d)
	}
	return d
}

var errTimeout = errors.New("Elastic Beanstalk deploy timeout")

// clockSkew widens the DescribeEvents window: the start time is read from
// deploybot's clock but compared with EB's. Older events of other
// operations that fall into the margin carry another RequestId and are
// ignored.
const clockSkew = 5 * time.Second

// maxLabel is EB's limit on VersionLabel.
const maxLabel = 100

// run is one Deploy call: its clients, and what it learnt so far, which
// the timeout message reports.
type run struct {
	dp         *Deployer
	eb         *elasticbeanstalk.Client
	s3         *s3.Client
	d          *bot.Deployment
	env        *bot.Environment
	t          *bot.EBTarget
	image      string
	progress   func(string)
	checkpoint func(ref string) error

	ebEnv     types.EnvironmentDescription // the live environment, from the pre-flight
	dockerrun []byte
	updated   bool // UpdateEnvironment was accepted
	watch     watch

	noInstanceHealth bool // DescribeInstancesHealth was refused: basic health
}

// Deploy writes a Dockerrun.aws.json running image, makes it an application
// version, points the environment at it and waits until EB reports the
// environment Ready, on that version, healthy, with no ERROR event since
// the update began. The whole of it is bounded by env.Timeout.
//
// With d.RolloutRef set (a resumed deploy) it first looks at what the
// version named there already did: see resume.
func (dp *Deployer) Deploy(ctx context.Context, d *bot.Deployment, env *bot.Environment, image string, hooks bot.RolloutHooks) (bot.Rollout, error) {
	if env.ElasticBeanstalk == nil {
		return bot.Rollout{}, bot.Errorf(bot.EINVALID, "environment %s has no elasticbeanstalk target", env.Name)
	}
	if d.SHA == "" {
		return bot.Rollout{}, bot.Errorf(bot.EINVALID, "deployment %d has no resolved commit sha", d.ID)
	}
	// Before any write: EB refuses these only at UpdateEnvironment, after
	// the bundle and the version exist, and quotes the value it refuses.
	if err := bot.CheckEBEnvVars(env.EnvVars); err != nil {
		return bot.Rollout{}, err
	}
	progress := hooks.Progress
	if progress == nil {
		progress = func(string) {}
	}
	checkpoint := hooks.Checkpoint
	if checkpoint == nil {
		checkpoint = func(string) error { return nil }
	}
	timeout := time.Duration(env.Timeout)
	if timeout <= 0 {
		timeout = bot.DefaultDeployTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()

	cfg := awsenv.RecordAnswers(dp.configs.For(env))
	r := &run{
		dp: dp, eb: elasticbeanstalk.NewFromConfig(cfg), s3: s3.NewFromConfig(cfg),
		d: d, env: env, t: env.ElasticBeanstalk, image: image, progress: progress, checkpoint: checkpoint,
	}
	deploy := r.deploy
	if r.t.BlueGreen != nil {
		deploy = r.blueGreen
	}
	rollout, err := deploy(ctx)
	if err != nil {
		return bot.Rollout{}, r.explain(ctx, timeout, err)
	}
	return rollout, nil
}

func (r *run) deploy(ctx context.Context) (bot.Rollout, error) {
	resuming := r.d.RolloutRef != ""
	if err := r.preflight(ctx, !resuming); err != nil {
		return bot.Rollout{}, err
	}
	if resuming {
		label := r.d.RolloutRef
		next, err := r.resume(ctx, label)
		if err != nil {
			return bot.Rollout{}, err
		}
		switch next {
		case stepWait:
			r.progress(fmt.Sprintf("resuming the wait for environment %s to run version %s", r.t.Environment, label))
			return r.finish(ctx)
		case stepUpdate:
			if err := r.requireReady(); err != nil {
				return bot.Rollout{}, err
			}
			if err := r.update(ctx, label); err != nil {
				return bot.Rollout{}, err
			}
			return r.finish(ctx)
		}
		// What the pre-flight left out, as a resumed deploy might not
		// need it: this one writes after all.
		if err := r.requireReady(); err != nil {
			return bot.Rollout{}, err
		}
		if err := r.prepareDockerrun(ctx); err != nil {
			return bot.Rollout{}, err
		}
	}
	doc := r.dockerrun
	if r.t.Dockerrun != bot.DockerrunV2 {
		var err error
		if doc, err = singleContainer(r.t, r.image); err != nil {
			return bot.Rollout{}, err
		}
	}

	body, contentType, err := r.sourceBundle(ctx, doc)
	if err != nil {
		return bot.Rollout{}, err
	}
	key := ObjectKey(r.t, r.d)
	_, err = r.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(r.t.Bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String(contentType),
	})
	if err != nil {
		return bot.Rollout{}, fmt.Errorf("S3 PutObject s3://%s/%s: %w", r.t.Bucket, key, err)
	}
	r.progress(fmt.Sprintf("wrote s3://%s/%s", r.t.Bucket, key))

	label, err := r.createVersion(ctx, key)
	if err != nil {
		return bot.Rollout{}, err
	}
	// The label must be on record before the environment runs it: a
	// process that dies after UpdateEnvironment but before the record
	// would leave its successor to update the environment again.
	if err := r.checkpoint(label); err != nil {
		return bot.Rollout{}, fmt.Errorf("checkpoint version %s: %w", label, err)
	}
	if err := r.update(ctx, label); err != nil {
		return bot.Rollout{}, err
	}
	return r.finish(ctx)
}

// update points the environment at label and readies the watch of it.
func (r *run) update(ctx context.Context, label string) error {
	start := r.dp.now()
	up, err := r.eb.UpdateEnvironment(ctx, &elasticbeanstalk.UpdateEnvironmentInput{
		ApplicationName: aws.String(r.t.Application),
		EnvironmentId:   r.ebEnv.EnvironmentId,
		VersionLabel:    aws.String(label),
		OptionSettings:  optionSettings(r.env.EnvVars),
	})
	if err != nil {
		if code, msg := apiError(err); code == "InvalidParameterValue" {
			// Another update began since the pre-flight, or the version
			// vanished: EB's message says which, and names only our things.
			return bot.Errorf(bot.ECONFLICT, "Elastic Beanstalk refused to update environment %s to version %s: %s", r.t.Environment, label, msg)
		} else if code == "ConfigurationValidationException" {
			// The option settings are the config's env_vars: the config
			// must change. EB may quote a value; the pipeline hides it.
			return bot.Errorf(bot.EINVALID, "Elastic Beanstalk refused the settings for environment %s: %s", r.t.Environment, msg)
		}
		return fmt.Errorf("Elastic Beanstalk UpdateEnvironment %s: %w", r.t.Environment, err)
	}
	r.updated = true
	r.watch = watch{label: label, environment: r.t.Environment, since: start.Add(-clockSkew)}
	r.watch.requestID, _ = awsmiddleware.GetRequestIDMetadata(up.ResultMetadata)
	line := fmt.Sprintf("updating environment %s to version %s", r.t.Environment, label)
	if len(r.env.EnvVars) > 0 {
		line += ", setting " + strings.Join(bot.EnvVarNames(r.env.EnvVars), ", ")
	}
	r.progress(line)
	return nil
}

// finish waits for the update r.watch describes to end.
func (r *run) finish(ctx context.Context) (bot.Rollout, error) {
	final, err := r.wait(ctx)
	if err != nil {
		return bot.Rollout{}, err
	}
	return bot.Rollout{EnvironmentURL: environmentURL(final), Detail: "version " + r.watch.label}, nil
}

// step is what a resumed deploy still has to do.
type step int

const (
	stepCreate step = iota // write the Dockerrun, create a version, update
	stepUpdate             // update the environment to a version created before
	stepWait               // the update began before: only the wait is left
)

// resume decides what a resumed deploy of label, the version an earlier
// attempt recorded, still has to do:
//
//   - the environment is on label (Updating or Ready), or EB has events
//     naming label since the deployment was created: the update began, so
//     only the wait is left. That holds too for an update that failed
//     while nobody watched: EB then puts the VersionLabel back to the last
//     good version, and the wait reports the rollback with its ERROR
//     events rather than update the environment to label again;
//   - label is no version of this deployment's bundle: create it anew;
//   - otherwise the earlier attempt stopped between its checkpoint and
//     UpdateEnvironment: update the environment to label.
//
// The events window starts at d.CreatedAt: nothing of this deployment can
// be older. d.UpdatedAt is not used, as every save of the deployment (a
// stage change, the resumed attempt's own) moves it, possibly past the
// update. The window may thus hold errors of an earlier deployment's
// update; they carry that update's request id, and ours is recovered from
// the events that name label.
func (r *run) resume(ctx context.Context, label string) (step, error) {
	since := r.d.CreatedAt
	if since.IsZero() {
		since = r.d.UpdatedAt
	}
	if !since.IsZero() {
		since = since.Add(-clockSkew)
	}
	r.watch = watch{label: label, environment: r.t.Environment, since: since}
	out, err := r.eb.DescribeEvents(ctx, &elasticbeanstalk.DescribeEventsInput{
		ApplicationName: aws.String(r.t.Application),
		EnvironmentId:   r.ebEnv.EnvironmentId,
		VersionLabel:    aws.String(label),
		StartTime:       startTime(since),
	})
	if err != nil {
		return 0, fmt.Errorf("Elastic Beanstalk DescribeEvents %s: %w", r.t.Environment, err)
	}
	for i := len(out.Events) - 1; i >= 0; i-- { // oldest first
		if rid := aws.ToString(out.Events[i].RequestId); rid != "" {
			r.watch.requestID = rid
			break
		}
	}
	// Without the request id only the events naming label can be told
	// apart from those of other updates in the window.
	r.watch.byVersion = r.watch.requestID == ""
	if aws.ToString(r.ebEnv.VersionLabel) == label || len(out.Events) > 0 {
		r.updated = true
		return stepWait, nil
	}

	v, err := r.version(ctx, label)
	if err != nil {
		return 0, err
	}
	if v == nil || v.SourceBundle == nil ||
		aws.ToString(v.SourceBundle.S3Bucket) != r.t.Bucket || aws.ToString(v.SourceBundle.S3Key) != ObjectKey(r.t, r.d) {
		return stepCreate, nil
	}
	return stepUpdate, nil
}

func startTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return aws.Time(t)
}

// preflight checks, before anything is written, what the `dpl` tool checks:
// that the application, the environment and the bucket exist, and for a v2
// Dockerrun that the current version's file can be read and has the
// container. It leaves the environment and the v2 Dockerrun in r. Without
// full it leaves out what a resumed deploy may not need: that the
// environment is Ready (it may be updating to our version) and the v2
// Dockerrun.
func (r *run) preflight(ctx context.Context, full bool) error {
	t := r.t
	apps, err := r.eb.DescribeApplications(ctx, &elasticbeanstalk.DescribeApplicationsInput{ApplicationNames: []string{t.Application}})
	if err != nil {
		return fmt.Errorf("Elastic Beanstalk DescribeApplications %s: %w", t.Application, err)
	}
	// Some endpoints ignore the filter and list every application.
	if !slices.ContainsFunc(apps.Applications, func(a types.ApplicationDescription) bool { return aws.ToString(a.ApplicationName) == t.Application }) {
		return bot.Errorf(bot.ENOTFOUND, "pre-flight: Elastic Beanstalk application %q not found", t.Application)
	}

	envs, err := r.eb.DescribeEnvironments(ctx, &elasticbeanstalk.DescribeEnvironmentsInput{
		ApplicationName:  aws.String(t.Application),
		EnvironmentNames: []string{t.Environment},
	})
	if err != nil {
		return fmt.Errorf("Elastic Beanstalk DescribeEnvironments %s: %w", t.Environment, err)
	}
	// Recently terminated environments are listed too, possibly next to a
	// live one of the same name.
	terminated := false
	found := false
	for _, e := range envs.Environments {
		if aws.ToString(e.EnvironmentName) != t.Environment || aws.ToString(e.ApplicationName) != t.Application {
			continue
		}
		if e.Status == types.EnvironmentStatusTerminated || e.Status == types.EnvironmentStatusTerminating {
			terminated = true
			continue
		}
		r.ebEnv, found = e, true
	}
	switch {
	case !found && terminated:
		return bot.Errorf(bot.ENOTFOUND, "pre-flight: Elastic Beanstalk environment %q in application %q is terminated", t.Environment, t.Application)
	case !found:
		return bot.Errorf(bot.ENOTFOUND, "pre-flight: Elastic Beanstalk environment %q not found in application %q", t.Environment, t.Application)
	}
	if full {
		if err := r.requireReady(); err != nil {
			return err
		}
	}

	if _, err := r.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(t.Bucket)}); err != nil {
		switch code, _ := apiError(err); code {
		case "NotFound", "NoSuchBucket":
			return bot.Errorf(bot.ENOTFOUND, "pre-flight: S3 bucket %q not found", t.Bucket)
		case "Forbidden", "AccessDenied":
			return bot.Errorf(bot.EFORBIDDEN, "pre-flight: S3 bucket %q exists but deploybot may not use it (HeadBucket was refused)", t.Bucket)
		}
		return fmt.Errorf("S3 HeadBucket %s: %w", t.Bucket, err)
	}
	if a := t.Authentication; a != nil {
		// Only absence is an error: EB's instances read this object with
		// their own role, which may see more than deploybot does.
		_, err := r.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key)})
		if code, _ := apiError(err); code == "NotFound" || code == "NoSuchBucket" || code == "NoSuchKey" {
			return bot.Errorf(bot.EINVALID, "pre-flight: registry credentials s3://%s/%s not found", a.Bucket, a.Key)
		}
	}

	if full {
		return r.prepareDockerrun(ctx)
	}
	return nil
}

func (r *run) requireReady() error {
	if r.ebEnv.Status != types.EnvironmentStatusReady {
		return bot.Errorf(bot.ECONFLICT, "pre-flight: Elastic Beanstalk environment %q is %s, not Ready; another operation is in progress", r.t.Environment, r.ebEnv.Status)
	}
	return nil
}

// prepareDockerrun leaves in r the v2 Dockerrun.aws.json of the current
// version with the container's image replaced; a v1 target needs none.
func (r *run) prepareDockerrun(ctx context.Context) error {
	if r.t.Dockerrun != bot.DockerrunV2 {
		return nil
	}
	current, err := r.currentDockerrun(ctx)
	if err != nil {
		return err
	}
	r.dockerrun, err = multiContainer(current, aws.ToString(r.ebEnv.VersionLabel), r.t.Container, r.image)
	if err != nil {
		var e *bot.Error
		if errors.As(err, &e) {
			e.Message = "pre-flight: " + e.Message
		}
		return err
	}
	return nil
}

// currentDockerrun reads the Dockerrun.aws.json of the version the
// environment runs: DescribeApplicationVersions gives its source bundle.
func (r *run) currentDockerrun(ctx context.Context) ([]byte, error) {
	label := aws.ToString(r.ebEnv.VersionLabel)
	if label == "" {
		return nil, bot.Errorf(bot.EINVALID, "pre-flight: Elastic Beanstalk environment %q runs no application version to take the v2 Dockerrun.aws.json from", r.t.Environment)
	}
	out, err := r.eb.DescribeApplicationVersions(ctx, &elasticbeanstalk.DescribeApplicationVersionsInput{
		ApplicationName: aws.String(r.t.Application),
		VersionLabels:   []string{label},
	})
	if err != nil {
		return nil, fmt.Errorf("Elastic Beanstalk DescribeApplicationVersions %s: %w", label, err)
	}
	i := slices.IndexFunc(out.ApplicationVersions, func(v types.ApplicationVersionDescription) bool { return aws.ToString(v.VersionLabel) == label })
	if i < 0 || out.ApplicationVersions[i].SourceBundle == nil {
		return nil, bot.Errorf(bot.EINVALID, "pre-flight: the current version %q of environment %q has no source bundle in S3", label, r.t.Environment)
	}
	sb := out.ApplicationVersions[i].SourceBundle
	bucket, key := aws.ToString(sb.S3Bucket), aws.ToString(sb.S3Key)
	obj, err := r.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var noKey *s3types.NoSuchKey
		if code, _ := apiError(err); errors.As(err, &noKey) || code == "NoSuchBucket" || code == "AccessDenied" {
			return nil, bot.Errorf(bot.EINVALID, "pre-flight: cannot read the Dockerrun.aws.json of current version %q at s3://%s/%s (%s)", label, bucket, key, code)
		}
		return nil, fmt.Errorf("S3 GetObject s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(io.LimitReader(obj.Body, bot.MaxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("S3 GetObject s3://%s/%s: %w", bucket, key, err)
	}
	if zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body))); err == nil {
		if len(r.t.Bundle) == 0 {
			// Rewriting only the Dockerrun would drop the archive's other
			// files (.ebextensions, .platform hooks) from the new version.
			return nil, bot.Errorf(bot.EINVALID, "pre-flight: the source bundle of current version %q (s3://%s/%s) is a zip archive; list the paths it ships from the repository in bundle: (e.g. [.ebextensions]) so the new version keeps them", label, bucket, key)
		}
		return dockerrunInBundle(zr, label)
	}
	if len(body) > 1<<20 {
		return nil, bot.Errorf(bot.EINVALID, "pre-flight: the Dockerrun.aws.json of current version %q (s3://%s/%s) is over 1 MB", label, bucket, key)
	}
	return body, nil
}

// ObjectKey is where the source bundle of deployment d is written:
// <key_prefix><app>/<sha>/deployment-<id>/Dockerrun.aws.json, or
// …/source-bundle.zip with bundle paths.
func ObjectKey(t *bot.EBTarget, d *bot.Deployment) string {
	name := bot.DockerrunFile
	if len(t.Bundle) > 0 {
		name = "source-bundle.zip"
	}
	return fmt.Sprintf("%s%s/%s/deployment-%d/%s", t.KeyPrefix, d.App, d.SHA, d.ID, name)
}

// VersionLabel is the application version label of deployment d, such as
// git_cf7edb2-deploybot-42: the commit and the deployment it came from, so
// the EB console leads back to both. It is far below EB's 100-character
// limit whatever the app is called.
func VersionLabel(d *bot.Deployment) string {
	short := d.SHA
	if len(short) > 7 {
		short = short[:7]
	}
	return fmt.Sprintf("git_%s-deploybot-%d", short, d.ID)
}

// createVersion makes the application version of key and returns its label.
func (r *run) createVersion(ctx context.Context, key string) (string, error) {
	label := VersionLabel(r.d)
	description := fmt.Sprintf("deploybot deployment %d: %s at %s", r.d.ID, r.d.App, r.d.SHA)
	if len(description) > 200 {
		description = description[:200]
	}
	create := func(label string) error {
		_, err := r.eb.CreateApplicationVersion(ctx, &elasticbeanstalk.CreateApplicationVersionInput{
			ApplicationName: aws.String(r.t.Application),
			VersionLabel:    aws.String(label),
			Description:     aws.String(description),
			SourceBundle:    &types.S3Location{S3Bucket: aws.String(r.t.Bucket), S3Key: aws.String(key)},
		})
		return err
	}
	err := create(label)
	if code, _ := apiError(err); code == "InvalidParameterValue" {
		// EB says so when the label exists. If it is ours (a resumed
		// deployment that got this far before), use it; if something else
		// took it (a reused deployment id), make ours unique rather than
		// fail a deploy nobody can retry.
		existing, verr := r.version(ctx, label)
		if verr != nil {
			return "", verr
		}
		if existing != nil && existing.SourceBundle != nil &&
			aws.ToString(existing.SourceBundle.S3Bucket) == r.t.Bucket && aws.ToString(existing.SourceBundle.S3Key) == key {
			r.progress("version " + label + " already exists for this deployment, using it")
			return label, nil
		}
		if existing != nil {
			label += "-" + strconv.FormatInt(r.dp.now().Unix(), 36)
			err = create(label)
		}
	}
	if err != nil {
		return "", fmt.Errorf("Elastic Beanstalk CreateApplicationVersion %s: %w", label, err)
	}
	r.progress("created version " + label)
	return label, nil
}

func (r *run) version(ctx context.Context, label string) (*types.ApplicationVersionDescription, error) {
	out, err := r.eb.DescribeApplicationVersions(ctx, &elasticbeanstalk.DescribeApplicationVersionsInput{
		ApplicationName: aws.String(r.t.Application),
		VersionLabels:   []string{label},
	})
	if err != nil {
		return nil, fmt.Errorf("Elastic Beanstalk DescribeApplicationVersions %s: %w", label, err)
	}
	for i := range out.ApplicationVersions {
		if aws.ToString(out.ApplicationVersions[i].VersionLabel) == label {
			return &out.ApplicationVersions[i], nil
		}
	}
	return nil, nil
}

// wait polls DescribeEnvironments and DescribeEvents until the update ends.
//
// The SDK's EnvironmentUpdatedWaiter is not used: it only waits for Status
// Ready, which a failed deployment also reaches, on the old version.
func (r *run) wait(ctx context.Context) (types.EnvironmentDescription, error) {
	interval := r.dp.pollInitial
	for {
		env, done, line, err := r.poll(ctx)
		switch {
		case err != nil && (ctx.Err() != nil || !awsenv.Transient(err)):
			// A poll cut off by the deadline is the timeout, not AWS
			// failing: the last state seen stays the one reported.
			return env, err
		case err != nil:
			// The deploy goes on whether or not AWS answers a poll, so an
			// unanswered one is no verdict: poll again until the timeout.
			line = awsenv.UnansweredPoll(err)
		case done:
			return env, nil
		}
		if line != r.watch.last {
			r.watch.last = line
			r.progress(line)
		}
		if err := r.pause(ctx, &interval); err != nil {
			return types.EnvironmentDescription{}, err
		}
	}
}

// pause waits *interval between polls, then doubles it up to pollMax.
func (r *run) pause(ctx context.Context, interval *time.Duration) error {
	if err := awsenv.Sleep(ctx, *interval); err != nil {
		return err
	}
	*interval = min(*interval*2, r.dp.pollMax)
	return nil
}

// poll reads the environment and its new ERROR events once and assesses
// them: done (with a nil error for success), or a progress line.
func (r *run) poll(ctx context.Context) (env types.EnvironmentDescription, done bool, line string, err error) {
	out, err := r.eb.DescribeEnvironments(ctx, &elasticbeanstalk.DescribeEnvironmentsInput{
		ApplicationName: aws.String(r.t.Application),
		EnvironmentIds:  []string{aws.ToString(r.ebEnv.EnvironmentId)},
	})
	if err != nil {
		return env, false, "", fmt.Errorf("Elastic Beanstalk DescribeEnvironments %s: %w", r.t.Environment, err)
	}
	// The answer is searched, not trusted to hold only what the filter
	// asked for: some endpoints ignore it.
	i := slices.IndexFunc(out.Environments, func(e types.EnvironmentDescription) bool {
		return aws.ToString(e.EnvironmentId) == aws.ToString(r.ebEnv.EnvironmentId)
	})
	if i < 0 {
		return env, false, "", bot.Errorf(bot.ECONFLICT, "Elastic Beanstalk environment %s disappeared during the deploy of version %s", r.t.Environment, r.watch.label)
	}
	env = out.Environments[i]
	// Events are read after the environment, so an ERROR that led to
	// the state just seen is already among them.
	events, err := r.eb.DescribeEvents(ctx, &elasticbeanstalk.DescribeEventsInput{
		ApplicationName: aws.String(r.t.Application),
		EnvironmentId:   r.ebEnv.EnvironmentId,
		StartTime:       startTime(r.watch.since),
		Severity:        types.EventSeverityError,
		VersionLabel:    r.watch.versionFilter(),
	})
	if err != nil {
		return env, false, "", fmt.Errorf("Elastic Beanstalk DescribeEvents %s: %w", r.t.Environment, err)
	}
	// Each error goes on the timeline whole: the verdict quotes only the
	// first ("and 3 more ERROR events"), and the others are often the why.
	for _, e := range r.watch.observe(events.Events) {
		r.progress("Elastic Beanstalk event: " + e)
	}
	done, line, err = r.watch.assess(env)
	if err == nil && !done && env.Status == types.EnvironmentStatusUpdating {
		line += r.instancesOnVersion(ctx)
	}
	return env, done, line, err
}

// watch is what the wait knows about our update.
type watch struct {
	label       string // our version label
	environment string
	requestID   string    // of UpdateEnvironment; EB tags the update's events with it
	since       time.Time // DescribeEvents StartTime; zero: all EB keeps
	byVersion   bool      // only events naming label are ours: requestID is unknown
	errors      []string  // ERROR and FATAL events of our update, oldest first
	seen        map[string]bool
	last        string // last progress line
}

func (w *watch) versionFilter() *string {
	if w.byVersion {
		return aws.String(w.label)
	}
	return nil
}

// observe notes the ERROR events of our update among events (newest first,
// as EB returns them) and returns those not seen before, oldest first, as
// "SEVERITY message". Events of another request are left out; events with
// no request id (health transitions) count, as they concern the
// environment as it is now.
func (w *watch) observe(events []types.EventDescription) (fresh []string) {
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Severity != types.EventSeverityError && e.Severity != types.EventSeverityFatal {
			continue
		}
		if rid := aws.ToString(e.RequestId); rid != "" && w.requestID != "" && rid != w.requestID {
			continue
		}
		msg := aws.ToString(e.Message)
		id := aws.ToTime(e.EventDate).String() + "\x00" + msg
		if w.seen[id] {
			continue
		}
		w.seen[id] = true
		w.errors = append(w.errors, msg)
		fresh = append(fresh, string(e.Severity)+" "+msg)
	}
	return fresh
}

// assess decides from one DescribeEnvironments result whether the update
// is done (nil error), failed (a *bot.Error) or still going (a progress
// line). A failure is ECONFLICT: EB refused the new version, and why is
// for the person who deployed, which EINTERNAL would hide.
func (w *watch) assess(env types.EnvironmentDescription) (done bool, line string, err error) {
	running := aws.ToString(env.VersionLabel)
	switch env.Status {
	case types.EnvironmentStatusTerminating, types.EnvironmentStatusTerminated:
		return false, "", bot.Errorf(bot.ECONFLICT, "Elastic Beanstalk environment %s was terminated during the deploy of version %s", w.environment, w.label)
	case types.EnvironmentStatusReady:
		if running != w.label {
			// What dashboards show as a successful deploy: Ready, often
			// Green, and on the version that ran before.
			msg := fmt.Sprintf("Elastic Beanstalk deploy of version %s to %s failed and was rolled back by Elastic Beanstalk: the environment runs version %s", w.label, w.environment, orDefault(running, "(none)"))
			if len(w.errors) > 0 {
				msg += "; first error: " + w.firstError()
			}
			return false, "", bot.Errorf(bot.ECONFLICT, "%s", msg)
		}
		if len(w.errors) > 0 {
			return false, "", bot.Errorf(bot.ECONFLICT, "Elastic Beanstalk reported an error while deploying version %s to %s: %s", w.label, w.environment, w.firstError())
		}
		if env.Health == types.EnvironmentHealthGreen && (env.HealthStatus == "" || env.HealthStatus == types.EnvironmentHealthStatusOk) {
			return true, "", nil
		}
	}
	line = fmt.Sprintf("environment %s, health %s", orDefault(string(env.Status), "(no status)"), orDefault(string(env.Health), "(none)"))
	if env.HealthStatus != "" {
		line += " (" + string(env.HealthStatus) + ")"
	}
	if len(w.errors) > 0 {
		line += ", error reported: " + w.firstError()
	}
	return false, line, nil
}

func (w *watch) firstError() string {
	s := strconv.Quote(w.errors[0])
	if n := len(w.errors) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more ERROR events)", n)
	}
	return s
}

// explain turns what ended a failed deploy into the error Deploy returns:
// the user-safe timeout, a refused role, or err itself.
func (r *run) explain(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(context.Cause(ctx), errTimeout) {
		// ECONFLICT, not EINTERNAL: the pipeline hides internal messages,
		// and this one is for the person who deployed.
		detail := "it ran out of time before the environment was updated"
		if r.updated {
			detail = fmt.Sprintf("last seen: %s; Elastic Beanstalk may still be deploying version %s", orDefault(r.watch.last, "no environment state"), r.watch.label)
			if len(r.watch.errors) > 0 && !strings.Contains(r.watch.last, "error reported") {
				detail += "; first error: " + r.watch.firstError()
			}
		}
		where := r.t.Environment
		if bg := r.t.BlueGreen; bg != nil {
			where = strings.Join(bg.Environments, "/") // which one was not known yet
		}
		return bot.Errorf(bot.ECONFLICT, "Elastic Beanstalk deploy to %s did not finish within %s; %s", where, timeout, detail)
	}
	if code, msg, ok := assumeRoleFailure(err); ok {
		return bot.Errorf(bot.EFORBIDDEN, "cannot assume role %s for environment %s: AssumeRole failed: %s: %s", r.env.RoleARN, r.env.Name, code, msg)
	}
	return awsenv.Unavailable(err)
}

// assumeRoleFailure finds the STS AssumeRole error under the error of the
// call that needed its credentials.
func assumeRoleFailure(err error) (code, msg string, ok bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		var op *smithy.OperationError
		if oe, isOp := e.(*smithy.OperationError); isOp {
			op = oe
		}
		if op != nil && op.ServiceID == "STS" && op.OperationName == "AssumeRole" {
			code, msg = apiError(op)
			return orDefault(code, "error"), orDefault(msg, op.Err.Error()), true
		}
	}
	return "", "", false
}

// apiError returns the AWS error code and message in err's chain.
func apiError(err error) (code, msg string) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode(), apiErr.ErrorMessage()
	}
	return "", ""
}

func environmentURL(env types.EnvironmentDescription) string {
	host := aws.ToString(env.CNAME)
	if host == "" {
		host = aws.ToString(env.EndpointURL)
	}
	if host == "" {
		return ""
	}
	if strings.HasPrefix(host, "http://") || strings.HasPrefix(host, "https://") {
		return host
	}
	return "http://" + host
}
