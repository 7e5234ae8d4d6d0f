package ghclient

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/bot"
)

func TestAPIURLUsedVerbatim(t *testing.T) {
	for in, want := range map[string]string{
		"":                                DefaultAPIURL,
		"https://api.github.com":          "https://api.github.com/",
		"https://api.github.com/":         "https://api.github.com/",
		"https://ghe.example.com/api/v3":  "https://ghe.example.com/api/v3/",
		"https://ghe.example.com/api/v3/": "https://ghe.example.com/api/v3/",
		"http://127.0.0.1:8080/api/v3/":   "http://127.0.0.1:8080/api/v3/",
		"http://127.0.0.1:8080/":          "http://127.0.0.1:8080/",
	} {
		c, err := New(Config{APIURL: in, Token: "t"})
		if err != nil {
			t.Fatalf("New(%q): %v", in, err)
		}
		if got := c.token.BaseURL.String(); got != want {
			t.Errorf("New(%q) base URL = %q; want %q", in, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{strings.Repeat("x", 140), 140},
		{strings.Repeat("ü", 141), 140},
		{strings.Repeat("🚀", 500), 140},
	} {
		got := truncate(tc.in, maxDescription)
		if n := len([]rune(got)); n != tc.want {
			t.Errorf("truncate(%d runes) has %d runes; want %d", len([]rune(tc.in)), n, tc.want)
		}
		if len([]rune(tc.in)) > maxDescription && !strings.HasSuffix(got, "…") {
			t.Errorf("truncate(%q…) = %q; want an ellipsis", tc.in[:10], got)
		}
	}
}

func TestLatest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := latest([]observed{
		{bot.Check{Name: "b", State: bot.CheckFailure}, t0, 5},
		{bot.Check{Name: "b", State: bot.CheckSuccess}, t0, 9}, // same second, later id
		{bot.Check{Name: "a", State: bot.CheckSuccess}, t0.Add(time.Minute), 1},
		{bot.Check{Name: "a", State: bot.CheckPending}, t0, 2}, // higher id, but older
		{bot.Check{Name: "c", State: bot.CheckNeutral}, time.Time{}, 3},
	})
	want := []bot.Check{
		{Name: "a", State: bot.CheckSuccess},
		{Name: "b", State: bot.CheckSuccess},
		{Name: "c", State: bot.CheckNeutral},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("latest (-got +want):\n%s", diff)
	}
}
