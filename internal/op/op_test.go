package op

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// square is y = x*x elementwise; its gradient is another kernel, as the real ops do.
type square struct{ shape tensor.Shape }

func (k square) Name() string                          { return fmt.Sprintf("square%v", k.shape) }
func (k square) OutShape() tensor.Shape                { return k.shape }
func (k square) Forward32(o []float32, in [][]float32) { sq(o, in) }
func (k square) Forward64(o []float64, in [][]float64) { sq(o, in) }
func (k square) DiffWRT() []bool                       { return []bool{true} }
func (k square) Grad(in G.Nodes, _, dOut *G.Node) (G.Nodes, error) {
	g, err := Apply(squareGrad(k), in[0], dOut)
	return G.Nodes{g}, err
}

func sq[T float32 | float64](o []T, in [][]T) {
	for i, x := range in[0] {
		o[i] = x * x
	}
}

type squareGrad square

func (k squareGrad) Name() string                          { return fmt.Sprintf("squareGrad%v", k.shape) }
func (k squareGrad) OutShape() tensor.Shape                { return k.shape }
func (k squareGrad) Forward32(o []float32, in [][]float32) { sqGrad(o, in) }
func (k squareGrad) Forward64(o []float64, in [][]float64) { sqGrad(o, in) }

func sqGrad[T float32 | float64](o []T, in [][]T) {
	for i, x := range in[0] {
		o[i] = 2 * x * in[1][i]
	}
}

func TestApplyForwardAndGrad(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		g := G.NewGraph()
		x := G.NewTensor(g, dt, 2, G.WithShape(2, 3), G.WithName("x"), G.WithInit(G.RangedFrom(0)))
		y, err := Apply(square{x.Shape()}, x)
		require.NoError(t, err)
		cost, err := G.Sum(y)
		require.NoError(t, err)
		_, err = G.Grad(cost, x)
		require.NoError(t, err)
		m := G.NewTapeMachine(g, G.BindDualValues(x))
		require.NoError(t, m.RunAll())
		gx, err := x.Grad()
		require.NoError(t, err)
		want := []float64{0, 2, 4, 6, 8, 10}
		got := fmt.Sprint(gx.Data())
		require.Equal(t, fmt.Sprint(castTo(dt, want)), got)
		require.Equal(t, 55.0, toF64(cost.Value()))
		m.Close()
	}
}

func castTo(dt tensor.Dtype, v []float64) any {
	if dt == tensor.Float64 {
		return v
	}
	o := make([]float32, len(v))
	for i := range v {
		o[i] = float32(v[i])
	}
	return o
}

func toF64(v G.Value) float64 {
	switch x := v.Data().(type) {
	case float32:
		return float64(x)
	case float64:
		return x
	}
	return -1
}

func TestGradCheckCatchesWrongGradient(t *testing.T) {
	x := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{0.5, -1, 2, 0.25}))
	good, err := GradCheck(func(in []*G.Node) (*G.Node, error) { return Apply(square{in[0].Shape()}, in[0]) }, x)
	require.NoError(t, err)
	require.Less(t, good, 1e-6)
	bad, err := GradCheck(func(in []*G.Node) (*G.Node, error) { return Apply(wrongSquare{square{in[0].Shape()}}, in[0]) }, x)
	require.NoError(t, err)
	require.Greater(t, bad, 0.1)
}

// wrongSquare has a gradient off by a factor of two.
type wrongSquare struct{ square }

func (k wrongSquare) Name() string { return "wrong" + k.square.Name() }
func (k wrongSquare) Grad(in G.Nodes, _, dOut *G.Node) (G.Nodes, error) {
	g, err := Apply(squareGrad(k.square), in[0], dOut)
	if err != nil {
		return nil, err
	}
	h, err := G.Add(g, g)
	return G.Nodes{h}, err
}

func TestApplyRejectsMismatchedGradient(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 2, G.WithShape(2, 2), G.WithName("x"), G.WithInit(G.Zeroes()))
	y := G.NewTensor(g, tensor.Float64, 2, G.WithShape(2, 2), G.WithName("y"), G.WithInit(G.Zeroes()))
	// square declares a gradient for one input; applied to two it must be refused.
	_, err := Apply(square{x.Shape()}, x, y)
	require.ErrorContains(t, err, "gradient declared for 1 inputs, applied to 2")
	_, err = Apply(square{x.Shape()}, nil)
	require.ErrorContains(t, err, "input 0 is nil")
}

// A node's output tensor is reused from run to run, zeroed before its
// kernel runs, and the results stay the same.
func TestOutputReusedAcrossRuns(t *testing.T) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float32, G.WithShape(3), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithBacking([]float32{1, 2, 3}))))
	y, err := Apply(square{tensor.Shape{3}}, x)
	require.NoError(t, err)
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	first := y.Value()
	require.Equal(t, []float32{1, 4, 9}, first.Data())
	m.Reset()
	require.NoError(t, m.RunAll())
	require.Same(t, first, y.Value())
	require.Equal(t, []float32{1, 4, 9}, y.Value().Data())
}
