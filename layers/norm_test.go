package layers

import (
	"math/rand/v2"
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
		ln := NewLayerNorm(s, LayerNormConfig{Dim: 3, BiasFree: biasFree})
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
	NewLayerNorm(s.Sub("norm1"), LayerNormConfig{Dim: 6})
	NewLayerNorm(s.Sub("norm2"), LayerNormConfig{Dim: 6, BiasFree: true})
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
	ln := NewLayerNorm(NewScope(g, tensor.Float32, 1), LayerNormConfig{Dim: 4})
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

// The float32 paths (AVX where available, eight pixels at a time with a
// scalar tail) agree with float64 ones, for pixel counts that are and are
// not multiples of 8 and for blocks of lnPixels with a partial last one.
func TestLayerNormFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range []tensor.Shape{{2, 5, 4, 6}, {1, 3, 3, 7}, {2, 4, 40, 40}, {1, 6, 1, 8}} {
		for _, biasFree := range []bool{false, true} {
			n, c := s.TotalSize(), s[1]
			x64, dy64, w64, b64 := make([]float64, n), make([]float64, n), make([]float64, c), make([]float64, c)
			x32, dy32, w32, b32 := make([]float32, n), make([]float32, n), make([]float32, c), make([]float32, c)
			for i := range x64 {
				x32[i], dy32[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				x64[i], dy64[i] = float64(x32[i]), float64(dy32[i])
			}
			for i := range w64 {
				w32[i], b32[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				w64[i], b64[i] = float64(w32[i]), float64(b32[i])
			}
			k := lnKernel{shape: s, biasFree: biasFree}
			check := func(what string, want []float64, got []float32, tol float64) {
				for i := range want {
					require.InDelta(t, want[i], float64(got[i]), tol, "%v biasFree %v %s[%d]", s, biasFree, what, i)
				}
			}
			y64, y32 := make([]float64, n), make([]float32, n)
			lnForward(k, y64, [][]float64{x64, w64, b64})
			lnForward(k, y32, [][]float32{x32, w32, b32})
			check("y", y64, y32, 1e-4)
			lnBackX(k, y64, x64, w64, dy64)
			lnBackX(k, y32, x32, w32, dy32)
			check("dx", y64, y32, 1e-3)
			dw64, dw32 := make([]float64, c), make([]float32, c)
			lnBackW(k, dw64, x64, dy64)
			lnBackW(k, dw32, x32, dy32)
			check("dw", dw64, dw32, 1e-2)
		}
	}
}
