package baryir

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
)

// shardTraining is testTraining's setup as rank comm.Rank() of a
// data-parallel job: the sampler (seed 7) draws the rank's shard. The
// network's seed is 7 unless mutate changes it.
func shardTraining(t *testing.T, arch family, comm Comm, mutate func(*TrainConfig)) (*Trainer, error) {
	t.Helper()
	net := Tiny()
	net.Dim = 4
	if arch == familyRestormer {
		net = net.Restormer()
	}
	cfg := PaperTraining(net)
	cfg.Batch, cfg.Patch, cfg.Optimizer, cfg.LR, cfg.Seed, cfg.Comm = 3, 16, OptimizerAdam, 2e-3, 7, comm
	if mutate != nil {
		mutate(&cfg)
	}
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		return nil, err
	}
	s, err := data.NewSampler(src, cfg.Patch, 7, data.Shard(comm.Rank(), comm.Size()))
	if err != nil {
		return nil, err
	}
	tr, err := NewTrainer(cfg, s)
	if err == nil {
		t.Cleanup(tr.Close)
	}
	return tr, err
}

// paramValues is every trained value (network, then potentials), flat.
func paramValues(t *testing.T, tr *Trainer) []float32 {
	t.Helper()
	params := nodesOf(tr.net.Scope.Params())
	if tr.potScope != nil {
		params = append(params, nodesOf(tr.potScope.Params())...)
	}
	require.NoError(t, tr.m.Pull(params...))
	var out []float32
	for _, p := range params {
		out = append(out, hostFloats(p.Value())...)
	}
	return out
}

// trainRanks trains a job of size ranks in this process (loopback
// communicator, one goroutine per rank) for steps and returns each rank's
// parameters and step logs.
func trainRanks(t *testing.T, arch family, size, steps int, mutate func(rank int, c *TrainConfig)) ([][]float32, [][]Losses) {
	t.Helper()
	comms := newLoopback(size)
	params, logs := make([][]float32, size), make([][]Losses, size)
	errs := runRanks(comms, func(c Comm) error {
		tr, err := shardTraining(t, arch, c, func(cfg *TrainConfig) {
			if mutate != nil {
				mutate(c.Rank(), cfg)
			}
		})
		if err != nil {
			return err
		}
		if logs[c.Rank()], err = tr.Run(RunOptions{Steps: steps}); err != nil {
			return err
		}
		params[c.Rank()] = paramValues(t, tr)
		return nil
	})
	for r, err := range errs {
		require.NoError(t, err, "rank %d", r)
	}
	return params, logs
}

// requireClose fails unless got and want agree to rel relative to want's
// largest magnitude.
func requireClose(t *testing.T, want, got []float32, rel float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	scale := 0.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i] - want[i]))
		if d > rel*scale {
			t.Fatalf("%s: value %d is %g, want %g (|diff| %g > %g)", what, i, got[i], want[i], d, rel*scale)
		}
		worst = math.Max(worst, d/scale)
	}
	t.Logf("%s: %d values, largest difference %.3g of the largest magnitude", what, len(want), worst)
}

// TestDataParallelRanksStayIdentical trains two ranks whose networks start
// from different seeds: rank 0's start is broadcast, the gradients are
// averaged, and both end bit-identical, with the same reported losses.
func TestDataParallelRanksStayIdentical(t *testing.T) {
	for _, arch := range []family{familyBaryNet, familyRestormer} {
		t.Run(fmt.Sprint(arch), func(t *testing.T) {
			params, logs := trainRanks(t, arch, 2, 3, func(rank int, c *TrainConfig) { c.Seed += uint64(rank) })
			require.Equal(t, params[0], params[1], "the ranks' parameters after 3 steps")
			require.Equal(t, logs[0], logs[1], "the ranks' reported losses")
			alone, _ := trainRanks(t, arch, 1, 3, nil)
			require.NotEqual(t, alone[0], params[0], "two shards train otherwise than one")
		})
	}
}

// TestDataParallelBaselineIsTwiceTheBatch: for the L1-only baseline, two
// ranks at batch 3 train as one process at batch 6 on the union of their
// batches.
func TestDataParallelBaselineIsTwiceTheBatch(t *testing.T) {
	params, logs := trainRanks(t, familyRestormer, 2, 3, nil)
	want, l1 := twiceTheBatch(t, 3)
	for step := range l1 {
		require.InEpsilon(t, l1[step], logs[0][step].L1, 1e-6, "step %d's L1", step+1)
	}
	requireClose(t, want, params[0], 1e-6, "parameters after 3 steps")
}

