package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// maxFloorBody is GitHub's own cap on webhook payloads.
const maxFloorBody = 25 << 20

// serveFloor serves the least a webhook intake can do and still be safe:
// read the body (bounded), check X-Hub-Signature-256 with HMAC-SHA256,
// answer 202. What deploybot does beyond this is its own cost.
func serveFloor(addr string) error {
	secret := []byte(webhookSecret)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /webhooks/github", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-GitHub-Event") == "" || r.Header.Get("X-GitHub-Delivery") == "" {
			http.Error(w, "missing X-GitHub-Event or X-GitHub-Delivery", http.StatusBadRequest)
			return
		}
		// One allocation of the announced size: io.ReadAll's doubling
		// would cost more than deploybot's own read, and a floor must not.
		limited := http.MaxBytesReader(w, r.Body, maxFloorBody)
		var body []byte
		var err error
		if n := r.ContentLength; n > 0 && n <= maxFloorBody {
			body = make([]byte, n)
			_, err = io.ReadFull(limited, body)
		} else {
			body, err = io.ReadAll(limited)
		}
		if err != nil {
			http.Error(w, "could not read the body", http.StatusRequestEntityTooLarge)
			return
		}
		sig, err := hex.DecodeString(strings.TrimPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256="))
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			http.Error(w, "invalid X-Hub-Signature-256", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	return http.ListenAndServe(addr, mux)
}

// startFloor runs this program again as the floor server, a process of
// its own so that its CPU time is counted apart from the sender's.
func startFloor(ctx context.Context, dir string) (*serveProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return launch(ctx, exec.Command(self, "-floor-serve", addr), addr, filepath.Join(dir, "floor.log"), "/healthz")
}

// floorRun is one closed-loop load of one server.
type floorRun struct {
	acked, failed int
	perSecond     float64
	cpuPerReq     time.Duration // the server's utime+stime per acknowledgement
	dbPerReq      time.Duration // … and its PostgreSQL backends', for deploybot on PostgreSQL
	senderCPU     float64       // this process's CPU, in cores, meanwhile
	p99           time.Duration
}

// measure loads server p; backendCPU, if not nil, is the CPU time of
// the PostgreSQL backends working for it.
func measure(ctx context.Context, o options, gen generator, p *serveProcess, backendCPU func(context.Context) (time.Duration, error)) (floorRun, error) {
	before, err := procCPU(p.pid())
	if err != nil {
		return floorRun{}, err
	}
	var dbBefore time.Duration
	if backendCPU != nil {
		if dbBefore, err = backendCPU(ctx); err != nil {
			return floorRun{}, err
		}
	}
	self := selfCPU()
	res := closedLoop(ctx, gen, p.url(), o.conns, o.duration, 10*time.Second, 0)
	after, err := procCPU(p.pid())
	if err != nil {
		return floorRun{}, err
	}
	fr := floorRun{
		acked: res.acknowledged(), failed: res.failed,
		perSecond: float64(res.acknowledged()) / res.elapsed.Seconds(),
		senderCPU: (selfCPU() - self).Seconds() / res.elapsed.Seconds(),
		p99:       percentile(res.latencies(), 0.99),
	}
	if fr.acked > 0 {
		fr.cpuPerReq = (after - before) / time.Duration(fr.acked)
	}
	if backendCPU != nil && fr.acked > 0 {
		dbAfter, err := backendCPU(ctx)
		if err != nil {
			return floorRun{}, err
		}
		fr.dbPerReq = max(0, dbAfter-dbBefore) / time.Duration(fr.acked)
	}
	return fr, nil
}

func (fr floorRun) String() string {
	db := ""
	if fr.dbPerReq > 0 {
		db = fmt.Sprintf(" + PostgreSQL %s", round(fr.dbPerReq))
	}
	return fmt.Sprintf("%6.0f/s, %s CPU/request%s, p99 %s (%d acknowledged, %d failed; the sender used %.2f cores)",
		fr.perSecond, round(fr.cpuPerReq), db, round(fr.p99), fr.acked, fr.failed, fr.senderCPU)
}

func runFloor(ctx context.Context, o options, out io.Writer) (err error) {
	r, err := prepare(ctx, o, out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	if err := r.start(ctx); err != nil {
		return err
	}
	floor, err := startFloor(ctx, r.dir)
	if err != nil {
		return err
	}
	defer floor.Stop()
	fmt.Fprintf(out, "HMAC-only floor (pid %d) on %s\n", floor.pid(), floor.addr)
	fmt.Fprintf(out, "each load: closed loop, %d requests in flight, %s; %d rounds per kind, deploybot and the floor in turn\n", o.conns, o.duration, o.rounds)

	var summary []string
	failed := 0
	for _, kind := range o.kindList() {
		gen, err := r.generator(ctx, kind, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s:\n", describeKind[kind])
		var bot, flr []floorRun
		var tpRatio, cpuRatio []float64
		for round := range o.rounds {
			order := []string{"deploybot", "floor"}
			if round%2 == 1 {
				// Alternating cancels the drift of a shared machine.
				order = []string{"floor", "deploybot"}
			}
			runs := map[string]floorRun{}
			for _, which := range order {
				p, backendCPU := r.srv, r.store.backendCPU
				if which == "floor" {
					p, backendCPU = floor, nil
				}
				fr, err := measure(ctx, o, gen, p, backendCPU)
				if err != nil {
					return err
				}
				failed += fr.failed
				runs[which] = fr
				fmt.Fprintf(out, "  round %d %-9s %s\n", round+1, which, fr)
			}
			b, f := runs["deploybot"], runs["floor"]
			bot, flr = append(bot, b), append(flr, f)
			// The ratio within a round compares two loads a few seconds
			// apart, on a machine in about the same state.
			tpRatio = append(tpRatio, b.perSecond/f.perSecond)
			// With PostgreSQL, deploybot's store work is done in the
			// database's processes: it is part of its cost.
			cpuRatio = append(cpuRatio, float64(b.cpuPerReq+b.dbPerReq)/float64(f.cpuPerReq))
		}
		b, f := medianRun(bot), medianRun(flr)
		db := ""
		if b.dbPerReq > 0 {
			db = " + PostgreSQL " + round(b.dbPerReq)
		}
		summary = append(summary, fmt.Sprintf("%s: deploybot %.0f/s, %s%s CPU/request; floor %.0f/s, %s CPU/request; deploybot/floor (median of the rounds' ratios): throughput %.2f, CPU per request %.2f",
			kind, b.perSecond, round(b.cpuPerReq), db, f.perSecond, round(f.cpuPerReq), median(tpRatio), median(cpuRatio)))
	}
	fmt.Fprintf(out, "medians of %d rounds:\n", o.rounds)
	for _, line := range summary {
		fmt.Fprintln(out, "  "+line)
	}
	if status, err := procStatus(r.srv.pid()); err == nil {
		fmt.Fprintf(out, "deploybot serve peak RSS (VmHWM): %s\n", status["VmHWM"])
	}
	r.stopServe()
	if failed > 0 {
		return fmt.Errorf("%d requests failed", failed)
	}
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(xs))
	return sorted[len(sorted)/2]
}

// medianRun takes the median throughput and the median CPU per request
// (serve's and PostgreSQL's), each on its own.
func medianRun(runs []floorRun) floorRun {
	if len(runs) == 0 {
		return floorRun{}
	}
	tp := make([]float64, len(runs))
	cpu := make([]time.Duration, len(runs))
	db := make([]time.Duration, len(runs))
	for i, fr := range runs {
		tp[i], cpu[i], db[i] = fr.perSecond, fr.cpuPerReq, fr.dbPerReq
	}
	slices.Sort(tp)
	slices.Sort(cpu)
	slices.Sort(db)
	return floorRun{perSecond: tp[len(tp)/2], cpuPerReq: cpu[len(cpu)/2], dbPerReq: db[len(db)/2]}
}
