//go:build baryirmpi

package baryir

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// mpiTrainChild is a rank of TestMPITrainer: phase "run" trains BaryNet
// and the baseline for 3 steps each, "first" trains BaryNet 2 steps and
// checkpoints to ckpt, "resume" resumes from ckpt to step 4. It returns
// the parameters to compare (none for "first").
func mpiTrainChild(t *testing.T, phase, ckpt string) []float32 {
	c, err := joinMPI()
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	train := func(arch family) *Trainer {
		tr, err := shardTraining(t, arch, c, nil)
		require.NoError(t, err)
		return tr
	}
	var out []float32
	switch phase {
	case "run":
		for _, arch := range []family{familyBaryNet, familyRestormer} {
			tr := train(arch)
			_, err := tr.Run(RunOptions{Steps: 3})
			require.NoError(t, err)
			out = append(out, paramValues(t, tr)...)
		}
	case "first":
		_, err := train(familyBaryNet).Run(RunOptions{Steps: 2, CheckpointPath: ckpt, CheckpointEvery: 2})
		require.NoError(t, err)
	case "resume":
		tr := train(familyBaryNet)
		require.NoError(t, tr.Resume(ckpt))
		_, err := tr.Run(RunOptions{Steps: 4})
		require.NoError(t, err)
		out = paramValues(t, tr)
	}
	return out
}

// TestMPITrainer trains under mpirun -np 2 and compares with one process:
// the two ranks' gradients averaged in memory (a loopback communicator)
// and, for the baseline, one batch twice the size; then checks that a run
// stopped after 2 steps and resumed under mpirun ends as the uninterrupted
// one, and that a job of another size refuses its checkpoint.
func TestMPITrainer(t *testing.T) {
	if os.Getenv(mpiChildEnv) != "" {
		vals := mpiTrainChild(t, os.Getenv("BARYIR_MPI_TRAIN"), os.Getenv("BARYIR_MPI_CKPT"))
		if vals != nil {
			var rank int
			for _, r := range os.Getenv("OMPI_COMM_WORLD_RANK") {
				rank = 10*rank + int(r-'0')
			}
			require.NoError(t, writeRank(os.Getenv(mpiChildEnv), rank, vals))
		}
		return
	}
	got := readRanks(t, mpiRun(t, 2, "TestMPITrainer", "BARYIR_MPI_TRAIN=run"), 2)
	bary, _ := trainRanks(t, familyBaryNet, 2, 3, nil)
	base, _ := trainRanks(t, familyRestormer, 2, 3, nil)
	requireClose(t, bary[0], got[:len(bary[0])], 1e-6, "BaryNet under mpirun vs gradients averaged in one process")
	requireClose(t, base[0], got[len(bary[0]):], 1e-6, "baseline under mpirun vs gradients averaged in one process")
	twice, _ := twiceTheBatch(t, 3)
	requireClose(t, twice, got[len(bary[0]):], 1e-6, "baseline under mpirun vs one process at twice the batch")

	ckpt := filepath.Join(t.TempDir(), "ckpt.safetensors")
	mpiRun(t, 2, "TestMPITrainer", "BARYIR_MPI_TRAIN=first", "BARYIR_MPI_CKPT="+ckpt)
	resumed := readRanks(t, mpiRun(t, 2, "TestMPITrainer", "BARYIR_MPI_TRAIN=resume", "BARYIR_MPI_CKPT="+ckpt), 2)
	whole, _ := trainRanks(t, familyBaryNet, 2, 4, nil)
	require.Equal(t, whole[0], resumed, "resumed under mpirun vs 4 uninterrupted steps")

	one, err := shardTraining(t, familyBaryNet, localComm{}, nil)
	require.NoError(t, err)
	require.ErrorContains(t, one.Resume(ckpt), "saved by a job of 2 rank(s), resumed by one of 1")
}
