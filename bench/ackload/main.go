// Command ackload measures DESIGN.md's ack budget: signed Slack /deploy
// commands at a fixed rate against the real handler and an SQLite store on
// disk, over loopback HTTP, and prints the latency percentiles. The
// pipeline is not started (that is not part of the ack).
//
//	go run ./bench/ackload -rate 500 -duration 10s
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/handlers"
	"github.com/deploybot/deploybot/store/sqlite"
)

const secret = "bench-signing-secret"

type startless struct{ *bot.Service }

func (startless) Start(*bot.Deployment) {}

func main() {
	rate := flag.Int("rate", 500, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	flag.Parse()
	if err := run(*rate, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "ackload:", err)
		os.Exit(1)
	}
}

func run(rate int, duration time.Duration) error {
	dir, err := os.MkdirTemp("", "ackload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "deploybot.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	cfg := &bot.Config{
		Slack: bot.SlackConfig{SigningSecret: secret},
		Apps: map[string]*bot.App{"web": {Name: "web", Repo: "o/r", Environments: map[string]*bot.Environment{
			"dev": {Name: "dev", App: "web"},
		}}},
	}
	logger := slog.New(slog.DiscardHandler)
	svc := &bot.Service{Config: cfg, Store: db, Logger: logger}
	srv := httptest.NewServer((&handlers.Server{Config: cfg, Deployments: startless{svc}, Store: db, Logger: logger}).Handler())
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	total := int(duration.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	latencies := make([]time.Duration, total)
	failures := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		// Open loop: each request leaves on schedule whether or not the
		// previous ones have been answered, so queueing shows in the tail.
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			took, err := send(client, srv.URL)
			mu.Lock()
			defer mu.Unlock()
			latencies[i] = took
			if err != nil {
				failures++
			}
		}()
	}
	wg.Wait()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	stored, err := db.Deployments(context.Background(), total+1)
	if err != nil {
		return err
	}
	fmt.Printf("%d signed /deploy commands at %d/s over %s: failures %d, stored %d\n", total, rate, duration, failures, len(stored))
	fmt.Printf("latency p50 %s  p90 %s  p99 %s  max %s\n", pct(0.50), pct(0.90), pct(0.99), latencies[len(latencies)-1])
	if failures > 0 || len(stored) != total {
		return fmt.Errorf("%d failed, %d of %d stored", failures, len(stored), total)
	}
	return nil
}

func send(client *http.Client, base string) (time.Duration, error) {
	body := url.Values{"user_id": {"U1"}, "channel_id": {"C1"}, "text": {"web main dev"}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req, err := http.NewRequest("POST", base+"/slack/commands", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return time.Since(began), err
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(began)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(reply), "accepted") {
		return took, fmt.Errorf("HTTP %d: %s", resp.StatusCode, reply)
	}
	return took, nil
}
