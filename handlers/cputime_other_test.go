//go:build !unix

package handlers

import "time"

// processCPU is not measured here; benchmarks then report 0 CPU-ns/op.
func processCPU() time.Duration { return 0 }
