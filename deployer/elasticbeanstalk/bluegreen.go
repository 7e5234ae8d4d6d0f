package elasticbeanstalk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
)

// blueGreen deploys to the environment of the pair that does not hold the
// live CNAME and, once it runs our version Ready and Green, swaps CNAMEs.
// A failed update ends before the swap, with the live environment
// untouched. When the idle environment already runs this commit's build
// (a rollback right after a swap), the swap alone is the deploy.
func (r *run) blueGreen(ctx context.Context) (bot.Rollout, error) {
	bg := r.t.BlueGreen
	live, idle, err := r.pair(ctx, bg)
	if err != nil {
		return bot.Rollout{}, err
	}
	liveName, idleName := aws.ToString(live.EnvironmentName), aws.ToString(idle.EnvironmentName)

	// A resumed deploy whose swap already went through is done.
	if ref := r.d.RolloutRef; ref != "" && aws.ToString(live.VersionLabel) == ref && live.Status == types.EnvironmentStatusReady {
		return r.swapped(live, idleName, ref), nil
	}

	target := *r.t
	target.Environment, target.BlueGreen = idleName, nil
	r.t = &target

	label := aws.ToString(idle.VersionLabel)
	ready := idle.Status == types.EnvironmentStatusReady && idle.Health == types.EnvironmentHealthGreen
	if built, err := r.builtFrom(ctx, label); err != nil {
		return bot.Rollout{}, err
	} else if built && ready {
		r.progress(fmt.Sprintf("%s still runs version %s of this commit: swapping back, no redeploy", idleName, label))
		if err := r.checkpoint(label); err != nil {
			return bot.Rollout{}, fmt.Errorf("checkpoint version %s: %w", label, err)
		}
		return r.swap(ctx, bg, idleName, liveName, label)
	}

	r.progress(fmt.Sprintf("blue/green: %s is live, deploying to %s", liveName, idleName))
	if _, err := r.deploy(ctx); err != nil {
		return bot.Rollout{}, noSwap(err, liveName)
	}
	if r.d.RolloutRef != "" {
		// A resumed deploy may have swapped before it stopped: a second
		// swap would put the old version back on the live CNAME.
		if live, _, err := r.pair(ctx, bg); err == nil && aws.ToString(live.EnvironmentName) == idleName {
			return r.swapped(live, liveName, r.watch.label), nil
		}
	}
	return r.swap(ctx, bg, idleName, liveName, r.watch.label)
}

// builtFrom reports whether label is a version deploybot made of this
// deployment's commit: its label (git_<short sha>-deploybot-<id>) and
// the description createVersion gives it, which names the full sha.
func (r *run) builtFrom(ctx context.Context, label string) (bool, error) {
	short := r.d.SHA[:min(len(r.d.SHA), 7)]
	if !strings.HasPrefix(label, "git_"+short+"-deploybot-") {
		return false, nil
	}
	v, err := r.version(ctx, label)
	if err != nil || v == nil {
		return false, err
	}
	return strings.HasSuffix(aws.ToString(v.Description), " at "+r.d.SHA), nil
}

// noSwap adds to a failed update that nothing was swapped.
func noSwap(err error, live string) error {
	var be *bot.Error
	if errors.As(err, &be) {
		return bot.Errorf(be.Code, "%s; no CNAME swap: %s still serves the live CNAME, untouched", be.Message, live)
	}
	return err
}

// pair reads both environments of the pair and tells the live one (its
// CNAME starts with cname_prefix.) from the idle one.
func (r *run) pair(ctx context.Context, bg *bot.EBBlueGreen) (live, idle types.EnvironmentDescription, err error) {
	envs, err := r.blueGreenEnvs(ctx, bg)
	if err != nil {
		return live, idle, err
	}
	var liveOnes []types.EnvironmentDescription
	var idleOnes []types.EnvironmentDescription
	for _, e := range envs {
		if strings.HasPrefix(strings.ToLower(aws.ToString(e.CNAME)), strings.ToLower(bg.CNAMEPrefix)+".") {
			liveOnes = append(liveOnes, e)
		} else {
			idleOnes = append(idleOnes, e)
		}
	}
	if len(liveOnes) != 1 || len(idleOnes) != 1 {
		return live, idle, bot.Errorf(bot.ECONFLICT, "blue/green: exactly one of %s must hold the CNAME %s.*, %d do; CNAMEs: %s",
			strings.Join(bg.Environments, " and "), bg.CNAMEPrefix, len(liveOnes), cnames(envs))
	}
	return liveOnes[0], idleOnes[0], nil
}

