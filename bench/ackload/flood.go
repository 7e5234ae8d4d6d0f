package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The flood budget (DESIGN.md, Budgets).
const (
	answerBudget = time.Second
	rssBudgetKB  = 300_000
)

// capacityLimit bounds the requests prepared for measuring the capacity;
// serve is far from taking that many in -capacity-for.
const capacityLimit = 40_000

func runFlood(ctx context.Context, o options, out io.Writer) (err error) {
	r, err := prepare(ctx, o, out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Close()) }()

	rate := o.rate
	var gen generator
	if o.rateSet {
		total := int(o.duration.Seconds() * float64(rate))
		if gen, err = r.generator(ctx, o.kind, total); err != nil {
			return err
		}
		if err := r.start(ctx); err != nil {
			return err
		}
	} else {
		if err := r.start(ctx); err != nil {
			return err
		}
		capacity, err := r.capacity(ctx)
		if err != nil {
			return err
		}
		rate = int(o.times * capacity)
		// The backlog the capacity run left (requests in flight, the
		// pipelines it started) settles a little before the flood.
		time.Sleep(2 * time.Second)
		total := int(o.duration.Seconds() * float64(rate))
		if gen, err = r.generator(ctx, o.kind, total); err != nil {
			return err
		}
	}
	total := int(o.duration.Seconds() * float64(rate))
	// Without an answer a request is given up after the timeout, so
	// there are never much more than rate×timeout in flight; the bound
	// keeps the sender's memory and descriptors in check. The extra
	// second is for the sender's own lag on a busy machine: a request
	// given up still holds its slot until its goroutine has run.
	inFlight := int(float64(rate) * (o.timeout + time.Second).Seconds())

	profiled := r.profile(ctx, o.duration+time.Second)
	cpu := startCPU(r.srv.pid())
	stopFDs, stopProbe := make(chan struct{}), make(chan struct{})
	fds := peakFDs(r.srv.pid(), stopFDs)
	health := probeHealth(r.srv.url(), 100*time.Millisecond, stopProbe)
	res := load(ctx, gen, r.srv.url(), pace{rate: rate, total: total, timeout: o.timeout, maxInFlight: inFlight})
	close(stopProbe)
	close(stopFDs)
	fmt.Fprintf(out, "flood: %d %s at %d/s over %s, open loop, the client giving up after %s, at most %d in flight\n",
		total, describeKind[o.kind], rate, o.duration, o.timeout, inFlight)
	f := classify(res, rate)
	f.print(out, rate)
	h := <-health
	h.print(out)
	cpu.print(out, res.elapsed)
	fmt.Fprintf(out, "serve's open file descriptors during the flood: at most %d\n", <-fds)

	var check storeCheck
	if o.kind == "slack" || o.kind == "github" {
		// Only acknowledged requests promise a deployment; a 503 or a
		// request given up promises nothing.
		if check, err = verify(ctx, r.store.dsn, res); err != nil {
			return err
		}
		check.print(out)
	}
	var hwm int
	if status, err := procStatus(r.srv.pid()); err == nil {
		hwm, _ = strconv.Atoi(strings.TrimSuffix(status["VmHWM"], " kB"))
		fmt.Fprintf(out, "serve peak RSS (VmHWM): %s; now (VmRSS): %s; threads: %s\n", status["VmHWM"], status["VmRSS"], status["Threads"])
	}
	profiled()
	r.stopServe()

	var missed []string
	if f.late > 0 {
		missed = append(missed, fmt.Sprintf("%d requests not answered 200/503 within 1 s", f.late))
	}
	if h.failed > 0 {
		missed = append(missed, fmt.Sprintf("%d /healthz failures", h.failed))
	}
	if hwm > rssBudgetKB {
		missed = append(missed, fmt.Sprintf("peak RSS %d kB over %d kB", hwm, rssBudgetKB))
	}
	if check.dropped > 0 {
		missed = append(missed, fmt.Sprintf("%d acknowledged deployments dropped", check.dropped))
	}
	if len(missed) > 0 {
		return fmt.Errorf("flood budget missed: %s", strings.Join(missed, "; "))
	}
	fmt.Fprintln(out, "flood budget met")
	return nil
}

// capacity measures what serve takes: acknowledgements per second, closed
// loop with -conns in flight for -capacity-for.
func (r *rig) capacity(ctx context.Context) (perSecond float64, err error) {
	gen, err := r.generator(ctx, r.o.kind, capacityLimit)
	if err != nil {
		return 0, err
	}
	res := closedLoop(ctx, gen, r.srv.url(), r.o.conns, r.o.capacityFor, r.o.timeout, capacityLimit)
	perSecond = float64(res.acknowledged()) / res.elapsed.Seconds()
	ls := res.latencies()
	fmt.Fprintf(r.out, "capacity: %.0f acknowledged/s (%d of %d in %s, closed loop with %d in flight; latency p50 %s, p99 %s)\n",
		perSecond, res.acknowledged(), len(res.results), res.elapsed.Round(time.Millisecond), r.o.conns, round(percentile(ls, 0.5)), round(percentile(ls, 0.99)))
	errs := map[string]int{}
	for _, x := range res.results {
		if x.err != nil {
			errs[x.err.Error()]++
		}
	}
	printErrors(r.out, errs)
	if len(res.results) >= capacityLimit {
		fmt.Fprintf(r.out, "  (stopped at %d requests: the capacity is at least this)\n", capacityLimit)
	}
	if perSecond < 1 {
		return 0, errors.New("serve acknowledged nothing while the capacity was measured")
	}
	return perSecond, nil
}

