package op

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// planRun runs g on a tape machine with the outputs placed by plan (as the
// CPU Machine does) and returns the value of out, copied.
func planRun(t *testing.T, g *G.ExprGraph, plan *Plan, rel *Releaser, out *G.Node) []float32 {
	t.Helper()
	m := G.NewTapeMachine(g)
	defer m.Close()
	plan.Activate()
	require.NoError(t, m.RunAll())
	v := slices.Clone(out.Value().Data().([]float32))
	rel.Release()
	plan.Deactivate()
	return v
}

// tapeOrder is the order a tape machine runs g's nodes in.
func tapeOrder(t *testing.T, g *G.ExprGraph) G.Nodes {
	order, err := G.Sort(g)
	require.NoError(t, err)
	slices.Reverse(order)
	return order
}

// A chain of outputs of different sizes, each dead once the next has run:
// the plan overlays them in an arena as large as the largest pair live at
// once (the pool, which reuses a buffer only for an output at least half
// its size, would hold several), and the values are those of a run with
// nothing placed.
func TestPlanOverlaysOutputsOfDifferentSizes(t *testing.T) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float32, G.WithShape(64), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithBacking(make([]float32, 64)))))
	n := x
	for _, size := range []int{64, 256, 1024, 16, 4096, 32, 64} {
		var err error
		n, err = Apply(resize{size}, n)
		require.NoError(t, err)
	}
	out, err := Apply(square{tensor.Shape{64}}, n)
	require.NoError(t, err)
	rel := NewReleaser(g, G.Nodes{out})
	a := NewArena()
	plan := rel.Plan(tapeOrder(t, g), a)
	// Largest pair live at once: 1024 + 16 < 16 + 4096 < 4096 + 32.
	require.Equal(t, int64(4*(4096+32)), plan.LiveBytes())
	require.Equal(t, int64(4*(4096+32)), plan.Bytes())
	require.Equal(t, plan.Bytes(), a.Bytes())

	want := planRun(t, g, &Plan{arena: NewArena()}, rel, out) // nothing placed
	for range 2 {
		require.Equal(t, want, planRun(t, g, plan, rel, out))
	}
	require.Zero(t, a.Fallbacks())
}

// resize is y[i] = (x[i]+1)^2 over the first min(len x, n) elements.
type resize struct{ n int }

func (k resize) Name() string                          { return fmt.Sprintf("resize%d", k.n) }
func (k resize) OutShape() tensor.Shape                { return tensor.Shape{k.n} }
func (k resize) Forward32(o []float32, in [][]float32) { resizeInto(o, in[0]) }
func (k resize) Forward64(o []float64, in [][]float64) { resizeInto(o, in[0]) }

func resizeInto[T float32 | float64](o, x []T) {
	for i := range min(len(o), len(x)) {
		o[i] = (x[i] + 1) * (x[i] + 1)
	}
}

// A run that deviates from its plan (here: a plan made for another order,
// in which a dies before c is made, so both share a region) gives the
// output that would overwrite a live one a pooled buffer instead: values
// stay right and the arena counts the fallback.
func TestPlanFallsBackWhenARunDeviates(t *testing.T) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float32, G.WithShape(3), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithBacking([]float32{1, 2, 3}))))
	a, err := Apply(square{tensor.Shape{3}}, x)
	require.NoError(t, err)
	c, err := Apply(resize{3}, x)
	require.NoError(t, err)
	d, err := Apply(squareGrad{tensor.Shape{3}}, a, c)
	require.NoError(t, err)
	rel := NewReleaser(g, G.Nodes{d})
	arena := NewArena()
	plan := rel.Plan(G.Nodes{x, a, d, c}, arena)
	require.Equal(t, int64(4*3), plan.Bytes(), "a and c share a region in the wrong order")
	// d = 2 a c = 2 x^2 (x+1)^2
	require.Equal(t, []float32{8, 72, 288}, planRun(t, g, plan, rel, d))
	require.Equal(t, 1, arena.Fallbacks())
}

// An output that a Gorgonia op reads (which may return a view of it) is
// freed only at the end of the run, and a kept one not at all: the plan
// gives the first a region for the whole run and leaves the kept ones to
// the pool.
func TestPlanKeepsOutputsReadByGorgoniaOpsToTheEnd(t *testing.T) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float32, G.WithShape(4), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithBacking([]float32{1, 2, 3, 4}))))
	a, err := Apply(square{tensor.Shape{4}}, x)
	require.NoError(t, err)
	r, err := G.Reshape(a, tensor.Shape{2, 2})
	require.NoError(t, err)
	e, err := Apply(square{tensor.Shape{2, 2}}, r)
	require.NoError(t, err)
	b, err := Apply(square{tensor.Shape{4}}, a)
	require.NoError(t, err)
	c, err := Apply(square{tensor.Shape{4}}, b)
	require.NoError(t, err)
	rel := NewReleaser(g, G.Nodes{c, e})
	arena := NewArena()
	plan := rel.Plan(tapeOrder(t, g), arena)
	// a lives to the end and b until c is made, so they lie side by side;
	// c and e are kept.
	require.Equal(t, int64(4*(alignUp(4)+4)), plan.Bytes())
	require.Equal(t, []float32{1, 256, 6561, 65536}, planRun(t, g, plan, rel, c))
	require.Equal(t, []float32{1, 16, 81, 256}, e.Value().Data())
	require.Zero(t, arena.Fallbacks())
}
