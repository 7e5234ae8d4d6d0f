// Package sqlite is deploybot's default store: one SQLite file, written
// through the pure-Go modernc.org/sqlite driver so the binary needs no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/deploybot/deploybot/store/internal/sqldb"
)

//go:embed migration/*.sql
var migrations embed.FS

// DB is the store on one SQLite file (Ports gives bot.Store).
type DB struct {
	*sqldb.DB
}

// maxConns bounds the process's connections to the database file.
const maxConns = 16

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*DB, error) {
	// WAL lets readers run beside the writer; busy_timeout makes a writer
	// wait for another instead of failing at once; immediate transactions
	// take the write lock up front so two writers never deadlock upgrading.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Bounded, and kept open: unbounded, a burst of requests opened a
	// connection (a file descriptor) each until the process ran out of
	// them. Not one connection: readers would then queue behind writers,
	// measured worse (bench/ackload) than several in WAL mode.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	// Immediate transactions serialize all writers, across processes too,
	// so claims and the gate need no row or advisory locks here.
	// busy_timeout stays for other processes on the file (`deploybot
	// deploy`); this one's writers take turns in the store, acks first.
	s := &DB{sqldb.New(db, sqldb.Dialect{IsUniqueViolation: isUniqueViolation, SerializeWrites: true})}
	if err := s.Migrate(ctx, migrations, "migration"); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	return s, nil
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
