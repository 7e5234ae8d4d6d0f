//go:build unix

package handlers

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used, user and system. On a
// machine shared with other work a benchmark's wall time says more about
// the neighbours than about the code; its CPU time per operation does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
