package layers

import (
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func lnBuild(c int, biasFree bool) func(in []*G.Node) (*G.Node, error) {
	return func(in []*G.Node) (*G.Node, error) {
		ln := &LayerNorm{Weight: in[1], Dim: c, BiasFree: biasFree}
		if !biasFree {
			ln.Bias = in[2]
		}
		return ln.Forward(in[0])
	}
}

func TestLayerNormGradients(t *testing.T) {
	var cases []gradCase
	for _, s := range []struct {
		name       string
		b, c, h, w int
	}{
		{"1x3x2x2", 1, 3, 2, 2},
		{"2x5x3x1", 2, 5, 3, 1},
		{"2x4x3x5", 2, 4, 3, 5},
	} {
		x := randDense(1, s.b, s.c, s.h, s.w)
		w, bias := randDense(2, s.c), randDense(3, s.c)
		cases = append(cases,
			gradCase{"WithBias " + s.name, lnBuild(s.c, false), []*tensor.Dense{x, w, bias}},
			gradCase{"BiasFree " + s.name, lnBuild(s.c, true), []*tensor.Dense{x, w}})
	}
	runGradCases(t, cases)
}

func TestLayerNormParity(t *testing.T) {
	checkOpsParity(t, "ln_withbias", []string{"x", "weight", "bias"}, lnBuild(8, false))
	checkOpsParity(t, "ln_biasfree", []string{"x", "weight"}, lnBuild(8, true))
}

// A constant pixel has zero variance: WithBias gives the bias, and BiasFree
// x/sqrt(eps) (x is not centred), with no NaN.
func TestLayerNormConstantPixel(t *testing.T) {
	for _, biasFree := range []bool{false, true} {
		g := G.NewGraph()
		s := NewScope(g, tensor.Float64, 1)
		ln := NewLayerNorm(s, 3, biasFree)
		x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 3, 1, 1), G.WithValue(tensor.New(tensor.WithShape(1, 3, 1, 1), tensor.WithBacking([]float64{0.5, 0.5, 0.5}))))
		y, err := ln.Forward(x)
		require.NoError(t, err)
		m := G.NewTapeMachine(g)
		require.NoError(t, m.RunAll())
		want := 0.0
		if biasFree {
			want = 0.5 / 0.00316227766016838 // 0.5/sqrt(1e-5)
		}
		for _, v := range y.Value().Data().([]float64) {
			require.InDelta(t, want, v, 1e-9)
		}
		m.Close()
	}
}

func TestNewLayerNormParams(t *testing.T) {
	g := G.NewGraph()
	s := NewScope(g, tensor.Float32, 1)
	NewLayerNorm(s.Sub("norm1"), 6, false)
	NewLayerNorm(s.Sub("norm2"), 6, true)
	var names []string
	for _, p := range s.Params() {
		names = append(names, p.Name)
		want := float32(1)
		if p.Name == "norm1.body.bias" {
			want = 0
		}
		require.Equal(t, tensor.Shape{6}, p.Node.Shape())
		for _, v := range p.Node.Value().Data().([]float32) {
			require.Equal(t, want, v, p.Name)
		}
	}
	require.Equal(t, []string{"norm1.body.weight", "norm1.body.bias", "norm2.body.weight"}, names)
}

func TestLayerNormErrors(t *testing.T) {
	g := G.NewGraph()
	ln := NewLayerNorm(NewScope(g, tensor.Float32, 1), 4, false)
	for name, x := range map[string]*G.Node{
		"wrong channels": G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, 2, 2)),
		"wrong rank":     G.NewTensor(g, tensor.Float32, 3, G.WithShape(4, 2, 2)),
		"int dtype":      G.NewTensor(g, tensor.Int, 4, G.WithShape(1, 4, 2, 2)),
	} {
		_, err := ln.Forward(x)
		require.Error(t, err, name)
	}
	bad := &LayerNorm{Weight: G.NewTensor(g, tensor.Float32, 1, G.WithShape(3)), Bias: ln.Bias, Dim: 4}
	_, err := bad.Forward(G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 4, 2, 2)))
	require.Error(t, err, "weight shape")
}

func BenchmarkLayerNorm(b *testing.B) {
	s := tensor.Shape{4, 48, 64, 64}
	x, w := benchData(s.TotalSize()), benchData(48)
	k := lnKernel{shape: s}
	b.Run("fwd", func(b *testing.B) { benchKernel(b, k, x, w, w) })
	b.Run("dx", func(b *testing.B) { benchKernel(b, lnGradX(k), x, w, x) })
	b.Run("dw", func(b *testing.B) { benchKernel(b, lnGradW(k), x, x) })
}

// BenchmarkLayerNormPaper times the forward LayerNorm of the Paper
// preset's full-resolution decoder level (96 channels) on a 256x256 image.
func BenchmarkLayerNormPaper(b *testing.B) {
	k := lnKernel{shape: tensor.Shape{1, 96, 256, 256}}
	n := k.shape.TotalSize()
	x, y := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(i%97) / 97
	}
	w, bias := make([]float32, 96), make([]float32, 96)
	for i := range w {
		w[i] = 1
	}
	b.SetBytes(int64(8 * n))
	for range b.N {
		lnForward(k, y, [][]float32{x, w, bias})
	}
}
