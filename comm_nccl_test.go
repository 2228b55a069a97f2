//go:build baryirmpi && baryirgpu

package baryir

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"gorgonia.org/cu"
)

// ncclChild is what each rank of TestNCCL does: on its GPU, all-reduce
// (sum, mean) and broadcast a device buffer, read it back, and time the
// mean all-reduce of n floats (a Paper-size gradient) as the last value.
func ncclChild(n int) ([]float32, error) {
	c, err := joinNCCL()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := cu.GetDevice(c.Device())
	if err != nil {
		return nil, err
	}
	ctx, err := dev.MakeContext(cu.SchedAuto)
	if err != nil {
		return nil, err
	}
	defer ctx.Destroy()
	host := mpiInput(c.Rank(), n)
	ptr, err := cu.MemAlloc(int64(4 * n))
	if err != nil {
		return nil, err
	}
	defer cu.MemFree(ptr)
	var out []float32
	for _, step := range []func() error{
		func() error { return c.AllReduceDevice(uintptr(ptr), n, false) },
		func() error { return c.AllReduceDevice(uintptr(ptr), n, true) },
		func() error { return c.BroadcastDevice(uintptr(ptr), n, c.Size()-1) },
	} {
		if err := cu.MemcpyHtoD(ptr, unsafe.Pointer(&host[0]), int64(4*n)); err != nil {
			return nil, err
		}
		if err := step(); err != nil {
			return nil, err
		}
		got := make([]float32, 1000)
		if err := cu.MemcpyDtoH(unsafe.Pointer(&got[0]), ptr, 4000); err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	start := time.Now()
	const reps = 10
	for range reps {
		if err := c.AllReduceDevice(uintptr(ptr), n, true); err != nil {
			return nil, err
		}
	}
	if err := cu.Synchronize(); err != nil {
		return nil, err
	}
	return append(out, float32(time.Since(start).Seconds()/reps)), nil
}

// TestNCCL runs on a GPU machine: one rank per GPU (a single GPU gives a
// job of one, whose all-reduce is the identity), and, on one GPU, two
// ranks must fail alike with a clear error.
func TestNCCL(t *testing.T) {
	const paperGrads = 26_100_000 // about Restormer's 26.1 M parameters, the Paper preset's network
	if dir := os.Getenv(mpiChildEnv); dir != "" {
		var np, rank int
		fmt.Sscan(os.Getenv("OMPI_COMM_WORLD_SIZE"), &np)
		fmt.Sscan(os.Getenv("OMPI_COMM_WORLD_RANK"), &rank)
		vals, err := ncclChild(paperGrads)
		if os.Getenv("BARYIR_NCCL_WANT_ERROR") != "" {
			ok := err != nil && strings.Contains(err.Error(), "GPU per rank")
			vals, err = []float32{flag(ok)}, nil
		}
		if err == nil {
			err = writeRank(dir, rank, vals)
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	gpus, err := cu.NumDevices()
	if err != nil || gpus == 0 {
		t.Skip("no GPU")
	}
	got := readRanks(t, mpiRun(t, gpus, "TestNCCL"), gpus)
	secs := got[len(got)-1]
	got = got[:len(got)-1]
	sum := make([]float32, 1000)
	for r := range gpus {
		for i, v := range mpiInput(r, 1000) {
			sum[i] += v
		}
	}
	last := mpiInput(gpus-1, 1000)
	for i := range 1000 {
		for k, want := range []float32{sum[i], sum[i] / float32(gpus), last[i]} {
			if d := got[k*1000+i] - want; d > 1e-6*want || -d > 1e-6*want {
				t.Fatalf("collective %d, element %d: %g, want %g", k, i, got[k*1000+i], want)
			}
		}
	}
	dev, _ := cu.GetDevice(0)
	name, _ := dev.Name()
	t.Logf("NCCL mean all-reduce of %d float32 over %d rank(s) on %s: %.3f ms", paperGrads, gpus, name, 1e3*secs)
	if gpus == 1 {
		got := readRanks(t, mpiRun(t, 2, "TestNCCL", "BARYIR_NCCL_WANT_ERROR=1"), 2)
		if got[0] != 1 {
			t.Fatal("two ranks on one GPU did not both fail with the GPU-per-rank error")
		}
	}
}

// TestNCCLTrainer trains 2 steps on the GPU under mpirun -np 1 with NCCL
// all-reducing the gradients on the device, and compares with the
// single-GPU trainer. With BARYIR_FAKE_NCCL set (scripts/mpi_check.sh,
// on the emulator) it also checks that NCCL was called.
func TestNCCLTrainer(t *testing.T) {
	if os.Getenv(mpiChildEnv) != "" {
		c, err := JoinJob(true)
		require.NoError(t, err)
		tr, err := shardTraining(t, familyBaryNet, c, func(cfg *TrainConfig) { cfg.Device = DeviceGPU })
		require.NoError(t, err)
		_, err = tr.Run(RunOptions{Steps: 2})
		require.NoError(t, err)
		vals := paramValues(t, tr)
		require.NoError(t, c.Close())
		require.NoError(t, writeRank(os.Getenv(mpiChildEnv), 0, vals))
		return
	}
	if n, err := cu.NumDevices(); err != nil || n == 0 {
		t.Skip("no GPU")
	}
	count := filepath.Join(t.TempDir(), "nccl-calls")
	got := readRanks(t, mpiRun(t, 1, "TestNCCLTrainer", "FAKE_NCCL_COUNT="+count), 1)
	alone, err := shardTraining(t, familyBaryNet, localComm{}, func(cfg *TrainConfig) { cfg.Device = DeviceGPU })
	require.NoError(t, err)
	_, err = alone.Run(RunOptions{Steps: 2})
	require.NoError(t, err)
	want := paramValues(t, alone)
	e := relErr32(got, want)
	t.Logf("NCCL trainer (mpirun -np 1) vs the single-GPU trainer after 2 steps: relative error %.2e", e)
	require.Less(t, e, 1e-6)
	if os.Getenv("BARYIR_FAKE_NCCL") != "" {
		b, err := os.ReadFile(count)
		require.NoError(t, err, "the fake NCCL wrote no call count")
		var calls int
		fmt.Sscan(string(b), &calls)
		require.Positive(t, calls, "NCCL all-reduced nothing")
		t.Logf("fake NCCL: %d collectives", calls)
	}
}
