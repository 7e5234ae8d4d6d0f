// Command ackload measures DESIGN.md's ack budget — a signed Slack
// command or GitHub webhook acknowledged within p99 10 ms at 500 req/s on
// 2 cores, store write included, none dropped — against a real
// `deploybot serve` process on loopback.
//
//	go run ./bench/ackload [-kind slack|github|checkrun|comment|comment-unserved]
//	    [-store sqlite|postgres://…] [-rate 500] [-duration 10s] [-envs 20]
//	    [-settle 10s] [-bin PATH] [-cpuprofile FILE] [-keep]
//	go run ./bench/ackload -flood [-times 3] [-rate N] [-timeout 2s] …
//	go run ./bench/ackload -floor [-kind checkrun,comment,comment-unserved]
//	    [-rounds 3] [-duration 4s] [-conns 32] …
//
// It builds ./cmd/deploybot (or runs -bin), starts the GitHub, Slack and
// AWS emulators in this process, writes a config for them (GitHub token
// auth, as the process tests' fleet does) and starts `deploybot serve
// --config` on a free loopback port with an SQLite file in a temporary
// directory or, for -store postgres://…, a fresh PostgreSQL schema of its
// own (dropped afterwards). It prints the binary's size and the time from
// process start to the first 200 of GET /healthz and of GET /readyz.
//
// Then it sends, open loop, -rate requests a second for -duration: with
// -kind slack, signed `/deploy web <sha> <env>` commands; with -kind
// github, signed `deployment` webhooks made from GitHub's example payload
// (corpus/github-webhooks/deployment/payload.json) with the configured
// repository, the commit, the environment and a deployment id of their
// own, for GitHub deployments created in the emulator beforehand (as
// GitHub creates them before it sends the event). Either kind stores one
// deployment per request before answering. It prints the latency
// percentiles (overall and per second of sending), what was sent and
// failed, the CPU used by serve, by ackload itself, by PostgreSQL and by
// the rest of the machine, serve's open files and, for PostgreSQL, the
// connections serve opened; and it checks in the store that every
// acknowledged deployment is there: dropped must be 0. It exits non-zero
// if any request failed or any deployment was dropped.
//
// What the accepted deployments then do inside serve is real but bounded:
// the requests go round-robin to -envs environments (ECS services in the
// AWS emulator) of one app, all for one commit whose CI status is pending
// in the GitHub emulator, with ci_timeout 1h. So the pipeline runs its
// first stages for real — ref resolution (Slack), the GitHub deployment
// and its statuses, the Slack message, the queue gate — and then parks:
// the oldest deployment of each environment waits for CI, the others wait
// in its queue behind it. Nothing reaches AWS. Serve runs with the
// production timing defaults (lease 30s, queue_poll 5s, CI poll from 10s),
// so the backlog costs what it would in production. After the load,
// ackload watches serve for -settle with that backlog parked and prints
// its CPU use, its peak RSS (VmHWM) and how the stored deployments are
// spread over the states.
//
// -cpuprofile builds the binary with a pprof listener added through `go
// build -overlay` (serve has no pprof endpoint, and the tree is left
// untouched) and writes serve's CPU profile over the load and the settle
// window (with -flood: over the flood) to FILE, for `go tool pprof`.
//
// Two more kinds are webhooks that deploy nothing, the floods a GitHub App
// installed on an organisation hears: -kind checkrun sends GitHub's example
// check_run event (completed) for the repository and the commit; -kind
// comment sends a plain pull-request comment ("looks good to me", an
// issue_comment created event of 15.8 kB) in the repository deploybot
// serves, -kind comment-unserved the same in a repository it does not.
//
// -flood measures DESIGN.md's flood budget: at 3× what the machine can
// take, every request answered (200 or 503) within 1 s, /healthz never
// failing, RSS ≤ 300 MB. Unless -rate is given, it first finds the
// capacity: for -capacity-for (3s) it sends closed loop, -conns requests in
// flight, and counts the acknowledgements per second; the flood is then
// -times that, open loop for -duration, each request given up by the
// client after -timeout, at most rate×(timeout+1s) in flight (about the
// most there can be: the sender does not queue, and a request due while
// the bound is reached is counted as not sent). It counts the answers by status, the
// share answered within 1 s, probes GET /healthz 10 times a second on
// connections of its own (a failure is anything but 200 within 1 s), and
// prints serve's peak RSS. A 503 is an answer here; "dropped" still counts
// only acknowledged deployments missing from the store.
//
// -floor runs deploybot and an HMAC-only floor side by side: a server of a
// few lines in this program (net/http, bounded body read, X-Hub-Signature-256
// checked with crypto/hmac, 202), started as a process of its own so that
// its CPU is counted apart. For each -kind in the comma-separated list it
// runs -rounds rounds, each loading deploybot and the floor in turn (the
// order alternating) with the same signed requests, closed loop with -conns
// in flight for -duration, and prints each one's throughput and CPU per
// request (utime+stime from /proc/PID/stat) and the ratios deploybot/floor.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	kind       string
	store      string
	rate       int
	rateSet    bool // -rate was given; otherwise -flood measures the capacity
	duration   time.Duration
	envs       int
	settle     time.Duration
	bin        string
	cpuProfile string
	keep       bool

	flood       bool
	times       float64
	timeout     time.Duration
	capacityFor time.Duration
	conns       int

	floor  bool
	rounds int
}

