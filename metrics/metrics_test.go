package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestTransportCountsCallsAndRateLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Remaining", "4321")
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	m := New(nil, nil)
	client := &http.Client{Transport: m.Transport("github", nil)}
	for _, path := range []string{"/repos", "/repos", "/missing"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := (&http.Client{Transport: m.Transport("github", nil)}).Get("http://127.0.0.1:1/unreachable"); err == nil {
		t.Fatal("a call to a closed port succeeded")
	}
	out := scrape(t, m)
	for _, want := range []string{
		`deploybot_api_calls_total{api="github",result="2xx",service="github"} 2`,
		`deploybot_api_calls_total{api="github",result="4xx",service="github"} 1`,
		`deploybot_api_calls_total{api="github",result="error",service="github"} 1`,
		`deploybot_github_rate_limit_remaining 4321`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestMiddlewareLabelsByRoutePattern(t *testing.T) {
	m := New(nil, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /deployments/{id}", func(w http.ResponseWriter, r *http.Request) {})
	h := m.Middleware(mux)
	for _, path := range []string{"/deployments/1", "/deployments/2", "/nope"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	out := scrape(t, m)
	for _, want := range []string{
		`deploybot_http_requests_total{code="200",route="GET /deployments/{id}"} 2`,
		`deploybot_http_requests_total{code="404",route="unmatched"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s\n%s", want, out)
		}
	}
}

type queryCount uint64

func (q *queryCount) Queries() uint64 { return uint64(*q) }

func TestStoreQueriesAreACounter(t *testing.T) {
	m := New(nil, nil)
	n := queryCount(41)
	m.CountStoreQueries(&n)
	n++
	if out := scrape(t, m); !strings.Contains(out, "# TYPE deploybot_store_queries_total counter\ndeploybot_store_queries_total 42\n") {
		t.Errorf("metrics lack deploybot_store_queries_total 42:\n%s", out)
	}
}
