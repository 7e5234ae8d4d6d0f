package awsemu

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// API versions and XML namespaces of the awsQuery services.
const (
	ebAPIVersion  = "2010-12-01"
	stsAPIVersion = "2011-06-15"
	ebNamespace   = "http://elasticbeanstalk.amazonaws.com/docs/2010-12-01/"
	stsNamespace  = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// queryRequest is one awsQuery request: the form, and what the emulator
// knows about it that handlers may need.
type queryRequest struct {
	form        url.Values
	requestID   string
	accessKeyID string
}

func (q *queryRequest) get(name string) string { return q.form.Get(name) }

// list returns the members of an awsQuery list parameter, which the SDK
// sends as Name.member.1, Name.member.2, …
func (q *queryRequest) list(name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := q.form[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

func (q *queryRequest) bool(name string) bool {
	b, _ := strconv.ParseBool(q.form.Get(name))
	return b
}

// time parses a timestamp parameter; the SDK writes ISO 8601 in UTC.
func (q *queryRequest) time(name string) (time.Time, bool, error) {
	v := q.form.Get(name)
	if v == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, clientError("InvalidParameterValue", "Invalid %s: %q", name, v)
	}
	return t, true, nil
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, sc scope) {
	requestID := uuid.NewString()
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		writeQueryError(w, ebNamespace, clientError("MalformedQueryString", "read body: %v", err), requestID)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		writeQueryError(w, ebNamespace, clientError("MalformedQueryString", "want a form POST"), requestID)
		return
	}
	service := sc.service
	if service == "" {
		switch form.Get("Version") {
		case ebAPIVersion:
			service = "elasticbeanstalk"
		case stsAPIVersion:
			service = "sts"
		}
	}
	var ns string
	var handle func(action string, q *queryRequest) (any, error)
	switch service {
	case "elasticbeanstalk":
		ns, handle = ebNamespace, s.elasticBeanstalk
	case "sts":
		ns, handle = stsNamespace, s.sts
	default:
		writeQueryError(w, ebNamespace, clientError("InvalidAction", "the emulator serves no service %q", service), requestID)
		return
	}
	if sc.accessKeyID == "" {
		writeQueryError(w, ns, &apiError{status: http.StatusForbidden, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}, requestID)
		return
	}
	if !s.checkSession(r, sc.accessKeyID) {
		writeQueryError(w, ns, &apiError{status: http.StatusForbidden, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}, requestID)
		return
	}

	action := form.Get("Action")
	q := &queryRequest{form: form, requestID: requestID, accessKeyID: sc.accessKeyID}
	b, err := s.serve(Call{Service: service, Op: action, Body: body, AccessKeyID: sc.accessKeyID}, func() ([]byte, error) {
		result, err := handle(action, q)
		if err != nil {
			return nil, err
		}
		return encodeQueryResponse(ns, action, result, requestID)
	})
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{status: http.StatusInternalServerError, code: "InternalFailure", message: err.Error()}
		}
		writeQueryError(w, ns, ae, requestID)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.Write(b)
}

// encodeQueryResponse writes AWS's awsQuery envelope:
// <XResponse><XResult>…</XResult><ResponseMetadata><RequestId>…
func encodeQueryResponse(ns, action string, result any, requestID string) ([]byte, error) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	root := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ns}}}
	if err := enc.EncodeToken(root); err != nil {
		return nil, err
	}
	if result == nil {
		result = struct{}{}
	}
	if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
		return nil, fmt.Errorf("encode %s result: %w", action, err)
	}
	meta := struct {
		RequestID string `xml:"RequestId"`
	}{requestID}
	if err := enc.EncodeElement(meta, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return nil, err
	}
	if err := enc.EncodeToken(root.End()); err != nil {
		return nil, err
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeQueryError(w http.ResponseWriter, ns string, e *apiError, requestID string) {
	type errorBody struct {
		Type    string
		Code    string
		Message string
	}
	kind := "Sender"
	if e.status >= 500 {
		kind = "Receiver"
	}
	body := struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Error     errorBody
		RequestID string `xml:"RequestId"`
	}{Xmlns: ns, Error: errorBody{Type: kind, Code: e.code, Message: e.message}, RequestID: requestID}
	b, _ := xml.Marshal(body)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(e.status)
	w.Write(b)
}

// isoTime is how awsQuery and S3 XML write timestamps.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// validationError is the message AWS's request validation gives for a
// parameter out of its length or range constraint.
func validationError(value, param, constraint string) *apiError {
	return clientError("ValidationError", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, param, constraint)
}
