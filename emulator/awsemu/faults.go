package awsemu

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/deploybot/deploybot/emulator/faults"
)

// Inject adds a fault. Requests it answers are not in Calls: AWS did not
// act on them.
func (s *Server) Inject(r faults.Rule) { s.faults.Add(r) }

// ClearFaults makes the emulator behave again.
func (s *Server) ClearFaults() { s.faults.Clear() }

// Op matches requests for one operation, named "ecs.UpdateService",
// "elasticbeanstalk.DescribeEnvironments", "ecr.DescribeImages" or
// "sts.AssumeRole"; S3 operations are not told apart.
func Op(name string) func(*http.Request) bool {
	return func(r *http.Request) bool { return operation(r) == name }
}

func operation(r *http.Request) string {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		switch {
		case strings.HasPrefix(target, ecsTargetPrefix):
			return "ecs." + strings.TrimPrefix(target, ecsTargetPrefix)
		case strings.HasPrefix(target, ecrTargetPrefix):
			return "ecr." + strings.TrimPrefix(target, ecrTargetPrefix)
		}
		return target
	}
	if !isForm(r) {
		return "s3"
	}
	// Peek at the form and put the body back for the handler.
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	service := credentialScope(r.Header.Get("Authorization")).service
	if service == "" {
		service = "elasticbeanstalk"
		if form.Get("Version") == stsAPIVersion {
			service = "sts"
		}
	}
	return service + "." + form.Get("Action")
}

// Throttle answers as AWS does when a caller exceeds an API's request
// rate: 400 with the protocol's throttling code, which the SDK retries.
func Throttle(w http.ResponseWriter, r *http.Request) {
	writeFault(w, r, &apiError{status: http.StatusBadRequest, code: "ThrottlingException", message: "Rate exceeded"}, "Throttling")
}

// Unavailable answers 503 ServiceUnavailable, AWS's "try again" for an
// overloaded or failing service.
func Unavailable(w http.ResponseWriter, r *http.Request) {
	e := &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailableException", message: "Service is unavailable. Please try again later."}
	writeFault(w, r, e, "ServiceUnavailable")
}

// writeFault writes e in the request's protocol; awsQuery services name
// the code queryCode (Throttling, not ThrottlingException).
func writeFault(w http.ResponseWriter, r *http.Request, e *apiError, queryCode string) {
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		writeError(w, e)
	case isForm(r):
		ns := ebNamespace
		if strings.HasPrefix(operation(r), "sts.") {
			ns = stsNamespace
		}
		writeQueryError(w, ns, &apiError{status: e.status, code: queryCode, message: e.message}, uuid.NewString())
	default:
		// S3 has one answer for both: 503 SlowDown.
		s3 := s3ErrorResponse(r, &s3Error{status: http.StatusServiceUnavailable, code: "SlowDown", message: e.message})
		for k, v := range s3.header {
			w.Header()[k] = v
		}
		w.WriteHeader(s3.status)
		w.Write(s3.body)
	}
}

// AccessDenied answers as AWS does when the caller's IAM policy lacks the
// action: the role that runs deploybot predates an API it now calls.
func AccessDenied(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	service, action, _ := strings.Cut(op, ".")
	e := &apiError{status: http.StatusBadRequest, code: "AccessDeniedException",
		message: "User: arn:aws:iam::" + AccountID + ":user/deploybot is not authorized to perform: " + service + ":" + action}
	writeFault(w, r, e, "AccessDenied")
}

// Refuse answers every matched request with a client error of code and
// message, as AWS refuses a parameter it will not take (its message may
// quote the parameter).
func Refuse(code, message string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeFault(w, r, &apiError{status: http.StatusBadRequest, code: code, message: message}, code)
	}
}
