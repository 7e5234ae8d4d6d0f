package awsenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// HTTPAnswer is an error answer of AWS (or of what stands in for it: an
// endpoint, a proxy, moto) that the SDK could not read as an AWS error:
// an HTML page, a text body, an unknown code. Without it the person who
// deployed would read "no answer" or "UnknownError" about an endpoint
// that said exactly what was wrong.
type HTTPAnswer struct {
	Status int
	Body   string // the start of the body, whitespace collapsed
	Err    error
}

func (e *HTTPAnswer) Error() string {
	return fmt.Sprintf("%v (AWS answered HTTP %d: %s)", e.Err, e.Status, orNone(e.Body))
}

func (e *HTTPAnswer) Unwrap() error { return e.Err }

func orNone(s string) string {
	if s == "" {
		return "(empty body)"
	}
	return s
}

// answerBodyLimit bounds what is kept of an error body.
const answerBodyLimit = 300

type answerKey struct{}

type answerBox struct {
	status int
	body   string
}

// RecordAnswers returns cfg whose clients keep the status and body of
// HTTP error answers, and wrap an error whose AWS error could not be read
// in an *HTTPAnswer.
func RecordAnswers(cfg aws.Config) aws.Config {
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), addAnswerMiddleware)
	return cfg
}

func addAnswerMiddleware(st *middleware.Stack) error {
	err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("deploybotHTTPAnswer",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			box := &answerBox{}
			out, md, err := next.HandleInitialize(middleware.WithStackValue(ctx, answerKey{}, box), in)
			if err != nil && box.status != 0 && !readable(err) {
				err = &HTTPAnswer{Status: box.status, Body: box.body, Err: err}
			}
			return out, md, err
		}), middleware.Before)
	if err != nil {
		return err
	}
	// Added last in the deserialize step, it sees the response before the
	// SDK's deserializer reads the body.
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("deploybotHTTPAnswerBody",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			resp, ok := out.RawResponse.(*smithyhttp.Response)
			box, _ := middleware.GetStackValue(ctx, answerKey{}).(*answerBox)
			if !ok || box == nil || resp.StatusCode < 400 || resp.Body == nil {
				return out, md, err
			}
			head, rerr := io.ReadAll(io.LimitReader(resp.Body, answerBodyLimit*4))
			resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
			if rerr == nil {
				box.status, box.body = resp.StatusCode, snippet(head)
			}
			return out, md, err
		}), middleware.After)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// readable reports whether err carries an AWS error the SDK could read:
// a code other than the SDK's placeholder for "none found".
func readable(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() != "" && api.ErrorCode() != "UnknownError"
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > answerBodyLimit {
		s = s[:answerBodyLimit] + "…"
	}
	return s
}
