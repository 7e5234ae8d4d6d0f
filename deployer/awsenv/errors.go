package awsenv

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/deploybot/deploybot/bot"
)

// Transient reports whether err is AWS failing to answer rather than
// refusing: throttling, a 5xx or a lost connection, which the SDK's
// standard retryer retried until it ran out of attempts. The SDK's own
// classification decides, so what is transient here is what it retries.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var exhausted *retry.MaxAttemptsError
	if errors.As(err, &exhausted) {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// Unavailable turns a transient err into a bot.EUNAVAILABLE error naming
// the service, the operation and AWS's answer, for the person who
// deployed; any other error is returned as it is.
func Unavailable(err error) error {
	var be *bot.Error
	if !Transient(err) || errors.As(err, &be) {
		return err
	}
	what := "AWS"
	var op *smithy.OperationError
	if errors.As(err, &op) {
		what = fmt.Sprintf("AWS %s %s", op.ServiceID, op.OperationName)
	}
	answer := "no answer"
	var api smithy.APIError
	var http *HTTPAnswer
	switch {
	case errors.As(err, &http):
		answer = fmt.Sprintf("HTTP %d: %s", http.Status, orNone(http.Body))
	case errors.As(err, &api):
		answer = api.ErrorCode() + ": " + api.ErrorMessage()
	}
	var exhausted *retry.MaxAttemptsError
	if errors.As(err, &exhausted) {
		return bot.Errorf(bot.EUNAVAILABLE, "%s failed %d times: %s", what, exhausted.Attempt, answer)
	}
	return bot.Errorf(bot.EUNAVAILABLE, "%s failed: %s", what, answer)
}

// UnansweredPoll is the progress line for a rollout poll that err left
// unanswered: the rollout goes on, so the wait polls again.
func UnansweredPoll(err error) string {
	return "AWS did not answer the last poll (" + bot.ErrorMessage(Unavailable(err)) + "); still polling"
}