// The kinds of request; the first two each create a deployment.
var kinds = []string{"slack", "github", "checkrun", "comment", "comment-unserved"}

func main() {
	var o options
	var floorServe string
	flag.StringVar(&o.kind, "kind", "slack", "what to send: "+strings.Join(kinds, ", ")+" (with -floor: a comma-separated list of the last three, all of them by default)")
	flag.StringVar(&o.store, "store", "sqlite", "sqlite (a file in a temp dir) or a postgres:// URL (a fresh schema in that database)")
	flag.IntVar(&o.rate, "rate", 500, "requests per second (with -flood: the flood's rate; left out, -times the measured capacity)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (with -floor: each server, each round)")
	flag.IntVar(&o.envs, "envs", 20, "environments the requests go to, round-robin")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "how long to watch serve after the load, with the backlog parked")
	flag.StringVar(&o.bin, "bin", "", "deploybot binary to run; empty builds ./cmd/deploybot")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write serve's CPU profile over the load and settle window to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (config, serve's log, SQLite file) and the PostgreSQL schema")
	flag.BoolVar(&o.flood, "flood", false, "flood mode: find the capacity, send -times it, count answers within 1 s, probe /healthz")
	flag.Float64Var(&o.times, "times", 3, "with -flood and no -rate: the flood's rate as a multiple of the measured capacity")
	flag.DurationVar(&o.timeout, "timeout", 0, "the client's timeout per request (default 2s with -flood, 30s otherwise)")
	flag.DurationVar(&o.capacityFor, "capacity-for", 3*time.Second, "with -flood and no -rate: how long to measure the capacity")
	flag.IntVar(&o.conns, "conns", 32, "requests in flight in the closed-loop loads (-flood's capacity, -floor)")
	flag.BoolVar(&o.floor, "floor", false, "run deploybot and an HMAC-only floor server side by side and print the ratios")
	flag.IntVar(&o.rounds, "rounds", 3, "with -floor: interleaved rounds per kind")
	flag.StringVar(&floorServe, "floor-serve", "", "internal: serve the HMAC-only floor on this address (what -floor starts)")
	flag.Parse()
	kindSet := false
	flag.Visit(func(f *flag.Flag) {
		o.rateSet = o.rateSet || f.Name == "rate"
		kindSet = kindSet || f.Name == "kind"
	})
	if o.floor && !kindSet {
		o.kind = "checkrun,comment,comment-unserved"
	}
	if floorServe != "" {
		if err := serveFloor(floorServe); err != nil {
			fmt.Fprintln(os.Stderr, "ackload -floor-serve:", err)
			os.Exit(1)
		}
		return
	}
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
		if o.flood {
			// Twice the budget: an answer after 1 s is late but still
			// told apart from none at all.
			o.timeout = 2 * time.Second
		}
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "ackload:", err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := runAck
	switch {
	case o.flood:
		run = runFlood
	case o.floor:
		run = runFloor
	}
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ackload:", err)
		os.Exit(1)
	}
}

func (o options) check() error {
	for _, k := range o.kindList() {
		switch {
		case !contains(kinds, k):
			return fmt.Errorf("-kind must be one of %s, got %q", strings.Join(kinds, ", "), k)
		case o.floor && (k == "slack" || k == "github"):
			return fmt.Errorf("-floor compares webhooks that deploy nothing (checkrun, comment, comment-unserved), got %q", k)
		}
	}
	switch {
	case flag.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	case !o.floor && strings.Contains(o.kind, ","):
		return errors.New("several kinds only with -floor")
	case o.store != "sqlite" && !strings.HasPrefix(o.store, "postgres://") && !strings.HasPrefix(o.store, "postgresql://"):
		return fmt.Errorf("-store must be sqlite or a postgres:// URL, got %q", o.store)
	case o.rate < 1 || o.duration <= 0 || o.envs < 1 || o.timeout <= 0 || o.conns < 1 || o.rounds < 1 || o.times <= 0:
		return errors.New("-rate, -duration, -envs, -timeout, -conns, -rounds and -times must be positive")
	case o.flood && o.floor:
		return errors.New("-flood or -floor, not both")
	case o.flood && o.kind == "github" && !o.rateSet:
		// Each deployment event names a GitHub deployment created
		// beforehand, so the number sent must be known before sending.
		return errors.New("-flood -kind github needs -rate (the capacity is measured with the other kinds)")
	case o.bin != "" && o.cpuProfile != "":
		return errors.New("-cpuprofile needs the binary built here (with a pprof listener); leave -bin out")
	}
	return nil
}

