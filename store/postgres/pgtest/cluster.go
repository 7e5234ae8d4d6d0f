package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Cluster is a PostgreSQL server of one test's own, in the test's temp
// dir, that the test may stop and start again: the store outage tests.
// The shared server of DEPLOYBOT_TEST_POSTGRES is never stopped; a test
// that needs an outage brings its own.
type Cluster struct {
	DSN string // postgres://postgres@127.0.0.1:port/postgres

	bin  string // the directory of initdb and postgres
	data string
	port int
	cred *syscall.Credential // the postgres user's, when the test runs as root

	mu  sync.Mutex
	cmd *exec.Cmd // nil while stopped
	log *os.File
}

// NewCluster initialises and starts a cluster on a free loopback port. It
// skips, as DSN does, when DEPLOYBOT_TEST_POSTGRES is unset, and when no
// PostgreSQL server binaries are installed.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	DSN(t)
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; a private cluster cannot be started")
	}
	sort.Slice(bins, func(i, j int) bool { return version(bins[i]) < version(bins[j]) })
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1])}

	base := t.TempDir()
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root; the cluster belongs to
		// the postgres user, who must be able to reach the temp dir.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and no postgres user to run the cluster as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for dir := base; dir != filepath.Dir(dir) && dir != os.TempDir(); dir = filepath.Dir(dir) {
			if err := os.Chmod(dir, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		base = filepath.Join(base, "pg")
		if err := os.Mkdir(base, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.data = filepath.Join(base, "data")
	log, err := os.Create(filepath.Join(t.TempDir(), "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.log = log
	t.Cleanup(func() { log.Close() })

	initdb := c.command("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("stop the private PostgreSQL: %v", err)
		}
	})
	c.Start(t)
	return c
}

// version orders /usr/lib/postgresql/<major>/bin paths by major version.
func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = os.TempDir()
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// Start starts the server and waits until it takes connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	if c.cmd != nil {
		c.mu.Unlock()
		t.Fatal("the private PostgreSQL runs already")
	}
	// Only TCP on loopback; durability is not what these tests are about.
	cmd := c.command("postgres", "-D", c.data, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off")
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		c.mu.Unlock()
		t.Fatalf("start postgres: %v", err)
	}
	c.cmd = cmd
	c.mu.Unlock()

	db, err := sql.Open("pgx", c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the private PostgreSQL takes no connections: %v\n%s", err, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down the way `pg_ctl stop -m fast` does: open
// connections are cut and new ones refused.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.stop(); err != nil {
		t.Fatalf("stop the private PostgreSQL: %v\n%s", err, c.Log())
	}
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return nil
	}
	cmd := c.cmd
	c.cmd = nil
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		return err
	}
	return cmd.Wait()
}

// RefuseWrites makes every new transaction read-only, or writable again:
// the server answers, but cannot record, as on a full disk.
func (c *Cluster) RefuseWrites(t testing.TB, refuse bool) {
	t.Helper()
	db, err := sql.Open("pgx", c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmts := []string{"ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()"}
	if !refuse {
		stmts = []string{"SET default_transaction_read_only = off", "ALTER SYSTEM RESET default_transaction_read_only", "SELECT pg_reload_conf()"}
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// Log returns what the server has logged so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(c.log.Name())
	return string(b)
}
