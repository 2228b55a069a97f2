package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
)

// A loop made only of public parts equals baryir's Trainer: same losses
// and parameters after three steps on the same batches (our own TV term
// off, the Trainer's recipe: Adam, the paper's cost, congruence and weights).
func TestLoopMatchesTrainer(t *testing.T) { loopMatchesTrainer(t, baryir.DeviceCPU) }

func loopMatchesTrainer(t *testing.T, device baryir.Device) {
	o := options{steps: 3, batch: 2, patch: 32, lr: 2e-3, potLR: 1e-4, seed: 3, device: device.String()}
	newSampler := func() *data.Sampler {
		src, err := data.EmbeddedSources(data.ThreeDegradations())
		require.NoError(t, err)
		s, err := data.NewSampler(src, o.patch, o.seed)
		require.NoError(t, err)
		return s
	}
	ours, theirs := newSampler(), newSampler()
	l, err := newLoop(o, ours.Counts())
	require.NoError(t, err)
	defer l.m.Close()

	cfg := baryir.PaperTraining(baryir.Tiny())
	cfg.Optimizer, cfg.LR, cfg.PotentialLR, cfg.LRStepEpochs = baryir.OptimizerAdam, 2*o.lr, 2*o.potLR, 0 // the Trainer halves its rates
	cfg.Batch, cfg.Patch, cfg.Seed, cfg.Device = o.batch, o.patch, o.seed, device
	tr, err := baryir.NewTrainer(cfg, theirs)
	require.NoError(t, err)
	defer tr.Close()

	for s := range o.steps {
		batch, err := ours.Next(o.batch)
		require.NoError(t, err)
		gen, l1, pot, err := l.step(batch)
		require.NoError(t, err)
		want, err := tr.Step()
		require.NoError(t, err)
		t.Logf("step %d: map loss %.6f vs %.6f, L1 %.6f vs %.6f, potentials %.6f vs %.6f", s+1, gen, want.Generator, l1, want.L1, pot, want.Potential)
		for _, c := range [][2]float64{{gen, want.Generator}, {l1, want.L1}, {pot, want.Potential}} {
			require.LessOrEqual(t, math.Abs(c[0]-c[1]), 1e-6*math.Max(1, math.Abs(c[1])), "step %d", s+1)
		}
	}
	require.NoError(t, l.m.Pull(l.netParams...)) // on the GPU the parameters live on the device
	got, err := baryir.StateDictOf(l.net.Scope.Params())
	require.NoError(t, err)
	want, err := tr.StateDict()
	require.NoError(t, err)
	worst := 0.0
	for name, w := range want {
		var num, den float64
		for i, v := range w.Data {
			num += (got[name].Data[i] - v) * (got[name].Data[i] - v)
			den += v * v
		}
		worst = math.Max(worst, math.Sqrt(num/math.Max(den, 1e-30)))
	}
	t.Logf("parameters after %d steps: worst relative error %.2e over %d tensors", o.steps, worst, len(want))
	require.LessOrEqual(t, worst, 1e-6)
}
