// Package awsemu is a local stand-in for the parts of AWS ECR and ECS that
// deploybot uses. It speaks the real awsJson1.1 wire protocol, so the real
// aws-sdk-go-v2 clients talk to it through their endpoint setting
// (BaseEndpoint or AWS_ENDPOINT_URL), and AWS error shapes come back as the
// SDK's typed errors. State lives in memory; the seeding and read helpers
// (PutImage, AddService, Service, ...) are for tests and the sandbox.
package awsemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The account and region every ARN the emulator makes belongs to.
const (
	AccountID = "123456789012"
	Region    = "us-east-1"
)

const (
	ecrTargetPrefix = "AmazonEC2ContainerRegistry_V20150921."
	ecsTargetPrefix = "AmazonEC2ContainerServiceV20141113."
	contentType     = "application/x-amz-json-1.1"
)

// Call is one request the emulator accepted.
type Call struct {
	Service string // "ecr" or "ecs"
	Op      string // e.g. "DescribeServices"
	Body    []byte
	At      time.Time
}

// Server is the emulator; it is an http.Handler. The zero value is not
// usable: call New.
type Server struct {
	mu    sync.Mutex
	now   func() time.Time
	calls []Call

	repos map[string]*repository // by repository name

	taskDefs     map[string]*taskDef // by ARN
	revisions    map[string]int      // family → latest revision
	clusters     map[string]map[string]*service
	rolloutPolls int
	failing      map[string]bool // "cluster/service" whose rollouts fail
	nextID       int64
}

// New returns an emulator with no repositories, clusters or services.
func New() *Server {
	return &Server{
		now:          time.Now,
		repos:        map[string]*repository{},
		taskDefs:     map[string]*taskDef{},
		revisions:    map[string]int{},
		clusters:     map[string]map[string]*service{},
		rolloutPolls: 3,
		failing:      map[string]bool{},
		nextID:       4012769856413286400,
	}
}

// apiError is an AWS error response: HTTP status plus the `__type` the SDK
// maps to its typed errors.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func clientError(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, &apiError{status: http.StatusNotFound, code: "UnknownOperationException", message: "only POST / is served"})
		return
	}
	// Only the presence of a SigV4 header is checked: the point is to catch
	// a client that was built without credentials, not to re-implement
	// signature verification.
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, &apiError{status: http.StatusForbidden, code: "UnrecognizedClientException", message: "The security token included in the request is invalid."})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, contentType) {
		writeError(w, clientError("SerializationException", "want Content-Type %s, got %q", contentType, ct))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		writeError(w, clientError("SerializationException", "read body: %v", err))
		return
	}

	target := r.Header.Get("X-Amz-Target")
	var svc, op string
	var handle func(op string, body []byte) (any, error)
	switch {
	case strings.HasPrefix(target, ecrTargetPrefix):
		svc, op, handle = "ecr", strings.TrimPrefix(target, ecrTargetPrefix), s.ecr
	case strings.HasPrefix(target, ecsTargetPrefix):
		svc, op, handle = "ecs", strings.TrimPrefix(target, ecsTargetPrefix), s.ecs
	default:
		writeError(w, clientError("UnknownOperationException", "unknown target %q", target))
		return
	}

	b, err := s.serve(svc, op, body, handle)
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{status: http.StatusInternalServerError, code: "ServerException", message: err.Error()}
		}
		writeError(w, ae)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Write(b)
}

// serve runs one operation and encodes its result under the lock, so the
// response never shares maps or slices with state a later call changes.
func (s *Server) serve(svc, op string, body []byte, handle func(string, []byte) (any, error)) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Service: svc, Op: op, Body: body, At: s.now()})
	out, err := handle(op, body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	w.Write(b)
}

// decode reads a request body; unknown fields are ignored, as AWS does.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return clientError("SerializationException", "%v", err)
	}
	return nil
}

// Calls returns every accepted request so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	copy(out, s.calls)
	return out
}

// CallCount returns how many accepted requests were for op, given as
// "DescribeServices" or, to tell services apart, "ecs.DescribeServices".
func (s *Server) CallCount(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Op == op || c.Service+"."+c.Op == op {
			n++
		}
	}
	return n
}

// epoch is how awsJson1.1 writes timestamps: seconds since 1970 as a number.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
