package layers

import (
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// mdtaGraph builds an MDTA of 12 channels and 2 heads (seeded weights) on a
// (1, 12, 16, 24) input, a level half the size of a 32x48 network input,
// attending under a SharedAttention when shared is set.
func mdtaGraph(t *testing.T, shared bool) (g *G.ExprGraph, x, y *G.Node, sa *SharedAttention) {
	g = G.NewGraph()
	s := NewScope(g, tensor.Float64, 1)
	if shared {
		sa = NewSharedAttention(g, tensor.Float64, 32, 48)
		s = s.WithSharedAttention(sa)
	}
	m := NewMDTA(s.Sub("attn"), 12, 2)
	x = G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 12, 16, 24), G.WithName("x"))
	y, err := m.Forward(x)
	require.NoError(t, err)
	return g, x, y, sa
}

func vec(v ...float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v))
}

// runGraph sets the inputs of g and runs it.
func runGraph(t *testing.T, g *G.ExprGraph, lets map[*G.Node]G.Value) {
	m := G.NewTapeMachine(g)
	defer m.Close()
	for n, v := range lets {
		require.NoError(t, G.Let(n, v))
	}
	require.NoError(t, m.RunAll())
}

// With its own statistics alone (Own 1, zero Prior) the graph is plain
// MDTA. The statistics of four rectangles that partition the input (one
// border at an odd row, 13: row 7 of the half-size level) add up to those
// of the whole, and as the Prior alone (Own 0) they give plain MDTA's
// output again.
func TestSharedAttentionMatchesOnePass(t *testing.T) {
	xv := randDense(3, 1, 12, 16, 24)
	g, x, want, _ := mdtaGraph(t, false)
	runGraph(t, g, map[*G.Node]G.Value{x: xv})
	w := want.Value().Data().([]float64)

	g, x, got, sa := mdtaGraph(t, true)
	require.Len(t, sa.Layers, 1)
	l := sa.Layers[0]
	zero := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(l.Prior.Shape()...))
	sums := make([]float64, l.Sums.Shape().TotalSize())
	for _, r := range [][]float64{{0, 13, 0, 20}, {0, 13, 20, 48}, {13, 32, 0, 20}, {13, 32, 20, 48}} {
		runGraph(t, g, map[*G.Node]G.Value{x: xv, sa.Owned: vec(r...), sa.Own: vec(1), l.Prior: zero})
		for i, v := range l.Sums.Value().Data().([]float64) {
			sums[i] += v
		}
		require.InDeltaSlice(t, w, got.Value().Data().([]float64), 1e-12, "own statistics alone")
	}
	runGraph(t, g, map[*G.Node]G.Value{x: xv, sa.Owned: vec(0, 32, 0, 48), sa.Own: vec(1), l.Prior: zero})
	require.InDeltaSlice(t, sums, l.Sums.Value().Data().([]float64), 1e-9, "the whole rectangle's sums")

	prior := tensor.New(tensor.WithShape(l.Prior.Shape()...), tensor.WithBacking(sums))
	runGraph(t, g, map[*G.Node]G.Value{x: xv, sa.Owned: vec(0, 32, 0, 48), sa.Own: vec(0), l.Prior: prior})
	require.InDeltaSlice(t, w, got.Value().Data().([]float64), 1e-9, "the parts' sums as the prior alone")
}

func TestSharedAttentionErrors(t *testing.T) {
	g := G.NewGraph()
	sa := NewSharedAttention(g, tensor.Float64, 30, 48)
	m := NewMDTA(NewScope(g, tensor.Float64, 1).WithSharedAttention(sa), 12, 2)
	_, err := m.Forward(G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 12, 16, 24), G.WithName("x")))
	require.ErrorContains(t, err, "16x24 level of a 30x48 input")
}
