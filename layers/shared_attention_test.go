package layers

import (
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// mdtaGraph builds an MDTA of 12 channels and 2 heads (seeded weights) on a
// (1, 12, 16, 24) input, a level half the size of a 32x48 network input,
// attending under a SharedAttention when shared is not nil.
func mdtaGraph(t *testing.T, local *bool) (g *G.ExprGraph, x, y *G.Node, sa *SharedAttention) {
	g = G.NewGraph()
	s := NewScope(g, tensor.Float64, 1)
	if local != nil {
		sa = NewSharedAttention(g, tensor.Float64, 32, 48, *local)
		s = s.WithSharedAttention(sa)
	}
	m := NewMDTA(s.Sub("attn"), 12, 2)
	x = G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 12, 16, 24), G.WithName("x"))
	y, err := m.Forward(x)
	require.NoError(t, err)
	return g, x, y, sa
}

// The statistics of four rectangles that partition the input (one border at
// an odd row, 13: row 7 of the half-size level) add up to the attention of
// the whole, and applied from outside it gives plain MDTA's output.
func TestSharedAttentionMatchesOnePass(t *testing.T) {
	xv := randDense(3, 1, 12, 16, 24)
	run := func(g *G.ExprGraph, lets map[*G.Node]G.Value) {
		m := G.NewTapeMachine(g)
		defer m.Close()
		for n, v := range lets {
			require.NoError(t, G.Let(n, v))
		}
		require.NoError(t, m.RunAll())
	}

	g, x, want, _ := mdtaGraph(t, nil)
	run(g, map[*G.Node]G.Value{x: xv})

	local := true
	g, x, _, sa := mdtaGraph(t, &local)
	require.Len(t, sa.Layers, 1)
	l := sa.Layers[0]
	sums := make([]float64, l.SumsSize())
	for _, r := range [][4]float64{{0, 13, 0, 20}, {0, 13, 20, 48}, {13, 32, 0, 20}, {13, 32, 20, 48}} {
		run(g, map[*G.Node]G.Value{x: xv, sa.Owned: tensor.New(tensor.WithShape(4), tensor.WithBacking(r[:]))})
		for i, v := range l.Sums.Value().Data().([]float64) {
			sums[i] += v
		}
	}
	attn, err := l.Attention(sums, []float32{1, 1}) // the seeded temperature is 1
	require.NoError(t, err)

	local = false
	g, x, got, sa := mdtaGraph(t, &local)
	a := make([]float64, len(attn))
	for i, v := range attn {
		a[i] = float64(v)
	}
	run(g, map[*G.Node]G.Value{
		x: xv, sa.Owned: tensor.New(tensor.WithShape(4), tensor.WithBacking([]float64{0, 32, 0, 48})),
		sa.Layers[0].Attn: tensor.New(tensor.WithShape(1, 2, 6, 6), tensor.WithBacking(a)),
	})
	w, o := want.Value().Data().([]float64), got.Value().Data().([]float64)
	require.Len(t, o, len(w))
	for i := range w {
		require.InDelta(t, w[i], o[i], 1e-6, "output %d", i) // the attention went through float32
	}
	// The whole rectangle's sums, taken in one go, are the four parts' sum.
	for i, v := range sa.Layers[0].Sums.Value().Data().([]float64) {
		require.InDelta(t, sums[i], v, 1e-9, "sum %d", i)
	}
}

func TestSharedAttentionErrors(t *testing.T) {
	g := G.NewGraph()
	sa := NewSharedAttention(g, tensor.Float64, 30, 48, true)
	m := NewMDTA(NewScope(g, tensor.Float64, 1).WithSharedAttention(sa), 12, 2)
	_, err := m.Forward(G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 12, 16, 24), G.WithName("x")))
	require.ErrorContains(t, err, "16x24 level of a 30x48 input")
	_, err = (&SharedLayer{B: 1, Heads: 2, Ch: 3}).Attention(make([]float64, 5), []float32{1, 1})
	require.ErrorContains(t, err, "5 sums")
}