func (o options) kindList() []string { return strings.Split(o.kind, ",") }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// rig is what every mode runs against: the temp dir, the binary, the
// emulators and the store; start adds serve.
type rig struct {
	o     options
	out   io.Writer
	dir   string
	w     *world
	store storeSetup
	srv   *serveProcess
	// ghSeeded is the GitHub emulator's call count before serve started.
	ghSeeded int
	closers  []func() error
}

func prepare(ctx context.Context, o options, out io.Writer) (_ *rig, err error) {
	r := &rig{o: o, out: out}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.dir, err = os.MkdirTemp("", "ackload-"); err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(out, "temp dir (kept): %s\n", r.dir)
	} else {
		dir := r.dir
		r.closers = append(r.closers, func() error { return os.RemoveAll(dir) })
	}
	if o.bin == "" {
		began := time.Now()
		if r.o.bin, err = buildBinary(ctx, r.dir, o.cpuProfile != ""); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "built %s in %s\n", r.o.bin, time.Since(began).Round(time.Millisecond))
	}
	st, err := os.Stat(r.o.bin)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "binary size: %.1f MiB (%d bytes)\n", float64(st.Size())/(1<<20), st.Size())

	if r.w, err = newWorld(ctx, o.envs, r.dir, o.store, o.keep); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() error {
		if o.keep {
			fmt.Fprintf(out, "store (kept): %s\n", r.w.StoreDSN)
		}
		return r.w.Close()
	})
	if r.store, err = prepareStore(r.w, o.store); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() error { return r.store.close() })
	return r, nil
}

// start starts serve; Close stops it.
func (r *rig) start(ctx context.Context) error {
	r.ghSeeded = r.w.github.CallCount()
	srv, err := startServe(ctx, r.w, r.o.bin, r.dir, r.store.dsn, r.o.cpuProfile != "")
	if err != nil {
		return err
	}
	r.srv = srv
	r.closers = append(r.closers, func() error { _, err := srv.Stop(); return err })
	fmt.Fprintf(r.out, "deploybot serve (pid %d) on %s, store %s\n", srv.pid(), srv.addr, describeStore(r.o.store))
	fmt.Fprintf(r.out, "start-up: /healthz 200 after %s, /readyz 200 after %s\n", srv.healthy.Round(100*time.Microsecond), srv.ready.Round(100*time.Microsecond))
	return nil
}

// profile starts, with -cpuprofile, serve's CPU profile for d and a dump
// of its goroutines half-way through the load; the function it returns
// waits for both and says where they are.
func (r *rig) profile(ctx context.Context, d time.Duration) func() {
	if r.o.cpuProfile == "" {
		return func() {}
	}
	path := r.o.cpuProfile
	profileDone := r.srv.cpuProfile(ctx, path, d)
	goroutinesDone := r.srv.goroutines(ctx, path+".goroutines.txt", r.o.duration/2)
	return func() {
		if err := <-profileDone; err != nil {
			fmt.Fprintf(r.out, "CPU profile: %v\n", err)
		} else {
			fmt.Fprintf(r.out, "CPU profile of serve written to %s (go tool pprof -top %s)\n", path, path)
		}
		if err := <-goroutinesDone; err != nil {
			fmt.Fprintf(r.out, "goroutine dump: %v\n", err)
		} else {
			fmt.Fprintf(r.out, "serve's goroutines half-way through the load written to %s.goroutines.txt\n", path)
		}
	}
}

// stopServe stops serve as an orchestrator would and says how it went.
func (r *rig) stopServe() {
	took, err := r.srv.Stop()
	if err != nil {
		fmt.Fprintf(r.out, "serve stopped after %s: %v\n", took.Round(time.Millisecond), err)
	} else {
		fmt.Fprintf(r.out, "serve stopped on SIGTERM after %s\n", took.Round(time.Millisecond))
	}
	r.srv.summarizeLog(r.out)
}

