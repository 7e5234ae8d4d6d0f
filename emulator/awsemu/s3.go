package awsemu

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

type object struct {
	body        []byte
	contentType string
	etag        string
	crc32       string // base64 of the big-endian CRC-32, as x-amz-checksum-crc32 has it
	modified    time.Time
}

// AddBucket creates an empty bucket (or leaves an existing one alone).
func (s *Server) AddBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] == nil {
		s.buckets[name] = map[string]*object{}
	}
}

// PutObject seeds an object, creating its bucket if needed.
func (s *Server) PutObject(bucket, key string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[bucket] == nil {
		s.buckets[bucket] = map[string]*object{}
	}
	s.buckets[bucket][key] = s.newObject(body, "application/octet-stream")
}

// Object returns a copy of the object's content.
func (s *Server) Object(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.buckets[bucket][key]
	if !ok {
		return nil, false
	}
	return slices.Clone(o.body), true
}

func (s *Server) newObject(body []byte, contentType string) *object {
	sum := md5.Sum(body)
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(body))
	return &object{
		body:        slices.Clone(body),
		contentType: contentType,
		etag:        `"` + hex.EncodeToString(sum[:]) + `"`,
		crc32:       base64.StdEncoding.EncodeToString(crc[:]),
		modified:    s.now().UTC().Truncate(time.Second),
	}
}

// s3Response is what one S3 operation answers; S3 speaks in status codes
// and headers as much as in bodies.
type s3Response struct {
	status int
	header http.Header
	body   []byte
}

type s3Error struct {
	status  int
	code    string
	message string
	bucket  string
	key     string
}

func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, sc scope) {
	requestID := strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:16])
	// Path-style addressing: the SDK uses it by itself when the endpoint
	// host is an IP address, as it is for an httptest server.
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var op string
	switch {
	case bucket == "":
		op = "ListBuckets"
	case key == "" && r.Method == http.MethodHead:
		op = "HeadBucket"
	case key == "":
		op = r.Method + "Bucket"
	case r.Method == http.MethodPut:
		op = "PutObject"
	case r.Method == http.MethodGet:
		op = "GetObject"
	case r.Method == http.MethodHead:
		op = "HeadObject"
	default:
		op = r.Method + "Object"
	}

	var resp *s3Response
	if sc.accessKeyID == "" || !s.checkSession(r, sc.accessKeyID) {
		resp = s3ErrorResponse(r, &s3Error{status: http.StatusForbidden, code: "AccessDenied", message: "Access Denied"})
	} else {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			resp = s3ErrorResponse(r, &s3Error{status: http.StatusBadRequest, code: "IncompleteBody", message: err.Error()})
		} else {
			call := Call{Service: "s3", Op: op, AccessKeyID: sc.accessKeyID}
			if op == "PutObject" {
				call.Body = body
			}
			s.serve(call, func() ([]byte, error) {
				resp = s.s3(op, bucket, key, r, body)
				return nil, nil
			})
		}
	}
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.Header().Set("X-Amz-Request-Id", requestID)
	w.Header().Set("X-Amz-Id-2", base64.StdEncoding.EncodeToString([]byte(requestID)))
	w.WriteHeader(resp.status)
	if r.Method != http.MethodHead {
		w.Write(resp.body)
	}
}

// s3 runs one operation; the caller holds s.mu.
func (s *Server) s3(op, bucket, key string, r *http.Request, body []byte) *s3Response {
	objects, ok := s.buckets[bucket]
	if !ok && op != "ListBuckets" {
		return s3ErrorResponse(r, &s3Error{status: http.StatusNotFound, code: "NoSuchBucket", message: "The specified bucket does not exist", bucket: bucket})
	}
	switch op {
	case "HeadBucket":
		return &s3Response{status: http.StatusOK, header: http.Header{"X-Amz-Bucket-Region": {Region}}}
	case "PutObject":
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			break
		}
		o := s.newObject(body, r.Header.Get("Content-Type"))
		if o.contentType == "" {
			o.contentType = "binary/octet-stream"
		}
		if sent := r.Header.Get("X-Amz-Checksum-Crc32"); sent != "" && sent != o.crc32 {
			return s3ErrorResponse(r, &s3Error{status: http.StatusBadRequest, code: "BadDigest", message: "The CRC32 you specified did not match the calculated checksum."})
		}
		objects[key] = o
		h := http.Header{"Etag": {o.etag}}
		if r.Header.Get("X-Amz-Checksum-Crc32") != "" {
			h.Set("X-Amz-Checksum-Crc32", o.crc32)
			h.Set("X-Amz-Checksum-Type", "FULL_OBJECT")
		}
		return &s3Response{status: http.StatusOK, header: h}
	case "GetObject", "HeadObject":
		o, ok := objects[key]
		if !ok {
			return s3ErrorResponse(r, &s3Error{status: http.StatusNotFound, code: "NoSuchKey", message: "The specified key does not exist.", key: key})
		}
		h := http.Header{
			"Content-Type":   {o.contentType},
			"Content-Length": {strconv.Itoa(len(o.body))},
			"Etag":           {o.etag},
			"Last-Modified":  {o.modified.Format(http.TimeFormat)},
			"Accept-Ranges":  {"bytes"},
		}
		if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
			h.Set("X-Amz-Checksum-Crc32", o.crc32)
			h.Set("X-Amz-Checksum-Type", "FULL_OBJECT")
		}
		return &s3Response{status: http.StatusOK, header: h, body: slices.Clone(o.body)}
	}
	return s3ErrorResponse(r, &s3Error{status: http.StatusNotImplemented, code: "NotImplemented", message: "the emulator does not implement S3 " + op})
}

// s3ErrorResponse is S3's <Error> document; HEAD responses carry no body,
// so the SDK sees only the status (NotFound for a 404).
func s3ErrorResponse(r *http.Request, e *s3Error) *s3Response {
	h := http.Header{}
	if r.Method == http.MethodHead {
		return &s3Response{status: e.status, header: h}
	}
	doc := struct {
		XMLName    xml.Name `xml:"Error"`
		Code       string
		Message    string
		BucketName string `xml:",omitempty"`
		Key        string `xml:",omitempty"`
	}{Code: e.code, Message: e.message, BucketName: e.bucket, Key: e.key}
	b, _ := xml.Marshal(doc)
	h.Set("Content-Type", "application/xml")
	return &s3Response{status: e.status, header: h, body: append([]byte(xml.Header), b...)}
}
