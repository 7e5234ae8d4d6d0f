package bot

import (
	"errors"
	"fmt"
)

// Error codes: each boundary translates its own failures into one of these,
// and translates them out again (HTTP status, Slack text, GitHub status).
const (
	ECONFLICT  = "conflict"
	EINVALID   = "invalid"
	ENOTFOUND  = "not_found"
	EFORBIDDEN = "forbidden"
	EINTERNAL  = "internal"
	// EUNAVAILABLE: a service deploybot depends on (GitHub, AWS) failed or
	// refused to answer after retries; the message says which and is safe.
	EUNAVAILABLE = "unavailable"
)

// Error is an error whose Message is safe to show to the person who asked.
type Error struct {
	Code    string
	Message string // plain text
	// text is Message with its arguments kept apart, for the media that
	// quote them (ErrorText); zero for an Error not made by Errorf.
	text Text
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and user-safe message.
// Arguments are quoted as Textf's are when the message goes to Slack or
// GitHub; format is plain text.
func Errorf(code, format string, args ...any) *Error {
	t := Textf(format, args...)
	return &Error{Code: code, Message: t.Plain(), text: t}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL for any other non-nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err; internal errors are
// hidden behind a generic text because they may carry hostnames or tokens.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorText is ErrorMessage as a Text, to be rendered for Slack or GitHub.
func ErrorText(err error) Text {
	var e *Error
	switch {
	case err == nil:
		return Text{}
	case !errors.As(err, &e):
		return Textf("%s", ErrorMessage(err))
	case e.text.format == "":
		return Textf("%s", e.Message)
	}
	return e.text
}

// IsNotFound reports whether err is an ENOTFOUND *Error.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == ENOTFOUND
}
