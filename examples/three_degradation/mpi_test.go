//go:build baryirmpi

package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUnderMPIRun runs the command as two ranks of mpirun (this test
// binary, re-run): they train together and rank 0 alone writes.
func TestUnderMPIRun(t *testing.T) {
	if out := os.Getenv("THREE_DEGRADATION_MPI_OUT"); out != "" {
		o := shortRun(out)
		o.evalImages = 1
		require.NoError(t, run(o, io.Discard, io.Discard))
		return
	}
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun is not on PATH (Debian: openmpi-bin)")
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun, "-np", "2", "--oversubscribe", os.Args[0], "-test.run=^TestUnderMPIRun$", "-test.count=1")
	cmd.Env = append(os.Environ(), "THREE_DEGRADATION_MPI_OUT="+out, "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	log, err := os.ReadFile(filepath.Join(out, "train.jsonl"))
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(log), "\n"), "one log line per step, from rank 0 alone")
	for _, f := range []string{"results.json", "weights.safetensors", "checkpoint.safetensors", "grid.png"} {
		require.FileExists(t, filepath.Join(out, f))
	}
}
