package bot

import "context"

type intakeKey struct{}

// WithIntake marks ctx as the intake's: the work done before a Slack
// command or a GitHub webhook is acknowledged. A store serves it ahead
// of the pipelines' traffic, so that acks never wait behind rollouts.
// Work a request hands off keeps the mark only if it keeps the request's
// values (context.WithoutCancel does); the dispatcher's runs never have it.
func WithIntake(ctx context.Context) context.Context {
	return context.WithValue(ctx, intakeKey{}, true)
}

// IsIntake reports whether ctx was marked by WithIntake.
func IsIntake(ctx context.Context) bool {
	v, _ := ctx.Value(intakeKey{}).(bool)
	return v
}
