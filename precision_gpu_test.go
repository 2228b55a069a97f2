//go:build baryirgpu

package baryir

import (
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
)

// Reduced precision through the Trainer and the Restorer (GPU build; on
// the emulator, against internal/gpu/emu's fake cuBLASLt, which rounds the
// products' operands as TF32 and BF16 tensor cores do).

// A few Tiny training steps (both phases, the paper's setup) in TF32 and
// BF16 track the FP32 run: the L1 loss and the generator's loss (what the
// network's step minimises) within lossTol of FP32's at every step, and the
// network's weights after the steps within weightTol. The other reported
// losses (the potentials' loss, IRC + BRO) are small differences of larger
// terms, or softmaxes at temperature 0.07, and move by 5-30% between
// precisions after three steps (as they do under any perturbation of the
// weights); they are reported, not bounded. Measured on the emulator, after
// 3 steps: L1 within 3.5e-3 (TF32) and 9.8e-3 (BF16), weights 2.9e-3 and
// 5.6e-3. RMSprop's first steps move each weight by about the learning
// rate whatever the gradient's size, so rounding noise in small gradients
// reaches the weights undamped; the accuracy criterion (300 Paper
// steps, L1 within 5% at the end) needs a GPU (gpubench -trainsteps).
func TestGPUTrainerPrecision(t *testing.T) {
	const steps = 3
	type tol struct{ loss, weights float64 }
	tols := map[Precision]tol{PrecisionTF32: {1e-2, 6e-3}, PrecisionBF16: {2.5e-2, 1.2e-2}}
	ref := gpuTestTraining(t, DeviceGPU, nil)
	var want []Losses
	for range steps {
		l, err := ref.Step()
		require.NoError(t, err)
		want = append(want, l)
	}
	refW, err := ref.StateDict()
	require.NoError(t, err)
	rel := func(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }
	for _, p := range []Precision{PrecisionTF32, PrecisionBF16} {
		t.Run(p.String(), func(t *testing.T) {
			tr := gpuTestTraining(t, DeviceGPU, func(c *TrainConfig) { c.Precision = p })
			require.Contains(t, tr.String(), p.String())
			for i := range steps {
				got, err := tr.Step()
				require.NoError(t, err)
				worst, which := closeLosses(got, want[i])
				l1, gen := rel(got.L1, want[i].L1), rel(got.Generator, want[i].Generator)
				gpuReport(t, "trainer %s step %d: l1 %.6g vs fp32 %.6g (rel.diff %.2e), generator rel.diff %.2e; potential %.3g vs %.3g, irc_bro %.3g vs %.3g (worst of all %.2e, %s)",
					p, i+1, got.L1, want[i].L1, l1, gen, got.Potential, want[i].Potential, got.Residual, want[i].Residual, worst, which)
				require.LessOrEqual(t, l1, tols[p].loss, "step %d l1", i+1)
				require.LessOrEqual(t, gen, tols[p].loss, "step %d generator", i+1)
			}
			sd, err := tr.StateDict()
			require.NoError(t, err)
			var all, allWant []float32
			for k, w := range refW {
				all, allWant = append(all, sd[k].f32()...), append(allWant, w.f32()...)
			}
			r := relErr32(all, allWant)
			gpuReport(t, "trainer %s network weights after %d steps: rel.diff vs fp32 %.2e", p, steps, r)
			require.LessOrEqual(t, r, tols[p].weights)
			require.Greater(t, r, 0.0, "identical to fp32: the precision was not applied")
		})
	}
}

// The Restorer at TF32 and BF16 stays near its FP32 output (relative
// difference within 1e-2, and not zero); a second FP32 Restorer gives
// FP32's output exactly.
func TestGPURestorerPrecision(t *testing.T) {
	net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 5), Tiny())
	require.NoError(t, err)
	sd, err := StateDictOf(net.Scope.Params())
	require.NoError(t, err)
	_, err = NewRestorer(Tiny(), sd, RestorerOptions{Precision: PrecisionBF16})
	require.ErrorContains(t, err, "needs device gpu")
	deg, _ := data.EmbeddedEval(data.ThreeDegradations()[0], 1)
	crop, err := deg[0].Crop(0, 0, 40, 48)
	require.NoError(t, err)
	restore := func(p Precision) []float32 {
		r, err := NewRestorer(Tiny(), sd, RestorerOptions{Device: DeviceGPU, Precision: p})
		require.NoError(t, err)
		defer r.Close()
		require.Equal(t, p, r.opts.Precision)
		out, err := r.Restore(crop)
		require.NoError(t, err)
		return out.Pix
	}
	want := restore(PrecisionFP32)
	for _, p := range []Precision{PrecisionTF32, PrecisionBF16} {
		d := relErr32(restore(p), want)
		gpuReport(t, "restorer %s vs fp32 rel.diff %.2e", p, d)
		require.LessOrEqual(t, d, 1e-2)
		require.Greater(t, d, 0.0)
	}
	require.Equal(t, want, restore(PrecisionFP32))
}

// Where no cuBLASLt loads (the script hides the fake one and sets
// BARYIR_EXPECT_NO_CUBLASLT=1), asking the GPU machine for TF32 or BF16 is
// an error at construction that names the library; FP32 still works.
func TestGPUPrecisionWithoutBLAS(t *testing.T) {
	if os.Getenv("BARYIR_EXPECT_NO_CUBLASLT") != "1" {
		t.Skip("set BARYIR_EXPECT_NO_CUBLASLT=1 where no libcublasLt can load")
	}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))))
	w := G.NewMatrix(g, tensor.Float32, G.WithShape(3, 2), G.WithName("w"), G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float32{1, 0, 0, 1, 1, 1}))))
	y := G.Must(G.Mul(x, w))
	for _, p := range []Precision{PrecisionTF32, PrecisionBF16} {
		_, err := NewMachine(g, MachineOptions{Device: DeviceGPU, Precision: p, Keep: G.Nodes{y}})
		require.ErrorContains(t, err, "cuBLASLt")
		require.ErrorContains(t, err, "libcublasLt.so.12")
	}
	m, err := NewMachine(g, MachineOptions{Device: DeviceGPU, Keep: G.Nodes{y}})
	require.NoError(t, err)
	require.NoError(t, m.Close())
}
