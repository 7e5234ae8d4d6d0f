// Command ackload measures DESIGN.md's ack budget — a signed Slack
// command or GitHub webhook acknowledged within p99 10 ms at 500 req/s on
// 2 cores, store write included, none dropped — against a real
// `deploybot serve` process on loopback.
//
//	go run ./bench/ackload [-kind slack|github] [-store sqlite|postgres://…]
//	    [-rate 500] [-duration 10s] [-envs 20] [-settle 10s]
//	    [-bin PATH] [-cpuprofile FILE] [-keep]
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
// window to FILE, for `go tool pprof`.
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
	duration   time.Duration
	envs       int
	settle     time.Duration
	bin        string
	cpuProfile string
	keep       bool
}

func main() {
	var o options
	flag.StringVar(&o.kind, "kind", "slack", "what to send: slack (signed /deploy commands) or github (signed deployment webhooks)")
	flag.StringVar(&o.store, "store", "sqlite", "sqlite (a file in a temp dir) or a postgres:// URL (a fresh schema in that database)")
	flag.IntVar(&o.rate, "rate", 500, "requests per second")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	flag.IntVar(&o.envs, "envs", 20, "environments the requests go to, round-robin")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "how long to watch serve after the load, with the backlog parked")
	flag.StringVar(&o.bin, "bin", "", "deploybot binary to run; empty builds ./cmd/deploybot")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write serve's CPU profile over the load and settle window to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (config, serve's log, SQLite file) and the PostgreSQL schema")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "ackload:", err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ackload:", err)
		os.Exit(1)
	}
}

