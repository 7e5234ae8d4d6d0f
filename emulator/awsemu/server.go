// Package awsemu is a local stand-in for the parts of AWS that deploybot
// uses: ECR and ECS (awsJson1.1), Elastic Beanstalk and STS (awsQuery) and
// S3 (REST-XML, path-style). It speaks the real wire protocols, so the real
// aws-sdk-go-v2 clients talk to it through their endpoint setting
// (BaseEndpoint or AWS_ENDPOINT_URL), and AWS error shapes come back as the
// SDK's typed errors. All services share one handler, one state and one
// call log. State lives in memory; the seeding and read helpers (PutImage,
// AddService, AddEBEnvironment, Object, ...) are for tests and the sandbox.
package awsemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploybot/deploybot/emulator/faults"
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
	Service string // "ecr", "ecs", "s3", "elasticbeanstalk" or "sts"
	Op      string // e.g. "DescribeServices", "PutObject", "AssumeRole"
	Body    []byte // the JSON or form body; for S3, the object written
	At      time.Time
	// AccessKeyID signed the request, so a test can prove which
	// credentials (base or an assumed role's) a client used.
	AccessKeyID string
}

// Server is the emulator; it is an http.Handler. The zero value is not
// usable: call New.
type Server struct {
	mu    sync.Mutex
	now   func() time.Time
	skew  atomic.Int64 // AdvanceClock's, added to the time of day
	calls []Call

	repos map[string]*repository // by repository name

	taskDefs         map[string]*taskDef // by ARN
	revisions        map[string]int      // family → latest revision
	clusters         map[string]map[string]*service
	serviceRevisions map[string]*serviceRevision // by ARN
	rolloutPolls     int
	failing          map[string]bool // "cluster/service" whose rollouts fail
	nextID           int64
	overlaps         []string // UpdateService calls made during a rollout

	buckets map[string]map[string]*object // bucket → key → object

	ebApps    map[string]*ebApp
	ebEnvs    []*ebEnv // in creation order; terminated ones stay
	ebEvents  []ebEvent
	ebPolls   int
	ebFailing map[string]bool // environment names whose updates fail
	ebIDs     int
	swapCount int
	ebLoose   bool // name and id filters ignored, as some AWS stand-ins do

	faults faults.Injector

	deniedRoles map[string]bool
	sessions    map[string]*session // by access key id
}

// New returns an emulator with no repositories, clusters, services,
// buckets or Elastic Beanstalk applications.
func New() *Server {
	s := &Server{
		repos:            map[string]*repository{},
		taskDefs:         map[string]*taskDef{},
		revisions:        map[string]int{},
		clusters:         map[string]map[string]*service{},
		serviceRevisions: map[string]*serviceRevision{},
		rolloutPolls:     3,
		failing:          map[string]bool{},
		nextID:           4012769856413286400,
		buckets:          map[string]map[string]*object{},
		ebApps:           map[string]*ebApp{},
		ebPolls:          3,
		ebFailing:        map[string]bool{},
		deniedRoles:      map[string]bool{},
		sessions:         map[string]*session{},
	}
	s.now = func() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }
	return s
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
	if s.faults.Apply(w, r) {
		return
	}
	auth := r.Header.Get("Authorization")
	scope := credentialScope(auth)
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		s.serveJSON(w, r, auth)
	case scope.service == "s3" || scope.service == "" && !isForm(r):
		s.serveS3(w, r, scope)
	default:
		s.serveQuery(w, r, scope)
	}
}

// scope is what the SigV4 Authorization header says about the signer.
type scope struct {
	accessKeyID string
	service     string // the credential scope's service, e.g. "s3", "sts"
}

// credentialScope parses "AWS4-HMAC-SHA256 Credential=AKID/20250101/
// us-east-1/sts/aws4_request, SignedHeaders=…, Signature=…". Only the
// presence of a signature is checked, not its value: the point is to catch
// a client built without credentials and to see which credentials it used,
// not to re-implement signature verification.
func credentialScope(auth string) scope {
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return scope{}
	}
	for part := range strings.SplitSeq(rest, ",") {
		cred, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential=")
		if !ok {
			continue
		}
		fields := strings.Split(cred, "/")
		if len(fields) != 5 || fields[0] == "" {
			return scope{}
		}
		return scope{accessKeyID: fields[0], service: fields[3]}
	}
	return scope{}
}

func isForm(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// checkSession refuses a temporary access key the emulator issued when the
// request does not carry its session token, as AWS does.
func (s *Server) checkSession(r *http.Request, accessKeyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[accessKeyID]
	return !ok || r.Header.Get("X-Amz-Security-Token") == sess.token
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, auth string) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, &apiError{status: http.StatusNotFound, code: "UnknownOperationException", message: "only POST / is served"})
		return
	}
	sc := credentialScope(auth)
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !s.checkSession(r, sc.accessKeyID) {
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

	b, err := s.serve(Call{Service: svc, Op: op, Body: body, AccessKeyID: sc.accessKeyID}, func() ([]byte, error) {
		out, err := handle(op, body)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	})
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

// serve logs call and runs one operation, encoding its result under the
// lock, so the response never shares maps or slices with state a later call
// changes.
func (s *Server) serve(call Call, run func() ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call.At = s.now()
	s.calls = append(s.calls, call)
	return run()
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
