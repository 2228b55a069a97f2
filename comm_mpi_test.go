//go:build baryirmpi

package baryir

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mpiChildEnv names the folder where the ranks of TestMPI, re-run by
// mpirun, write their results.
const mpiChildEnv = "BARYIR_MPI_TEST_OUT"

// mpiRun runs this test binary's test named test under mpirun -np np, with
// env added, and returns the folder the ranks wrote to. It skips the test
// where mpirun is not on PATH.
func mpiRun(t *testing.T, np int, test string, env ...string) string {
	t.Helper()
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun is not on PATH (Debian: openmpi-bin)")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun, "-np", fmt.Sprint(np), "--oversubscribe",
		os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), append(env, mpiChildEnv+"="+dir,
		// Containers and CI run as root, which mpirun refuses unless told.
		"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mpirun -np %d: %v\n%s", np, err, out)
	}
	return dir
}

// writeRank writes rank's float32 results into dir (temp name, then rename).
func writeRank(dir string, rank int, vals []float32) error {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, vals)
	name := filepath.Join(dir, fmt.Sprintf("rank-%d.f32", rank))
	if err := os.WriteFile(name+".tmp", b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(name+".tmp", name)
}

// readRanks reads the np ranks' results and checks they are bit-identical.
func readRanks(t *testing.T, dir string, np int) []float32 {
	t.Helper()
	var first []byte
	for r := range np {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rank-%d.f32", r)))
		if err != nil {
			t.Fatal(err)
		}
		if r == 0 {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("rank %d's results differ from rank 0's", r)
		}
	}
	out := make([]float32, len(first)/4)
	binary.Read(bytes.NewReader(first), binary.LittleEndian, out)
	return out
}

// mpiInput is rank r's buffer of n: values that round when summed.
func mpiInput(r, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r+1)/3 + float32(i)*1e-3
	}
	return out
}

var mpiBucketLens = []int{5, 300, 17, 0, 1000, 1 << 20}

// mpiChild is what each rank of TestMPI does; it returns the values that
// the parent checks: all-reduce sum, mean, broadcast from the last rank,
// bucketed sum, and flags for the errors expected.
func mpiChild(np int) ([]float32, error) {
	c, err := joinMPI()
	if err != nil {
		return nil, err
	}
	if c.Size() != np {
		return nil, fmt.Errorf("size %d under mpirun -np %d", c.Size(), np)
	}
	r := c.Rank()
	sum, mean, bcast := mpiInput(r, 1000), mpiInput(r, 1000), mpiInput(r, 1000)
	if err := c.AllReduce(sum); err != nil {
		return nil, err
	}
	if err := meanOverRanks(c, mean); err != nil {
		return nil, err
	}
	if err := c.Broadcast(bcast, np-1); err != nil {
		return nil, err
	}
	b, err := newBuckets(c, 256*4)
	if err != nil {
		return nil, err
	}
	grads := rankSlices(r, mpiBucketLens)
	if err := b.AllReduce(grads, false); err != nil {
		return nil, err
	}
	out := append(append(append([]float32(nil), sum...), mean...), bcast...)
	for _, g := range grads {
		out = append(out, g...)
	}
	// The last rank passes one slice more: every rank must get the error.
	lens := mpiBucketLens[:2]
	if r == np-1 {
		lens = mpiBucketLens[:3]
	}
	err = b.AllReduce(rankSlices(r, lens), false)
	out = append(out, flag(err != nil && strings.Contains(err.Error(), "differ from rank 0")))
	if err := c.Close(); err != nil {
		return nil, err
	}
	err = c.AllReduce(sum)
	out = append(out, flag(err != nil && strings.Contains(err.Error(), "closed")))
	_, err = joinMPI()
	out = append(out, flag(err != nil && strings.Contains(err.Error(), "only once")))
	return out, nil
}

func flag(ok bool) float32 {
	if ok {
		return 1
	}
	return 0
}

func TestMPI(t *testing.T) {
	if dir := os.Getenv(mpiChildEnv); dir != "" {
		var np int
		fmt.Sscan(os.Getenv("OMPI_COMM_WORLD_SIZE"), &np)
		vals, err := mpiChild(np)
		if err == nil {
			var rank int
			fmt.Sscan(os.Getenv("OMPI_COMM_WORLD_RANK"), &rank)
			err = writeRank(dir, rank, vals)
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, np := range []int{2, 3} {
		t.Run(fmt.Sprint(np), func(t *testing.T) {
			got := readRanks(t, mpiRun(t, np, "TestMPI"), np)
			var want []float32
			sum := make([]float32, 1000)
			for r := range np {
				for i, v := range mpiInput(r, 1000) {
					sum[i] += v
				}
			}
			want = append(want, sum...)
			for _, v := range sum {
				want = append(want, v/float32(np))
			}
			want = append(want, mpiInput(np-1, 1000)...)
			grads := make([][][]float32, np)
			for r := range np {
				grads[r] = rankSlices(r, mpiBucketLens)
			}
			for s, n := range mpiBucketLens {
				for i := range n {
					var v float32
					for r := range np {
						v += grads[r][s][i]
					}
					want = append(want, v)
				}
			}
			want = append(want, 1, 1, 1)
			if len(got) != len(want) {
				t.Fatalf("%d values, want %d", len(got), len(want))
			}
			// Two ranks sum exactly as here; three may associate otherwise.
			tol := 0.0
			if np > 2 {
				tol = 1e-6
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > tol*math.Abs(float64(want[i])) {
					t.Fatalf("value %d: %g, want %g", i, got[i], want[i])
				}
			}
		})
	}
}
