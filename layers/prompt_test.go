package layers

import (
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestResizeParity(t *testing.T) {
	for _, c := range []struct {
		name string
		h, w int
	}{{"resize_up", 12, 20}, {"resize_down", 3, 5}, {"resize_mixed", 7, 4}, {"resize_same", 4, 6}} {
		checkOpsParity(t, c.name, []string{"x"}, func(in []*G.Node) (*G.Node, error) { return Resize(in[0], c.h, c.w) })
	}
}

func TestResizeGradients(t *testing.T) {
	resize := func(h, w int) func(in []*G.Node) (*G.Node, error) {
		return func(in []*G.Node) (*G.Node, error) { return Resize(in[0], h, w) }
	}
	runGradCases(t, []gradCase{
		{"up 2x3x4x5 to 7x11", resize(7, 11), []*tensor.Dense{randDense(1, 2, 3, 4, 5)}},
		{"down 1x2x9x8 to 4x3", resize(4, 3), []*tensor.Dense{randDense(2, 1, 2, 9, 8)}},
		{"from 1x1 to 3x2", resize(3, 2), []*tensor.Dense{randDense(3, 1, 2, 1, 1)}},
	})
}

// Each output row of the interpolation matrix sums to one (a constant
// image stays constant), and equal sizes give the identity.
func TestBilinearWeights(t *testing.T) {
	for _, s := range [][2]int{{5, 12}, {8, 3}, {3, 7}, {1, 4}, {6, 6}} {
		in, out := s[0], s[1]
		m := bilinearWeights(in, out)
		for i := range out {
			sum := 0.0
			for j := range in {
				sum += m[i*in+j]
				if in == out {
					want := 0.0
					if i == j {
						want = 1
					}
					require.InDelta(t, want, m[i*in+j], 1e-12, "%dx%d identity at %d,%d", in, out, i, j)
				}
			}
			require.InDelta(t, 1, sum, 1e-12, "%d->%d row %d", in, out, i)
		}
	}
}

func TestResizeRefusesBadSizes(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 2, 3, 3), G.WithName("x"))
	_, err := Resize(x, 0, 4)
	require.ErrorContains(t, err, "output size 0x4")
	v := G.NewMatrix(g, tensor.Float32, G.WithShape(3, 3), G.WithName("v"))
	_, err = Resize(v, 2, 2)
	require.Error(t, err)
}

// promptGenOf is a PromptGenBlock whose parameters are the given nodes.
func promptGenOf(in []*G.Node) *PromptGenBlock {
	ps := in[1].Shape()
	return &PromptGenBlock{
		Prompt: in[1],
		Linear: &Linear{Weight: in[2], Bias: in[3]},
		Conv:   &Conv2d{Weight: in[4], Stride: 1, Padding: 1, Groups: 1},
		cfg:    PromptGenBlockConfig{Len: ps[1], Dim: ps[2], Size: ps[3], LinDim: in[2].Shape()[1]},
	}
}

func TestPromptGenBlockParity(t *testing.T) {
	checkOpsParity(t, "prompt_gen", []string{"x", "prompt_param", "linear_weight", "linear_bias", "conv_weight"},
		func(in []*G.Node) (*G.Node, error) { return promptGenOf(in).Forward(in[0]) })
}

func TestPromptGenBlockGradients(t *testing.T) {
	runGradCases(t, []gradCase{{"2x3x4x6, 3 prompts of 2x3x3", func(in []*G.Node) (*G.Node, error) {
		return promptGenOf(in).Forward(in[0])
	}, []*tensor.Dense{randDense(1, 2, 3, 4, 6), randDense(2, 1, 3, 2, 3, 3), randDense(3, 3, 3), randDense(4, 3),
		randDense(5, 2, 2, 3, 3)}}})
}

func TestPromptGenBlockNames(t *testing.T) {
	s := NewScope(G.NewGraph(), tensor.Float32, 1)
	p := NewPromptGenBlock(s.Sub("prompt1"), PromptGenBlockConfig{Dim: 4, Len: 5, Size: 8, LinDim: 6})
	var names []string
	for _, q := range s.Params() {
		names = append(names, q.Name)
	}
	require.Equal(t, []string{"prompt1.prompt_param", "prompt1.linear_layer.weight", "prompt1.linear_layer.bias",
		"prompt1.conv3x3.weight"}, names)
	require.Equal(t, tensor.Shape{1, 5, 4, 8, 8}, p.Prompt.Shape())
	x := G.NewTensor(s.Graph(), tensor.Float32, 4, G.WithShape(1, 7, 8, 8), G.WithName("x"))
	_, err := p.Forward(x)
	require.ErrorContains(t, err, "7 channels, want lin_dim 6")
}
