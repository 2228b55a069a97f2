package layers

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/safetensors"
)

// forwarder is any layer of this package.
type forwarder interface {
	Forward(x *G.Node) (*G.Node, error)
}

// TestBlocksMatchPyTorch compares each block's output and its gradients with
// respect to the input and every parameter with PyTorch's
// (testdata/gen_network.py writes the fixture).
func TestBlocksMatchPyTorch(t *testing.T) {
	fix, err := safetensors.Read("testdata/blocks.safetensors")
	require.NoError(t, err)
	cases := []struct {
		name string
		make func(s *Scope) forwarder
	}{
		{"conv3x3", func(s *Scope) forwarder {
			return NewConv2d(s, Conv2dConfig{In: 8, Out: 5, Kernel: 3, Padding: 1, Bias: true})
		}},
		{"conv_potential", func(s *Scope) forwarder {
			return NewConv2d(s, Conv2dConfig{In: 8, Out: 8, Kernel: 4, Stride: 4, Padding: 1, Groups: 4, Bias: true})
		}},
		{"linear", func(s *Scope) forwarder { return NewLinear(s, LinearConfig{In: 7, Out: 3, Bias: true}) }},
		{"mdta", func(s *Scope) forwarder { return NewMDTA(s, 8, 2) }},
		{"gdfn", func(s *Scope) forwarder { return NewGDFN(s, 8, 21) }},
		{"block", func(s *Scope) forwarder {
			return NewTransformerBlock(s, TransformerBlockConfig{Dim: 8, Heads: 2, Hidden: 21})
		}},
		{"block_biasfree", func(s *Scope) forwarder {
			return NewTransformerBlock(s, TransformerBlockConfig{Dim: 8, Heads: 4, Hidden: 21, BiasFree: true})
		}},
		{"patch_embed", func(s *Scope) forwarder { return NewPatchEmbed(s, 3, 8) }},
		{"downsample", func(s *Scope) forwarder { return NewDownsample(s, 8) }},
		{"upsample", func(s *Scope) forwarder { return NewUpsample(s, 8) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			get := func(key string) safetensors.Tensor {
				v, ok := fix[c.name+"/"+key]
				require.True(t, ok, "fixture lacks %s/%s", c.name, key)
				return v
			}
			g := G.NewGraph()
			s := NewScope(g, tensor.Float32, 1)
			layer := c.make(s)
			in := get("input")
			x := G.NewTensor(g, tensor.Float32, len(in.Shape), G.WithShape(in.Shape...), G.WithName("x"),
				G.WithValue(tensor.New(tensor.WithShape(in.Shape...), tensor.WithBacking(in.F32()))))
			wrt := G.Nodes{x}
			for _, p := range s.Params() {
				require.NoError(t, G.Let(p.Node, dense32(get("param/"+p.Name))))
				wrt = append(wrt, p.Node)
			}
			require.Equal(t, countPrefix(fix, c.name+"/param/"), len(s.Params()), "parameter count")
			y, err := layer.Forward(x)
			require.NoError(t, err)
			proj := get("proj")
			pn := G.NewTensor(g, tensor.Float32, len(proj.Shape), G.WithShape(proj.Shape...), G.WithValue(dense32(proj)))
			cost := G.Must(G.Sum(G.Must(G.HadamardProd(y, pn))))
			_, err = G.Grad(cost, wrt...)
			require.NoError(t, err)
			m := G.NewTapeMachine(g, G.BindDualValues(wrt...))
			defer m.Close()
			require.NoError(t, m.RunAll())

			requireClose(t, "output", get("output"), y.Value())
			gx, err := x.Grad()
			require.NoError(t, err)
			requireClose(t, "grad input", get("grad/input"), gx)
			for _, p := range s.Params() {
				gp, err := p.Node.Grad()
				require.NoError(t, err)
				requireClose(t, "grad "+p.Name, get("grad/"+p.Name), gp)
			}
		})
	}
}

func dense32(t safetensors.Tensor) *tensor.Dense {
	return tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(t.F32()))
}

func countPrefix(m map[string]safetensors.Tensor, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// requireClose checks float32 results against PyTorch's: max abs error 1e-4
// relative to the reference's scale (1 for values of order 1).
func requireClose(t *testing.T, what string, want safetensors.Tensor, got G.Value) {
	t.Helper()
	require.Equal(t, fmt.Sprint(want.Shape), fmt.Sprint([]int(got.Shape())), "%s shape", what)
	g := got.Data().([]float32)
	scale, worst := 1.0, 0.0
	for i, w := range want.Data {
		scale = math.Max(scale, math.Abs(w))
		worst = math.Max(worst, math.Abs(float64(g[i])-w))
	}
	require.LessOrEqual(t, worst, 1e-4*scale, "%s: max abs error %g (scale %g)", what, worst, scale)
}
