package awsemu

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BaseUserARN is the identity of every access key the emulator did not
// issue itself.
const BaseUserARN = "arn:aws:iam::" + AccountID + ":user/deploybot"

// session is a set of temporary credentials AssumeRole issued.
type session struct {
	roleARN, name, token string
	expires              time.Time
}

// DenyRole makes AssumeRole of roleARN fail with AccessDenied, as it does
// when the role's trust policy does not name the caller.
func (s *Server) DenyRole(roleARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deniedRoles[roleARN] = true
}

// AssumedRole returns the role ARN whose AssumeRole issued accessKeyID.
func (s *Server) AssumedRole(accessKeyID string) (roleARN string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[accessKeyID]
	if !ok {
		return "", false
	}
	return sess.roleARN, true
}

func (s *Server) sts(action string, q *queryRequest) (any, error) {
	switch action {
	case "AssumeRole":
		return s.assumeRole(q)
	case "GetCallerIdentity":
		return s.callerIdentity(q.accessKeyID), nil
	}
	return nil, clientError("InvalidAction", "the emulator does not implement STS %s", action)
}

var (
	roleARNPattern     = regexp.MustCompile(`^arn:aws[\w-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type assumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string
}

func (s *Server) assumeRole(q *queryRequest) (any, error) {
	roleARN, name := q.get("RoleArn"), q.get("RoleSessionName")
	m := roleARNPattern.FindStringSubmatch(roleARN)
	if m == nil {
		return nil, validationError(roleARN, "roleArn", "Member must satisfy the IAM role ARN pattern")
	}
	if !sessionNamePattern.MatchString(name) {
		return nil, validationError(name, "roleSessionName", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
	}
	duration := time.Hour
	if v := q.get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, validationError(v, "durationSeconds", "Member must have value between 900 and 43200")
		}
		duration = time.Duration(n) * time.Second
	}
	caller := s.callerIdentity(q.accessKeyID)
	if s.deniedRoles[roleARN] {
		return nil, &apiError{status: http.StatusForbidden, code: "AccessDenied",
			message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.Arn, roleARN)}
	}

	s.nextID++
	n := s.nextID
	sess := &session{
		roleARN: roleARN,
		name:    name,
		token:   fmt.Sprintf("FwoGZXIvYXdzEemu%032x", n),
		// The SDK's credential cache compares expiry with the wall clock,
		// so it is always taken from time.Now, not from s.now.
		expires: time.Now().Add(duration).UTC().Truncate(time.Second),
	}
	accessKeyID := fmt.Sprintf("ASIA%016X", n)
	s.sessions[accessKeyID] = sess
	return struct {
		Credentials      stsCredentials
		AssumedRoleUser  assumedRoleUser
		PackedPolicySize int
	}{
		Credentials: stsCredentials{
			AccessKeyID:     accessKeyID,
			SecretAccessKey: fmt.Sprintf("emu/%036x", n),
			SessionToken:    sess.token,
			Expiration:      isoTime(sess.expires),
		},
		AssumedRoleUser: assumedRoleUser{
			AssumedRoleID: roleID(roleARN) + ":" + name,
			Arn:           fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", m[1], m[2], name),
		},
	}, nil
}

type callerIdentity struct {
	UserID  string `xml:"UserId"`
	Account string
	Arn     string
}

func (s *Server) callerIdentity(accessKeyID string) callerIdentity {
	sess, ok := s.sessions[accessKeyID]
	if !ok {
		return callerIdentity{UserID: "AIDAEMULATORDEPLOYBOT", Account: AccountID, Arn: BaseUserARN}
	}
	m := roleARNPattern.FindStringSubmatch(sess.roleARN)
	return callerIdentity{
		UserID:  roleID(sess.roleARN) + ":" + sess.name,
		Account: m[1],
		Arn:     fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", m[1], m[2], sess.name),
	}
}

// roleID makes the stable AROA… id IAM gives a role.
func roleID(roleARN string) string {
	var h uint32 = 2166136261
	for _, c := range []byte(roleARN) {
		h = (h ^ uint32(c)) * 16777619
	}
	return strings.ToUpper(fmt.Sprintf("AROA%016x", uint64(h)<<20|uint64(len(roleARN))))
}
