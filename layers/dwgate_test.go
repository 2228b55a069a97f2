package layers

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// The fused depthwise convolution and gate give Conv then GELUGate's
// values and gradients bit for bit: float32 rows of a multiple of 8 (the
// row kernels), other widths and float64 (the general path).
func TestDWConvGELUGateMatchesConvThenGate(t *testing.T) {
	for _, c := range []struct {
		name  string
		dt    tensor.Dtype
		shape []int
	}{
		{"f32 rows of 16", tensor.Float32, []int{2, 6, 5, 16}},
		{"f32 width 7", tensor.Float32, []int{1, 4, 6, 7}},
		{"f64", tensor.Float64, []int{2, 4, 3, 8}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(fused bool) []tensor.Tensor {
				g := G.NewGraph()
				rng := rand.New(rand.NewPCG(3, 4))
				val := func(shape ...int) *tensor.Dense {
					n := tensor.Shape(shape).TotalSize()
					if c.dt == tensor.Float32 {
						v := make([]float32, n)
						for i := range v {
							v[i] = float32(2 * rng.NormFloat64())
						}
						return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
					}
					v := make([]float64, n)
					for i := range v {
						v[i] = 2 * rng.NormFloat64()
					}
					return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
				}
				ch := c.shape[1]
				x := G.NewTensor(g, c.dt, 4, G.WithShape(c.shape...), G.WithName("x"), G.WithValue(val(c.shape...)))
				w := G.NewTensor(g, c.dt, 4, G.WithShape(ch, 1, 3, 3), G.WithName("w"), G.WithValue(val(ch, 1, 3, 3)))
				out := []int{c.shape[0], ch / 2, c.shape[2], c.shape[3]}
				r := G.NewTensor(g, c.dt, 4, G.WithShape(out...), G.WithName("r"), G.WithValue(val(out...)))
				b := &Builder{}
				var y *G.Node
				if fused {
					k, ok := fusedDWGate(x, &Conv2d{Weight: w, Stride: 1, Padding: 1, Groups: ch})
					require.True(t, ok)
					y = b.N(op.Apply(k, x, w))
				} else {
					y = b.N(GELUGate(b.N(Conv(x, w, 1, 1, ch))))
				}
				loss := b.N(G.Sum(b.N(G.HadamardProd(y, r))))
				require.NoError(t, b.Err())
				_, err := G.Grad(loss, x, w)
				require.NoError(t, err)
				m := G.NewTapeMachine(g)
				defer m.Close()
				require.NoError(t, m.RunAll())
				dx, err := x.Grad()
				require.NoError(t, err)
				dw, err := w.Grad()
				require.NoError(t, err)
				return []tensor.Tensor{y.Value().(tensor.Tensor).Clone().(tensor.Tensor), dx.(tensor.Tensor).Clone().(tensor.Tensor), dw.(tensor.Tensor).Clone().(tensor.Tensor)}
			}
			want, got := run(false), run(true)
			for i, name := range []string{"output", "dx", "dw"} {
				require.Equal(t, want[i].Data(), got[i].Data(), name)
				zero, err := tensor.Sum(got[i].(*tensor.Dense))
				require.NoError(t, err)
				require.NotZero(t, zero.Data(), "%s is not all zero", name)
			}
		})
	}
}

// Only Restormer's convolution on planes of at least 2x2 fuses; GDFN
// builds the two ops for the rest.
func TestFusedDWGateOnlyForRestormersConv(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 4, 5, 5))
	w := G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 1, 3, 3))
	_, ok := fusedDWGate(x, &Conv2d{Weight: w, Stride: 1, Padding: 1, Groups: 4})
	require.True(t, ok)
	for name, c := range map[string]struct {
		x    *G.Node
		conv Conv2d
	}{
		"bias":          {x, Conv2d{Weight: w, Bias: G.NewVector(g, tensor.Float32, G.WithShape(4)), Stride: 1, Padding: 1, Groups: 4}},
		"stride 2":      {x, Conv2d{Weight: w, Stride: 2, Padding: 1, Groups: 4}},
		"5x5 kernel":    {x, Conv2d{Weight: G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 1, 5, 5)), Stride: 1, Padding: 1, Groups: 4}},
		"not depthwise": {x, Conv2d{Weight: G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 2, 3, 3)), Stride: 1, Padding: 1, Groups: 2}},
		"odd channels":  {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, 5, 5)), Conv2d{Weight: G.NewTensor(g, tensor.Float32, 4, G.WithShape(3, 1, 3, 3)), Stride: 1, Padding: 1, Groups: 3}},
		"1x1 planes":    {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 4, 1, 1)), Conv2d{Weight: w, Stride: 1, Padding: 1, Groups: 4}},
	} {
		_, ok := fusedDWGate(c.x, &c.conv)
		require.False(t, ok, name)
	}
}
