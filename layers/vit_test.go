package layers

import (
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// The ViT pieces' gradients against central differences, in float64; their
// outputs and parameter gradients are checked against PyTorch through the
// barycenter map's parity test in package baryir.
func TestViTGradients(t *testing.T) {
	cases := []struct {
		name   string
		build  func(in []*G.Node) (*G.Node, error)
		inputs []*tensor.Dense
	}{
		{"pixel attention, 2 heads", func(in []*G.Node) (*G.Node, error) { return PixelAttention(in[0], 2) },
			[]*tensor.Dense{randDense(1, 2, 12, 2, 3)}},
		{"pixel attention, 1 head, 1 pixel", func(in []*G.Node) (*G.Node, error) { return PixelAttention(in[0], 1) },
			[]*tensor.Dense{randDense(2, 1, 6, 1, 1)}},
		{"pixel linear", func(in []*G.Node) (*G.Node, error) {
			return (&PixelLinear{Weight: in[1], Bias: in[2]}).Forward(in[0])
		}, []*tensor.Dense{randDense(3, 2, 4, 2, 3), randDense(4, 5, 4), randDense(5, 5)}},
		{"gelu", func(in []*G.Node) (*G.Node, error) { return GELU(in[0]) },
			[]*tensor.Dense{randDense(6, 2, 3, 2, 2)}},
		{"token layernorm", func(in []*G.Node) (*G.Node, error) {
			return (&LayerNorm{Weight: in[1], Bias: in[2], Dim: 4}).Forward(in[0])
		}, []*tensor.Dense{randDense(7, 2, 4, 2, 3), randDense(8, 4), randDense(9, 4)}},
		{"vit block", func(in []*G.Node) (*G.Node, error) {
			return NewViTBlock(NewScope(in[0].Graph(), tensor.Float64, 3), ViTBlockConfig{Dim: 4, Heads: 2, Hidden: 6}).Forward(in[0])
		}, []*tensor.Dense{randDense(10, 2, 4, 2, 3)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			worst, err := op.GradCheck(c.build, c.inputs...)
			require.NoError(t, err)
			require.Less(t, worst, 1e-6)
		})
	}
}

// PixelAttention refuses inputs it cannot split into heads, by name.
func TestPixelAttentionErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 12, 2, 2))
	for heads, want := range map[int]string{0: "0 heads", 3: "not divisible by 3 heads"} {
		_, err := PixelAttention(x, heads)
		require.ErrorContains(t, err, want)
	}
	_, err := PixelAttention(G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 8, 2, 2)), 1)
	require.ErrorContains(t, err, "not a multiple of 3")
}

func TestTokenLayerNormNames(t *testing.T) {
	s := NewScope(G.NewGraph(), tensor.Float32, 1)
	NewViTBlock(s.Sub("blk"), ViTBlockConfig{Dim: 4, Heads: 2, Hidden: 6})
	var names []string
	for _, p := range s.Params() {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{"blk.norm1.weight", "blk.norm1.bias", "blk.attn.qkv.weight", "blk.attn.qkv.bias",
		"blk.attn.proj.weight", "blk.attn.proj.bias", "blk.norm2.weight", "blk.norm2.bias",
		"blk.mlp.fc1.weight", "blk.mlp.fc1.bias", "blk.mlp.fc2.weight", "blk.mlp.fc2.bias"}, names)
}
