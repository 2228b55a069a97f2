package axis

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// ramp is 0, 1, 2, ... in shape.
func ramp(shape ...int) *tensor.Dense {
	v := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range v {
		v[i] = float64(i)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// wave is sin(0.7 i + 0.1 k) in shape: small values for finite differences
// (the gradient of these linear ops does not depend on them).
func wave(k int, shape ...int) *tensor.Dense {
	v := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range v {
		v[i] = math.Sin(0.7*float64(i) + 0.1*float64(k))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// sumOfSlices evaluates sum(x[a:b]) + sum(x[c:d]) for x = 0, 1, ..., n-1,
// slicing with slice.
func sumOfSlices(t *testing.T, n int, slice func(x *G.Node, from, to int) (*G.Node, error), a, b, c, d int) float64 {
	t.Helper()
	g := G.NewGraph()
	x := G.NodeFromAny(g, ramp(n), G.WithName("x"))
	s1, err := slice(x, a, b)
	require.NoError(t, err)
	s2, err := slice(x, c, d)
	require.NoError(t, err)
	total := G.Must(G.Add(G.Must(G.Sum(s1)), G.Must(G.Sum(s2))))
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	return total.Value().Data().(float64)
}

// The upstream bug (gorgonia.org/gorgonia v0.9.18): Gorgonia's slice op
// hashes its bounds as single bytes, so x[0:10] and x[256:266] become one
// node and the sum is 2*45 = 90 instead of 45 + 2605 = 2650. If this test
// fails, the Gorgonia in go.mod hashes slices correctly: CheckGorgoniaSlices
// and AllowGorgoniaSlices can then go.
func TestGorgoniaSliceStillAliases(t *testing.T) {
	gorgoniaSlice := func(x *G.Node, from, to int) (*G.Node, error) { return G.Slice(x, G.S(from, to)) }
	got := sumOfSlices(t, 300, gorgoniaSlice, 0, 10, 256, 266)
	require.Equal(t, 90.0, got, "Gorgonia no longer merges x[0:10] with x[256:266]: the slice guard can be relaxed")
	require.Equal(t, 2650.0, sumOfSlices(t, 300, Slice0, 0, 10, 256, 266))
	require.Equal(t, 65536.0*10+45+45, sumOfSlices(t, 70000, Slice0, 0, 10, 65536, 65546))
}

// Slice0 slices along axis 0 with this package's op.
func Slice0(x *G.Node, from, to int) (*G.Node, error) { return Slice(x, 0, from, to) }

// Gorgonia's Concat gradient aliases too: with three blocks of 128 rows, the
// third block's gradient is the first's.
func TestGorgoniaConcatGradientStillAliases(t *testing.T) {
	grads := func(concat func(xs ...*G.Node) (*G.Node, error)) []float64 {
		g := G.NewGraph()
		var xs G.Nodes
		for k := range 3 {
			xs = append(xs, G.NodeFromAny(g, ramp(128), G.WithName(fmt.Sprint("x", k))))
		}
		c, err := concat(xs...)
		require.NoError(t, err)
		w := make([]float64, 3*128)
		for i := range w {
			w[i] = float64(i)
		}
		cost := G.Must(G.Sum(G.Must(G.HadamardProd(c, G.NodeFromAny(g, tensor.New(tensor.WithBacking(w)), G.WithName("w"))))))
		_, err = G.Grad(cost, xs...)
		require.NoError(t, err)
		m := G.NewTapeMachine(g, G.BindDualValues(xs...))
		defer m.Close()
		require.NoError(t, m.RunAll())
		gv, err := xs[2].Grad()
		require.NoError(t, err)
		return gv.Data().([]float64)
	}
	gorgonia := grads(func(xs ...*G.Node) (*G.Node, error) { return G.Concat(0, xs...) })
	require.Equal(t, 0.0, gorgonia[0], "Gorgonia's Concat gradient no longer aliases the third block with the first")
	ours := grads(func(xs ...*G.Node) (*G.Node, error) { return Concat(0, xs...) })
	require.Equal(t, 256.0, ours[0])
	require.Equal(t, 383.0, ours[127])
}

// edges lists flat indices of a tensor of shape around the block [from, to)
// of axis: the elements at and beside both bounds, in the first and last
// outer and inner positions.
func edges(shape tensor.Shape, axis, from, to int) []int {
	b := blockOf(shape, axis)
	var idx []int
	for _, o := range []int{0, b.outer - 1} {
		for _, a := range []int{from - 1, from, from + 1, to - 2, to - 1, to} {
			if a < 0 || a >= b.total {
				continue
			}
			for _, in := range []int{0, b.inner - 1} {
				idx = append(idx, (o*b.total+a)*b.inner+in)
			}
		}
	}
	return idx
}

func TestSliceMatchesIndexingAndFiniteDifferences(t *testing.T) {
	cases := []struct {
		shape          []int
		axis, from, to int
	}{
		{[]int{300}, 0, 256, 266},
		{[]int{300}, 0, 0, 10},
		{[]int{2, 300, 3}, 1, 250, 270},
		{[]int{3, 4, 5}, 2, 1, 4},
		{[]int{70000, 2}, 0, 65530, 65546},
		{[]int{2, 65600}, 1, 65535, 65537},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.shape, c.axis, c.from, c.to), func(t *testing.T) {
			x := ramp(c.shape...)
			g := G.NewGraph()
			xn := G.NodeFromAny(g, x.Clone().(*tensor.Dense), G.WithName("x"))
			y, err := Slice(xn, c.axis, c.from, c.to)
			require.NoError(t, err)
			m := G.NewTapeMachine(g)
			require.NoError(t, m.RunAll())
			m.Close()
			ranges := make([]tensor.Slice, len(c.shape))
			ranges[c.axis] = G.S(c.from, c.to)
			want, err := x.Slice(ranges...)
			require.NoError(t, err)
			require.Equal(t, want.Materialize().Data(), y.Value().Data())

			worst, err := op.GradCheckAt(func(in []*G.Node) (*G.Node, error) {
				return Slice(in[0], c.axis, c.from, c.to)
			}, [][]int{edges(x.Shape(), c.axis, c.from, c.to)}, wave(0, c.shape...))
			require.NoError(t, err)
			require.Less(t, worst, 1e-6)
		})
	}
}

func TestConcatMatchesAndFiniteDifferences(t *testing.T) {
	cases := []struct {
		name  string
		axis  int
		sizes []int
		shape func(n int) []int // input shape for a size n along axis
	}{
		{"rows3x128", 0, []int{128, 128, 128}, func(n int) []int { return []int{n, 2} }},
		{"rows2x256", 0, []int{256, 256}, func(n int) []int { return []int{n, 2} }},
		{"rows64_128_300", 0, []int{64, 128, 300}, func(n int) []int { return []int{n, 3} }},
		{"channels", 1, []int{200, 100, 7}, func(n int) []int { return []int{2, n, 2, 2} }},
		{"long", 0, []int{65530, 20}, func(n int) []int { return []int{n} }},
		{"last", 2, []int{1, 3}, func(n int) []int { return []int{2, 3, n} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var inputs []*tensor.Dense
			var at [][]int
			offset := 0.0
			for _, n := range c.sizes {
				x := ramp(c.shape(n)...)
				for i, v := range x.Data().([]float64) {
					x.Data().([]float64)[i] = v + offset
				}
				offset += 1e6
				inputs = append(inputs, x)
				at = append(at, edges(x.Shape(), c.axis, 0, n))
			}
			build := func(in []*G.Node) (*G.Node, error) { return Concat(c.axis, in...) }
			g := G.NewGraph()
			var nodes G.Nodes
			for i, x := range inputs {
				nodes = append(nodes, G.NodeFromAny(g, x, G.WithName(fmt.Sprint("x", i))))
			}
			y, err := build(nodes)
			require.NoError(t, err)
			m := G.NewTapeMachine(g)
			require.NoError(t, m.RunAll())
			m.Close()
			want := inputs[0]
			for _, x := range inputs[1:] {
				w, err := want.Concat(c.axis, x)
				require.NoError(t, err)
				want = w
			}
			require.Equal(t, want.Data(), y.Value().Data())

			small := make([]*tensor.Dense, len(inputs))
			for i, x := range inputs {
				small[i] = wave(i, x.Shape()...)
			}
			worst, err := op.GradCheckAt(build, at, small...)
			require.NoError(t, err)
			require.Less(t, worst, 1e-6)
		})
	}
}

// A slice of a slice, and a concat of slices, differentiate through both
// ops (the embed kernel's own gradient included, by a second Grad).
func TestSliceOfConcat(t *testing.T) {
	a, b := wave(0, 300, 2), wave(1, 5, 2)
	worst, err := op.GradCheckAt(func(in []*G.Node) (*G.Node, error) {
		c, err := Concat(0, in[0], in[1])
		if err != nil {
			return nil, err
		}
		s1, err := Slice(c, 0, 0, 10)
		if err != nil {
			return nil, err
		}
		s2, err := Slice(c, 0, 256, 266)
		if err != nil {
			return nil, err
		}
		return Concat(0, s2, s1)
	}, [][]int{edges(a.Shape(), 0, 0, 10), nil}, a, b)
	require.NoError(t, err)
	require.Less(t, worst, 1e-6)
}

func TestBadInput(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("x"))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 2), G.WithName("y"))
	z := G.NewMatrix(g, tensor.Float32, G.WithShape(4, 2), G.WithName("z"))
	for _, c := range []struct {
		want string
		err  error
	}{
		{"no inputs", second(Concat(0))},
		{"axis 2 of a rank-2", second(Concat(2, x, y))},
		{"input 1 has shape (4, 2)", second(Concat(0, x, y))},
		{"input 1 is float32", second(Concat(1, y, z))},
		{"input 1 is nil", second(Concat(1, x, nil))},
		{"[2, 5) of axis 1", second(Slice(x, 1, 2, 5))},
		{"[2, 2) of axis 0", second(Slice(x, 0, 2, 2))},
		{"axis -1", second(Slice(x, -1, 0, 1))},
		{"nil input", second(Slice(nil, 0, 0, 1))},
	} {
		require.ErrorContains(t, c.err, c.want)
	}
	c, err := Concat(1, x, y)
	require.NoError(t, err)
	require.Equal(t, tensor.Shape{4, 5}, c.Shape())
	same, err := Slice(x, 1, 0, 3)
	require.NoError(t, err)
	require.Same(t, x, same)
}