// floodCount is what became of a flood's requests.
type floodCount struct {
	sent, acked, otherOK, shed, timeouts, connErrs, unsent int
	otherStatus                                            map[int]int
	within                                                 int // 2xx or 503 within answerBudget
	late                                                   int // sent and not within
	withinPerSecond                                        []float64
	okLatency, shedLatency                                 []time.Duration
	lags                                                   []time.Duration
	errs                                                   map[string]int
}

// classify counts the results of a flood sent at rate per second.
func classify(lr loadResult, rate int) floodCount {
	f := floodCount{otherStatus: map[int]int{}, errs: map[string]int{}}
	var inSecond, withinInSecond []int
	for i, r := range lr.results {
		s := i / rate
		for len(inSecond) <= s {
			inSecond, withinInSecond = append(inSecond, 0), append(withinInSecond, 0)
		}
		inSecond[s]++
		if r.unsent {
			f.unsent++
			continue
		}
		f.sent++
		f.lags = append(f.lags, r.lag)
		var ne net.Error
		switch {
		case r.status == http.StatusServiceUnavailable:
			f.shed++
			f.shedLatency = append(f.shedLatency, r.latency)
		case r.status/100 == 2 && r.err == nil:
			f.acked++
			f.okLatency = append(f.okLatency, r.latency)
		case r.status/100 == 2:
			f.otherOK++
			f.okLatency = append(f.okLatency, r.latency)
		case r.status != 0:
			f.otherStatus[r.status]++
		case errors.As(r.err, &ne) && ne.Timeout():
			f.timeouts++
		default:
			f.connErrs++
		}
		if r.err != nil && r.status != http.StatusServiceUnavailable {
			f.errs[r.err.Error()]++
		}
		if (r.status/100 == 2 || r.status == http.StatusServiceUnavailable) && r.latency <= answerBudget {
			f.within++
			withinInSecond[s]++
		}
	}
	// A request not sent counts as not answered: the sender's bound is
	// reached only when thousands sent before it went unanswered.
	f.late = f.sent + f.unsent - f.within
	for s := range inSecond {
		if inSecond[s] > 0 {
			f.withinPerSecond = append(f.withinPerSecond, float64(withinInSecond[s])/float64(inSecond[s]))
		}
	}
	return f
}

func (f floodCount) print(out io.Writer, rate int) {
	offered := f.sent + f.unsent
	fmt.Fprintf(out, "answered 200/202 or 503 within 1 s: %d of %d, %.1f%% (%d sent, %d not sent)\n",
		f.within, offered, 100*float64(f.within)/float64(max(1, offered)), f.sent, f.unsent)
	fmt.Fprintf(out, "answers: acknowledged (2xx) %d, other 2xx %d, 503 %d, other status %v; no answer: client timeout %d, connection error %d; not sent (sender at its bound) %d\n",
		f.acked, f.otherOK, f.shed, f.otherStatus, f.timeouts, f.connErrs, f.unsent)
	for _, l := range []struct {
		what string
		ls   []time.Duration
	}{{"2xx", f.okLatency}, {"503", f.shedLatency}} {
		if len(l.ls) == 0 {
			continue
		}
		sorted := slices.Sorted(slices.Values(l.ls))
		fmt.Fprintf(out, "latency of the %s answers: p50 %s  p99 %s  max %s\n", l.what, round(percentile(sorted, 0.5)), round(percentile(sorted, 0.99)), round(percentile(sorted, 1)))
	}
	// On a shared 2-core machine the sender competes with serve for the
	// CPU. Latency counts from when a request leaves, so a late sender
	// does not show in it; it shows here, as a flood thinner than the
	// rate says.
	lags := slices.Sorted(slices.Values(f.lags))
	fmt.Fprintf(out, "the sender left late against the schedule by p50 %s  p99 %s  max %s\n", round(percentile(lags, 0.5)), round(percentile(lags, 0.99)), round(percentile(lags, 1)))
	var parts []string
	for _, s := range f.withinPerSecond {
		parts = append(parts, fmt.Sprintf("%.0f%%", 100*s))
	}
	fmt.Fprintf(out, "answered within 1 s, by second of sending (%d/s): %s\n", rate, strings.Join(parts, " "))
	printErrors(out, f.errs)
}

// healthCount is what became of the /healthz probes.
type healthCount struct {
	probes, failed int
	slowest        time.Duration
	errs           map[string]int
}

// probeHealth GETs /healthz every interval, as an orchestrator's liveness
// probe does (a new connection each time, 1 s timeout), until stop is
// closed; a failure is anything but 200 within 1 s.
func probeHealth(base string, every time.Duration, stop <-chan struct{}) <-chan healthCount {
	done := make(chan healthCount, 1)
	go func() {
		client := &http.Client{Timeout: answerBudget, Transport: &http.Transport{DisableKeepAlives: true}}
		var (
			mu sync.Mutex
			wg sync.WaitGroup
			h  = healthCount{errs: map[string]int{}}
		)
		probe := func() {
			defer wg.Done()
			began := time.Now()
			resp, err := client.Get(base + "/healthz")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
			}
			took := time.Since(began)
			mu.Lock()
			defer mu.Unlock()
			h.probes++
			h.slowest = max(h.slowest, took)
			if err == nil && took > answerBudget {
				err = fmt.Errorf("answered after %s", took)
			}
			if err != nil {
				h.failed++
				h.errs[err.Error()]++
			}
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				wg.Wait()
				done <- h
				return
			case <-t.C:
				wg.Add(1)
				go probe()
			}
		}
	}()
	return done
}

func (h healthCount) print(out io.Writer) {
	fmt.Fprintf(out, "/healthz: %d probes, %d failed, slowest %s\n", h.probes, h.failed, round(h.slowest))
	printErrors(out, h.errs)
}
