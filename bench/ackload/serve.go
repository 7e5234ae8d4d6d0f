package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// pprofOverlay is added to package main of cmd/deploybot through `go build
// -overlay` for -cpuprofile: a pprof listener on $ACKLOAD_PPROF_ADDR,
// apart from serve's own routes. The working tree is not touched.
const pprofOverlay = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("ACKLOAD_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, nil)
}
`

// buildBinary builds ./cmd/deploybot into dir, with the pprof listener
// when withPprof.
func buildBinary(ctx context.Context, dir string, withPprof bool) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command on PATH to build deploybot (or pass -bin): %w", err)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "deploybot")
	args := []string{"build", "-o", bin}
	if withPprof {
		src := filepath.Join(dir, "ackload_pprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o600); err != nil {
			return "", err
		}
		overlay, _ := json.Marshal(map[string]map[string]string{
			"Replace": {filepath.Join(root, "cmd", "deploybot", "zz_ackload_pprof.go"): src},
		})
		overlayPath := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(overlayPath, overlay, 0o600); err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlayPath)
	}
	cmd := exec.CommandContext(ctx, goCmd, append(args, "./cmd/deploybot")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/deploybot: %w\n%s", err, out)
	}
	return bin, nil
}

// serveProcess is a running `deploybot serve` (or the floor server).
type serveProcess struct {
	cmd       *exec.Cmd
	addr      string
	logPath   string
	pprofAddr string
	healthy   time.Duration // from start to the first 200 of /healthz
	ready     time.Duration // … and of /readyz

	exited  chan struct{}
	waitErr error
	once    sync.Once
	stopped time.Duration
	stopErr error
}

// startServe writes the config and starts serve with its log in dir, and
// returns once /healthz and /readyz have answered 200.
func startServe(ctx context.Context, w *world, bin, dir, dsn string, withPprof bool) (*serveProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	config, err := w.config(dir, addr, dsn)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", config)
	cmd.Env = w.environ
	var pprofAddr string
	if withPprof {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		cmd.Env = append(append([]string(nil), w.environ...), "ACKLOAD_PPROF_ADDR="+pprofAddr)
	}
	p, err := launch(ctx, cmd, addr, filepath.Join(dir, "serve.log"), "/healthz", "/readyz")
	if err != nil {
		return nil, err
	}
	p.pprofAddr = pprofAddr
	return p, nil
}

// launch starts cmd, which is to listen on addr, with its output in
// logPath, and returns once GET of each of probes has answered 200: the
// first after healthy, the second after ready.
func launch(ctx context.Context, cmd *exec.Cmd, addr, logPath string, probes ...string) (*serveProcess, error) {
	p := &serveProcess{cmd: cmd, addr: addr, logPath: logPath, exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// Should this program die (a panic, a kill), the child goes with it
	// instead of loading the shared machine on its own.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}

	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	client := &http.Client{Timeout: time.Second}
	for i, path := range probes {
		if err := p.await(ctx, client, path, start.Add(time.Minute)); err != nil {
			p.Stop()
			return nil, fmt.Errorf("%w\n%s's log:\n%s", err, filepath.Base(cmd.Path), p.logTail(20))
		}
		switch i {
		case 0:
			p.healthy = time.Since(start)
		case 1:
			p.ready = time.Since(start)
		}
	}
	return p, nil
}

// await polls path until it answers 200.
func (p *serveProcess) await(ctx context.Context, client *http.Client, path string, deadline time.Time) error {
	for {
		resp, err := client.Get(p.url() + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before %s answered 200: %v", p.cmd.Path, path, p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 on %s within a minute", p.cmd.Path, path)
		}
	}
}

func (p *serveProcess) url() string { return "http://" + p.addr }
func (p *serveProcess) pid() int    { return p.cmd.Process.Pid }

// Stop sends SIGTERM, as an orchestrator would, and waits for the exit:
// serve stops its pipelines where they stand first.
func (p *serveProcess) Stop() (time.Duration, error) {
	p.once.Do(func() {
		began := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			p.stopErr = p.waitErr
		case <-time.After(45 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			p.stopErr = errors.New("still running 45s after SIGTERM; killed")
		}
		p.stopped = time.Since(began)
	})
	return p.stopped, p.stopErr
}

// cpuProfile collects serve's CPU profile for d from the overlay's pprof
// listener into path.
func (p *serveProcess) cpuProfile(ctx context.Context, path string, d time.Duration) <-chan error {
	seconds := int(d.Round(time.Second) / time.Second)
	return p.fetchPprof(ctx, fmt.Sprintf("profile?seconds=%d", seconds), path, 0)
}

// goroutines writes serve's goroutines, grouped by stack, after a while.
func (p *serveProcess) goroutines(ctx context.Context, path string, after time.Duration) <-chan error {
	return p.fetchPprof(ctx, "goroutine?debug=1", path, after)
}

func (p *serveProcess) fetchPprof(ctx context.Context, query, path string, after time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		time.Sleep(after)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.pprofAddr+"/debug/pprof/"+query, nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("pprof answered %s", resp.Status)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	return done
}

func (p *serveProcess) logTail(n int) string {
	data, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// summarizeLog counts serve's log lines by level and names the most
// frequent warnings and errors.
func (p *serveProcess) summarizeLog(out io.Writer) {
	f, err := os.Open(p.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	levels := map[string]int{}
	problems := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines := 0
	var unparsed []string
	for sc.Scan() {
		lines++
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Err   string `json:"err"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			levels["not JSON"]++
			if len(unparsed) < 3 {
				unparsed = append(unparsed, sc.Text())
			}
			continue
		}
		levels[l.Level]++
		if l.Level == "WARN" || l.Level == "ERROR" {
			key := l.Level + " " + l.Msg
			if l.Err != "" {
				key += ": " + l.Err
			}
			problems[key]++
		}
	}
	var counts []string
	for _, lv := range sortedByCount(levels) {
		counts = append(counts, fmt.Sprintf("%s %d", lv, levels[lv]))
	}
	fmt.Fprintf(out, "serve's log: %d lines (%s)\n", lines, strings.Join(counts, ", "))
	for i, msg := range sortedByCount(problems) {
		if i == 5 {
			break
		}
		fmt.Fprintf(out, "  %d× %s\n", problems[msg], msg)
	}
	for _, line := range unparsed {
		fmt.Fprintf(out, "  not JSON: %.300s\n", line)
	}
}