// twiceTheBatch trains the baseline in one process at batch 6, each batch
// the union of the batches that ranks 0 and 1 of two draw, and returns
// its parameters and L1 losses.
func twiceTheBatch(t *testing.T, steps int) ([]float32, []float64) {
	t.Helper()
	var shards []*data.Sampler
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	require.NoError(t, err)
	for r := range 2 {
		s, err := data.NewSampler(src, 16, 7, data.Shard(r, 2))
		require.NoError(t, err)
		shards = append(shards, s)
	}
	one, err := shardTraining(t, familyRestormer, localComm{}, func(c *TrainConfig) { c.Batch = 6 })
	require.NoError(t, err)
	var l1 []float64
	for range steps {
		union := &data.Batch{B: 6, P: 16}
		for _, s := range shards {
			b, err := s.Next(3)
			require.NoError(t, err)
			union.Degraded = append(union.Degraded, b.Degraded...)
			union.Clean = append(union.Clean, b.Clean...)
			union.Source = append(union.Source, b.Source...)
			union.Degradation = append(union.Degradation, b.Degradation...)
		}
		l, err := one.StepOn(union)
		require.NoError(t, err)
		l1 = append(l1, l.L1)
	}
	return paramValues(t, one), l1
}

func TestDataParallelErrors(t *testing.T) {
	comms := newLoopback(2)
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	require.NoError(t, err)
	unsharded, err := data.NewSampler(src, 16, 7)
	require.NoError(t, err)
	cfg := PaperTraining(Tiny())
	cfg.Batch, cfg.Patch, cfg.Comm = 2, 16, comms[1]
	_, err = NewTrainer(cfg, unsharded)
	require.ErrorContains(t, err, "the sampler draws shard 0 of 1, but this is rank 1 of 2")

	// A checkpoint of two ranks does not resume a job of one.
	ckpt := filepath.Join(t.TempDir(), "ckpt.safetensors")
	errs := runRanks(comms, func(c Comm) error {
		tr, err := shardTraining(t, familyRestormer, c, nil)
		if err != nil {
			return err
		}
		_, err = tr.Run(RunOptions{Steps: 1, CheckpointPath: ckpt, CheckpointEvery: 1})
		return err
	})
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	tr, err := shardTraining(t, familyRestormer, localComm{}, nil)
	require.NoError(t, err)
	require.ErrorContains(t, tr.Resume(ckpt), "saved by a job of 2 rank(s), resumed by one of 1")
}

// A custom loop's gradients, averaged over two ranks on their machines.
func TestMachineAllReduceMean(t *testing.T) {
	comms := newLoopback(2)
	got := make([][]float32, 2)
	errs := runRanks(comms, func(c Comm) error {
		g := G.NewGraph()
		w := G.NewVector(g, tensor.Float32, G.WithShape(3), G.WithName("w"),
			G.WithValue(tensor.New(tensor.WithBacking([]float32{1, 2, 3}))))
		x := G.NewVector(g, tensor.Float32, G.WithShape(3), G.WithName("x"))
		loss := G.Must(G.Sum(G.Must(G.HadamardProd(w, x))))
		grads, err := G.Grad(loss, w)
		if err != nil {
			return err
		}
		m, err := NewMachine(g, MachineOptions{Keep: G.Nodes{loss, grads[0]}})
		if err != nil {
			return err
		}
		defer m.Close()
		r := float32(c.Rank())
		if err := m.Let(x, tensor.New(tensor.WithBacking([]float32{r, 2 * r, 4}))); err != nil {
			return err
		}
		if err := m.RunAll(); err != nil {
			return err
		}
		b, err := newBuckets(c, 0)
		if err != nil {
			return err
		}
		if err := m.allReduceMean(b, grads[0]); err != nil {
			return err
		}
		v, err := m.Value(grads[0])
		if err != nil {
			return err
		}
		got[c.Rank()] = append([]float32(nil), hostFloats(v)...)
		return nil
	})
	for r, err := range errs {
		require.NoError(t, err, "rank %d", r)
	}
	// d loss / dw = x: rank 0's (0, 0, 4) and rank 1's (1, 2, 4) average to (0.5, 1, 4).
	require.Equal(t, []float32{0.5, 1, 4}, got[0])
	require.Equal(t, got[0], got[1])
	require.ErrorContains(t, (&Machine{}).allReduceMean(nil), "needs buckets")
}
