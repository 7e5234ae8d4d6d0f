package bottest_test

import (
	"testing"

	"github.com/deploybot/deploybot/bot/bottest"
	"github.com/deploybot/deploybot/store/storetest"
)

// The fake is held to the conformance suite of the real stores, so that
// what bot's tests learn from it holds against SQLite and PostgreSQL.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return bottest.NewStore(nil) })
}

// Two handles on one database are, in memory, one store used at once.
func TestStoreConformanceShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (storetest.Store, storetest.Store) {
		s := bottest.NewStore(nil)
		return s, s
	})
}