func (o options) check() error {
	switch {
	case flag.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	case o.kind != "slack" && o.kind != "github":
		return fmt.Errorf("-kind must be slack or github, got %q", o.kind)
	case o.store != "sqlite" && !strings.HasPrefix(o.store, "postgres://") && !strings.HasPrefix(o.store, "postgresql://"):
		return fmt.Errorf("-store must be sqlite or a postgres:// URL, got %q", o.store)
	case o.rate < 1 || o.duration <= 0 || o.envs < 1:
		return errors.New("-rate, -duration and -envs must be positive")
	case o.bin != "" && o.cpuProfile != "":
		return errors.New("-cpuprofile needs the binary built here (with a pprof listener); leave -bin out")
	}
	return nil
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "ackload-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(out, "temp dir (kept): %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	bin := o.bin
	if bin == "" {
		began := time.Now()
		if bin, err = buildBinary(ctx, dir, o.cpuProfile != ""); err != nil {
			return err
		}
		fmt.Fprintf(out, "built %s in %s\n", bin, time.Since(began).Round(time.Millisecond))
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "binary size: %.1f MiB (%d bytes)\n", float64(st.Size())/(1<<20), st.Size())

	w, err := newWorld(o.envs)
	if err != nil {
		return err
	}
	defer w.Close()

	store, err := prepareStore(ctx, o.store, dir)
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Fprintf(out, "store (kept): %s\n", store.dsn)
			return
		}
		if derr := store.drop(); derr != nil && err == nil {
			err = derr
		}
	}()

	total := int(o.duration.Seconds() * float64(o.rate))
	var gen generator
	switch o.kind {
	case "slack":
		gen, err = w.slackGenerator(total)
	case "github":
		began := time.Now()
		gen, err = w.githubGenerator(ctx, total)
		if err == nil {
			fmt.Fprintf(out, "created %d GitHub deployments in the emulator in %s (outside the measurement)\n", total, time.Since(began).Round(time.Millisecond))
		}
	}
	if err != nil {
		return err
	}

	ghSeeded := w.github.CallCount()
	srv, err := startServe(ctx, w, bin, dir, store.dsn, o.cpuProfile != "")
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Fprintf(out, "deploybot serve (pid %d) on %s, store %s\n", srv.cmd.Process.Pid, srv.addr, describeStore(o.store))
	fmt.Fprintf(out, "start-up: /healthz 200 after %s, /readyz 200 after %s\n", srv.healthy.Round(100*time.Microsecond), srv.ready.Round(100*time.Microsecond))

	var profileDone, goroutinesDone <-chan error
	if o.cpuProfile != "" {
		profileDone = srv.cpuProfile(ctx, o.cpuProfile, o.duration+o.settle+time.Second)
		goroutinesDone = srv.goroutines(ctx, o.cpuProfile+".goroutines.txt", o.duration/2)
	}

	var sessionsBefore int64
	if store.sessions != nil {
		sessionsBefore, _ = store.sessions(ctx)
	}
	cpuBefore, _ := procCPU(srv.pid())
	selfBefore, allBefore, pgBefore := selfCPU(), machineCPU(), postgresCPU()
	stopFDs := make(chan struct{})
	fds := peakFDs(srv.pid(), stopFDs)
	res := load(ctx, gen, srv.url(), o.rate, total)
	close(stopFDs)
	cpuAfter, _ := procCPU(srv.pid())
	selfAfter, allAfter, pgAfter := selfCPU(), machineCPU(), postgresCPU()
	res.print(out, o.kind, o.rate, o.duration)
	serveCPU, selfUsed, pgUsed := cpuAfter-cpuBefore, selfAfter-selfBefore, pgAfter-pgBefore
	others := max(0, allAfter-allBefore-serveCPU-selfUsed-pgUsed)
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / res.elapsed.Seconds() }
	fmt.Fprintf(out, "CPU during the load, in %% of one core (the machine has %d00%%): serve %.0f%%, ackload itself (sender and emulators) %.0f%%, PostgreSQL %.0f%%, other processes %.0f%%\n",
		runtime.NumCPU(), pct(serveCPU), pct(selfUsed), pct(pgUsed), pct(others))

	fmt.Fprintf(out, "serve's open file descriptors during the load: at most %d\n", <-fds)
	if store.sessions != nil {
		time.Sleep(1500 * time.Millisecond) // for the statistics to catch up
		if after, err := store.sessions(ctx); err == nil {
			fmt.Fprintf(out, "PostgreSQL connections opened during the load: %d (for %d requests)\n", after-sessionsBefore, total)
		}
	}
	if o.settle > 0 {
		samples := watch(ctx, srv.pid(), o.settle)
		fmt.Fprintf(out, "CPU of serve with the backlog parked, per second over %s: %s\n", o.settle, samples)
	}

	check, err := verify(ctx, store.dsn, res)
	if err != nil {
		return err
	}
	check.print(out)

	if status, err := procStatus(srv.pid()); err == nil {
		fmt.Fprintf(out, "serve peak RSS (VmHWM): %s; now (VmRSS): %s; threads: %s\n", status["VmHWM"], status["VmRSS"], status["Threads"])
	}
	fmt.Fprintf(out, "serve's API calls to the emulators: GitHub %d, Slack %d, AWS %d\n", w.github.CallCount()-ghSeeded, len(w.slack.Calls()), len(w.aws.Calls()))

	if profileDone != nil {
		if perr := <-profileDone; perr != nil {
			fmt.Fprintf(out, "CPU profile: %v\n", perr)
		} else {
			fmt.Fprintf(out, "CPU profile of serve written to %s (go tool pprof -top %s)\n", o.cpuProfile, o.cpuProfile)
		}
		if gerr := <-goroutinesDone; gerr != nil {
			fmt.Fprintf(out, "goroutine dump: %v\n", gerr)
		} else {
			fmt.Fprintf(out, "serve's goroutines half-way through the load written to %s.goroutines.txt\n", o.cpuProfile)
		}
	}

	took, serr := srv.Stop()
	if serr != nil {
		fmt.Fprintf(out, "serve stopped after %s: %v\n", took.Round(time.Millisecond), serr)
	} else {
		fmt.Fprintf(out, "serve stopped on SIGTERM after %s\n", took.Round(time.Millisecond))
	}
	srv.summarizeLog(out)

	if res.failed > 0 || check.dropped > 0 {
		return fmt.Errorf("%d failed, %d dropped", res.failed, check.dropped)
	}
	return nil
}