func sortedByCount(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ).
const clockTick = 10 * time.Millisecond

// procCPU is the CPU time, user and system, pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	_, rest, ok := strings.Cut(string(data), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0, fmt.Errorf("cannot read /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU is the CPU time all processes have used so far, over all
// cores, from /proc/stat: user, nice, system, irq, softirq and steal.
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, _ := strconv.ParseInt(fields[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// postgresCPU is the CPU time used so far by the PostgreSQL server
// processes on this machine, exited backends included (their time is in
// the postmaster's children's time).
func postgresCPU() time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, path := range dirs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		name, rest, ok := strings.Cut(string(data), ") ")
		fields := strings.Fields(rest)
		if !ok || !strings.HasSuffix(name, "(postgres") || len(fields) < 15 {
			continue
		}
		for _, f := range fields[11:15] { // utime stime cutime cstime
			n, _ := strconv.ParseInt(f, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * clockTick
}

// procStatus reads the fields of /proc/PID/status (VmHWM, VmRSS, …).
func procStatus(pid int) (map[string]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields, nil
}

// peakFDs samples how many files pid has open every 50 ms until stop is
// closed, and sends the largest count seen.
func peakFDs(pid int, stop <-chan struct{}) <-chan int {
	peak := make(chan int, 1)
	go func() {
		most := 0
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
				most = max(most, len(fds))
			}
			select {
			case <-stop:
				peak <- most
				return
			case <-t.C:
			}
		}
	}()
	return peak
}

// watch samples pid's CPU use each second for d and describes it.
func watch(ctx context.Context, pid int, d time.Duration) string {
	var samples []string
	var sum float64
	prev, _ := procCPU(pid)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return "interrupted"
		case <-t.C:
		}
		cur, err := procCPU(pid)
		if err != nil {
			return err.Error()
		}
		pctg := 100 * (cur - prev).Seconds()
		sum += pctg
		samples = append(samples, fmt.Sprintf("%.0f%%", pctg))
		prev = cur
	}
	if len(samples) == 0 {
		return "no sample"
	}
	return fmt.Sprintf("mean %.1f%% of one core (%s)", sum/float64(len(samples)), strings.Join(samples, " "))
}

// storeCheck is what the store holds after the load.
type storeCheck struct {
	acked, stored, dropped, unacked int
	states                          map[bot.State]int
}

// verify reads every deployment from the store and checks that each
// acknowledged one is there. The dashboard API returns at most 500, so
// the store is opened directly.
func verify(ctx context.Context, dsn string, lr loadResult) (storeCheck, error) {
	db, err := openStore(ctx, dsn)
	if err != nil {
		return storeCheck{}, fmt.Errorf("open the store to verify: %w", err)
	}
	defer db.Close()
	ds, err := db.Deployments(ctx, len(lr.results)+1000)
	if err != nil {
		return storeCheck{}, err
	}
	c := storeCheck{stored: len(ds), states: map[bot.State]int{}}
	stored := make(map[int64]bool, len(ds))
	for _, d := range ds {
		stored[d.ID] = true
		c.states[d.State]++
	}
	acked := map[int64]bool{}
	for _, r := range lr.results {
		if r.id == 0 {
			continue
		}
		acked[r.id] = true
		if !stored[r.id] {
			c.dropped++
		}
	}
	c.acked = len(acked)
	for id := range stored {
		if !acked[id] {
			c.unacked++
		}
	}
	return c, nil
}

func (c storeCheck) print(out io.Writer) {
	var states []string
	for _, st := range []bot.State{bot.StateReceived, bot.StateQueued, bot.StateWaitingForCI} {
		states = append(states, fmt.Sprintf("%s %d", st, c.states[st]))
		delete(c.states, st)
	}
	for st, n := range c.states {
		states = append(states, fmt.Sprintf("%s %d", st, n))
	}
	fmt.Fprintf(out, "store: %d deployments stored, %d acknowledged, dropped %d, stored without an acknowledgement %d; by state: %s\n",
		c.stored, c.acked, c.dropped, c.unacked, strings.Join(states, ", "))
}