// blueGreenEnvs returns the live environments of the pair, one per name,
// checking the names in the answer rather than trusting the filter.
func (r *run) blueGreenEnvs(ctx context.Context, bg *bot.EBBlueGreen) ([]types.EnvironmentDescription, error) {
	out, err := r.eb.DescribeEnvironments(ctx, &elasticbeanstalk.DescribeEnvironmentsInput{
		ApplicationName:  aws.String(r.t.Application),
		EnvironmentNames: bg.Environments,
		IncludeDeleted:   aws.Bool(false),
	})
	if err != nil {
		return nil, fmt.Errorf("Elastic Beanstalk DescribeEnvironments %s: %w", strings.Join(bg.Environments, ", "), err)
	}
	var envs []types.EnvironmentDescription
	for _, name := range bg.Environments {
		e, ok := liveEnvironment(out.Environments, r.t.Application, name)
		if !ok {
			return nil, bot.Errorf(bot.ENOTFOUND, "blue/green: Elastic Beanstalk environment %q not found in application %q", name, r.t.Application)
		}
		envs = append(envs, e)
	}
	return envs, nil
}

// liveEnvironment finds name among envs, leaving out terminated ones and
// those of another application.
func liveEnvironment(envs []types.EnvironmentDescription, app, name string) (types.EnvironmentDescription, bool) {
	for _, e := range envs {
		if aws.ToString(e.EnvironmentName) != name || aws.ToString(e.ApplicationName) != "" && aws.ToString(e.ApplicationName) != app {
			continue
		}
		if e.Status != types.EnvironmentStatusTerminated && e.Status != types.EnvironmentStatusTerminating {
			return e, true
		}
	}
	return types.EnvironmentDescription{}, false
}

func cnames(envs []types.EnvironmentDescription) string {
	var parts []string
	for _, e := range envs {
		parts = append(parts, aws.ToString(e.EnvironmentName)+"="+orDefault(aws.ToString(e.CNAME), "(none)"))
	}
	return strings.Join(parts, ", ")
}

// swap calls SwapEnvironmentCNAMEs once and waits until DescribeEnvironments
// shows the live CNAME on idle and both environments Ready.
func (r *run) swap(ctx context.Context, bg *bot.EBBlueGreen, idle, live, label string) (bot.Rollout, error) {
	prefix := bg.CNAMEPrefix
	_, err := r.eb.SwapEnvironmentCNAMEs(ctx, &elasticbeanstalk.SwapEnvironmentCNAMEsInput{
		SourceEnvironmentName:      aws.String(idle),
		DestinationEnvironmentName: aws.String(live),
	})
	if err != nil {
		if code, msg := apiError(err); code != "" && !awsenv.Transient(err) {
			return bot.Rollout{}, bot.Errorf(bot.ECONFLICT, "%s runs version %s, but Elastic Beanstalk refused to swap CNAMEs with %s: %s: %s; %s still serves the live CNAME", idle, label, live, code, msg, live)
		}
		return bot.Rollout{}, fmt.Errorf("Elastic Beanstalk SwapEnvironmentCNAMEs %s %s: %w", idle, live, err)
	}
	r.progress(fmt.Sprintf("swapping CNAMEs: %s.* moves from %s to %s", prefix, live, idle))
	last, sawUpdating := "", false
	interval := r.dp.pollInitial
	for polls := 1; ; polls++ {
		envs, err := r.blueGreenEnvs(ctx, bg)
		line := ""
		switch {
		case err != nil && (ctx.Err() != nil || !awsenv.Transient(err)):
			return bot.Rollout{}, err
		case err != nil:
			line = awsenv.UnansweredPoll(err)
		default:
			var now types.EnvironmentDescription
			ready := true
			for _, e := range envs {
				ready = ready && e.Status == types.EnvironmentStatusReady
				sawUpdating = sawUpdating || e.Status == types.EnvironmentStatusUpdating
				if aws.ToString(e.EnvironmentName) == idle {
					now = e
				}
			}
			onIdle := strings.HasPrefix(strings.ToLower(aws.ToString(now.CNAME)), strings.ToLower(prefix)+".")
			if ready && onIdle {
				if v := aws.ToString(now.VersionLabel); v != label {
					return bot.Rollout{}, bot.Errorf(bot.ECONFLICT, "CNAMEs swapped, but %s now runs version %s, not %s", idle, v, label)
				}
				return r.swapped(now, live, label), nil
			}
			// EB may show the swap a moment after accepting it.
			if ready && (sawUpdating || polls > 5) {
				return bot.Rollout{}, bot.Errorf(bot.ECONFLICT, "Elastic Beanstalk finished the CNAME swap, but %s.* is still on %s (%s)", prefix, live, cnames(envs))
			}
			line = "CNAME swap in progress: " + cnames(envs)
		}
		if line != last {
			last = line
			r.progress(line)
		}
		if err := r.pause(ctx, &interval); err != nil {
			return bot.Rollout{}, err
		}
	}
}

func (r *run) swapped(now types.EnvironmentDescription, previous, label string) bot.Rollout {
	name := aws.ToString(now.EnvironmentName)
	r.progress(fmt.Sprintf("%s is live on version %s; %s keeps the previous version for a fast rollback", name, label, previous))
	return bot.Rollout{
		EnvironmentURL: environmentURL(now),
		Detail:         fmt.Sprintf("version %s on %s, live (CNAME swapped with %s)", label, name, previous),
	}
}
