// Package awsenv hands each environment the AWS configuration it deploys
// with: the bot's own credentials, or those of the environment's role_arn
// (cross-account deploys: dev account vs prod account).
package awsenv

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/deploybot/deploybot/bot"
)

// Source gives the AWS configuration for an environment.
type Source interface {
	For(env *bot.Environment) aws.Config
}

// Static gives the same configuration to every environment.
type Static aws.Config

func (s Static) For(*bot.Environment) aws.Config { return aws.Config(s) }

// SessionName appears in CloudTrail for every call made under an assumed
// role, so an audit can tell deploybot's actions apart.
const SessionName = "deploybot"

// expiryWindow refreshes assumed-role credentials this long before they
// expire, so a call never starts with credentials about to lapse.
const expiryWindow = 5 * time.Minute

// Roles is a Source that assumes each environment's role_arn through STS
// with the base credentials. Credentials are cached per role by the SDK's
// CredentialsCache until near expiry and shared by every client.
type Roles struct {
	base aws.Config
	sts  *sts.Client

	mu    sync.Mutex
	roles map[string]aws.Config
}

// NewRoles returns a Roles on base.
func NewRoles(base aws.Config) *Roles {
	return &Roles{base: base, sts: sts.NewFromConfig(base), roles: map[string]aws.Config{}}
}

func (r *Roles) For(env *bot.Environment) aws.Config {
	if env == nil || env.RoleARN == "" {
		return r.base
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cfg, ok := r.roles[env.RoleARN]; ok {
		return cfg
	}
	cfg := r.base.Copy()
	provider := stscreds.NewAssumeRoleProvider(r.sts, env.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = SessionName
	})
	cfg.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = expiryWindow
	})
	r.roles[env.RoleARN] = cfg
	return cfg
}

// Sleep waits d between polls of a rollout, or returns the cause of ctx's
// end.
func Sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return nil
	}
}