// Close undoes prepare and start, the last thing first.
func (r *rig) Close() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	return errors.Join(errs...)
}

// generator makes the generator of kind for total requests (total
// matters only to the kinds that prepare each request beforehand).
func (r *rig) generator(ctx context.Context, kind string, total int) (generator, error) {
	switch kind {
	case "slack":
		return r.w.slackGenerator(total)
	case "github":
		began := time.Now()
		gen, err := r.w.githubGenerator(ctx, total)
		if err == nil {
			fmt.Fprintf(r.out, "created %d GitHub deployments in the emulator in %s (outside the measurement)\n", total, time.Since(began).Round(time.Millisecond))
		}
		return gen, err
	case "checkrun":
		return r.w.checkRunGenerator()
	case "comment":
		return r.w.commentGenerator(repo)
	case "comment-unserved":
		return r.w.commentGenerator(unservedRepo)
	}
	return generator{}, fmt.Errorf("unknown kind %q", kind)
}

// cpuMeter splits the machine's CPU time over an interval between serve,
// this process (sender and emulators), PostgreSQL and the rest.
type cpuMeter struct {
	pid                  int
	serve, self, pg, all time.Duration
}

func startCPU(pid int) cpuMeter {
	m := cpuMeter{pid: pid, self: selfCPU(), all: machineCPU(), pg: postgresCPU()}
	m.serve, _ = procCPU(pid)
	return m
}

func (m cpuMeter) print(out io.Writer, elapsed time.Duration) {
	serve, _ := procCPU(m.pid)
	serve -= m.serve
	// A backend's time moves to the postmaster's children's time only
	// once it has been reaped, so the difference can dip below zero.
	self, pg := selfCPU()-m.self, max(0, postgresCPU()-m.pg)
	others := max(0, machineCPU()-m.all-serve-self-pg)
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / elapsed.Seconds() }
	fmt.Fprintf(out, "CPU during the load, in %% of one core (the machine has %d00%%): serve %.0f%%, ackload itself (sender and emulators) %.0f%%, PostgreSQL %.0f%%, other processes %.0f%%\n",
		runtime.NumCPU(), pct(serve), pct(self), pct(pg), pct(others))
}

func runAck(ctx context.Context, o options, out io.Writer) (err error) {
	r, err := prepare(ctx, o, out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Close()) }()

	total := int(o.duration.Seconds() * float64(o.rate))
	gen, err := r.generator(ctx, o.kind, total)
	if err != nil {
		return err
	}
	if err := r.start(ctx); err != nil {
		return err
	}
	srv := r.srv

	profiled := r.profile(ctx, o.duration+o.settle+time.Second)

	var sessionsBefore int64
	if r.store.sessions != nil {
		sessionsBefore, _ = r.store.sessions(ctx)
	}
	cpu := startCPU(srv.pid())
	stopFDs := make(chan struct{})
	fds := peakFDs(srv.pid(), stopFDs)
	res := load(ctx, gen, srv.url(), pace{rate: o.rate, total: total, timeout: o.timeout})
	close(stopFDs)
	res.print(out, o.kind, o.rate, o.duration)
	cpu.print(out, res.elapsed)

	fmt.Fprintf(out, "serve's open file descriptors during the load: at most %d\n", <-fds)
	if r.store.sessions != nil {
		time.Sleep(1500 * time.Millisecond) // for the statistics to catch up
		if after, err := r.store.sessions(ctx); err == nil {
			fmt.Fprintf(out, "PostgreSQL connections opened during the load: %d (for %d requests)\n", after-sessionsBefore, total)
		}
	}
	if o.settle > 0 {
		samples := watch(ctx, srv.pid(), o.settle)
		fmt.Fprintf(out, "CPU of serve with the backlog parked, per second over %s: %s\n", o.settle, samples)
	}

	check, err := verify(ctx, r.store.dsn, res)
	if err != nil {
		return err
	}
	check.print(out)

	if status, err := procStatus(srv.pid()); err == nil {
		fmt.Fprintf(out, "serve peak RSS (VmHWM): %s; now (VmRSS): %s; threads: %s\n", status["VmHWM"], status["VmRSS"], status["Threads"])
	}
	fmt.Fprintf(out, "serve's API calls to the emulators: GitHub %d, Slack %d, AWS %d\n", r.w.github.CallCount()-r.ghSeeded, len(r.w.slack.Calls()), len(r.w.aws.Calls()))

	profiled()
	r.stopServe()

	if res.failed > 0 || check.dropped > 0 {
		return fmt.Errorf("%d failed, %d dropped", res.failed, check.dropped)
	}
	return nil
}