func second(_ *G.Node, err error) error { return err }

func TestCheckGorgoniaSlices(t *testing.T) {
	build := func(n int, grad bool) *G.ExprGraph {
		g := G.NewGraph()
		x := G.NewVector(g, tensor.Float64, G.WithShape(n), G.WithName("x"), G.WithInit(G.Zeroes()))
		s := G.Must(G.Slice(x, G.S(1, 3)))
		c := G.Must(G.Sum(s))
		if grad {
			_, err := G.Grad(c, x)
			require.NoError(t, err)
		}
		return g
	}
	require.NoError(t, CheckGorgoniaSlices(build(256, true)))
	err := CheckGorgoniaSlices(build(257, false))
	require.ErrorContains(t, err, "length 257 with gorgonia.Slice")
	require.ErrorContains(t, err, "layers.Slice")

	// Concat's gradient slices: caught once the gradient is in the graph.
	g := G.NewGraph()
	a := G.NewVector(g, tensor.Float64, G.WithShape(200), G.WithName("a"), G.WithInit(G.Zeroes()))
	b := G.NewVector(g, tensor.Float64, G.WithShape(100), G.WithName("b"), G.WithInit(G.Zeroes()))
	cost := G.Must(G.Sum(G.Must(G.Concat(0, a, b))))
	require.NoError(t, CheckGorgoniaSlices(g))
	_, err = G.Grad(cost, a, b)
	require.NoError(t, err)
	err = CheckGorgoniaSlices(g)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "length 300"), err.Error())

	// Whole-axis slices have no bounds to confuse.
	g = G.NewGraph()
	m := G.NewMatrix(g, tensor.Float64, G.WithShape(1000, 3), G.WithName("m"), G.WithInit(G.Zeroes()))
	G.Must(G.Slice(m, nil, G.S(1)))
	require.NoError(t, CheckGorgoniaSlices(g))
}
