package layers

import (
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/internal/safetensors"
)

// parityTol is the largest absolute error allowed against PyTorch in float32.
const parityTol = 1e-4

var (
	opsFixtureOnce sync.Once
	opsFixture     map[string]safetensors.Tensor
	opsFixtureErr  error
)

// checkOpsParity runs build in float32 on the fixture inputs of case name
// (testdata/ops.safetensors, made by gen_ops.py) and compares the output and
// the gradients of sum(out*proj) wrt every input with PyTorch's.
func checkOpsParity(t *testing.T, name string, inputs []string, build func(in []*G.Node) (*G.Node, error)) {
	t.Helper()
	opsFixtureOnce.Do(func() { opsFixture, opsFixtureErr = safetensors.Read("testdata/ops.safetensors") })
	require.NoError(t, opsFixtureErr)
	get := func(key string) safetensors.Tensor {
		ts, ok := opsFixture[name+"."+key]
		require.True(t, ok, "fixture lacks %s.%s", name, key)
		return ts
	}
	node := func(g *G.ExprGraph, key string) *G.Node {
		ts := get(key)
		v := tensor.New(tensor.WithShape(ts.Shape...), tensor.WithBacking(ts.F32()))
		return G.NewTensor(g, tensor.Float32, len(ts.Shape), G.WithShape(ts.Shape...), G.WithName(key), G.WithValue(v))
	}
	g := G.NewGraph()
	in := make([]*G.Node, len(inputs))
	for i, k := range inputs {
		in[i] = node(g, k)
	}
	b := &Builder{}
	out := b.N(build(in))
	cost := b.N(G.Sum(b.N(G.HadamardProd(out, node(g, "proj")))))
	require.NoError(t, b.Err())
	_, err := G.Grad(cost, in...)
	require.NoError(t, err)
	m := G.NewTapeMachine(g, G.BindDualValues(in...))
	defer m.Close()
	require.NoError(t, m.RunAll())

	compare := func(what string, v G.Value, want safetensors.Tensor) {
		require.Equal(t, tensor.Shape(want.Shape), v.Shape(), "%s %s shape", name, what)
		got := v.Data().([]float32)
		worst := 0.0
		for i, w := range want.Data {
			d := math.Abs(float64(got[i]) - w)
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			worst = math.Max(worst, d)
		}
		t.Logf("%s %s: max abs error %.2e", name, what, worst)
		require.LessOrEqual(t, worst, parityTol, "%s %s", name, what)
	}
	compare("out", out.Value(), get("out"))
	for i, k := range inputs {
		gv, err := in[i].Grad()
		require.NoError(t, err)
		compare("grad "+k, gv, get("grad."+k))
	}
}

// gradCase is one finite-difference gradient check.
type gradCase struct {
	name   string
	build  func(in []*G.Node) (*G.Node, error)
	inputs []*tensor.Dense
}

func runGradCases(t *testing.T, cases []gradCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			worst, err := op.GradCheck(c.build, c.inputs...)
			require.NoError(t, err)
			t.Logf("max FD error %.2e", worst)
			require.Less(t, worst, 1e-6)
		})
	}
}

// awayFromZero is randDense with values pushed away from zero, where
// LeakyReLU's kink would spoil finite differences.
func awayFromZero(seed float64, shape ...int) *tensor.Dense {
	d := randDense(seed, shape...)
	for i, v := range d.Data().([]float64) {
		if math.Abs(v) < 0.05 {
			d.Data().([]float64)[i] = 0.1 + v
		}
	}
	return d
}

func TestLeakyReLUGradients(t *testing.T) {
	leaky := func(slope float64) func(in []*G.Node) (*G.Node, error) {
		return func(in []*G.Node) (*G.Node, error) { return LeakyReLU(in[0], slope) }
	}
	runGradCases(t, []gradCase{
		{"4-D slope 0.2", leaky(0.2), []*tensor.Dense{awayFromZero(1, 2, 3, 5, 3)}},
		{"2-D slope 0.01", leaky(0.01), []*tensor.Dense{awayFromZero(2, 3, 7)}},
		{"1-D slope 1.5", leaky(1.5), []*tensor.Dense{awayFromZero(3, 11)}},
	})
}

func TestLeakyReLUParity(t *testing.T) {
	checkOpsParity(t, "leaky", []string{"x"}, func(in []*G.Node) (*G.Node, error) { return LeakyReLU(in[0], 0.2) })
}

func TestLeakyReLUValues(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 1, G.WithShape(4), G.WithValue(tensor.New(tensor.WithBacking([]float64{-2, 0, 0.5, 3}))))
	y, err := LeakyReLU(x, 0.25)
	require.NoError(t, err)
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	require.Equal(t, []float64{-0.5, 0, 0.5, 3}, y.Value().Data())
}

func TestLeakyReLUErrors(t *testing.T) {
	g := G.NewGraph()
	_, err := LeakyReLU(G.NewTensor(g, tensor.Int, 1, G.WithShape(3)), 0.2)
	require.Error(t, err)
	_, err = LeakyReLU(nil, 0.2)
	require.Error(t, err)
}

// benchKernel times forward (and, for each backward kernel, its run) of a
// kernel on float32 inputs of order 1, as the tape machine would call them.
func benchKernel(b *testing.B, k op.Kernel, inputs ...[]float32) {
	out := make([]float32, k.OutShape().TotalSize())
	b.SetBytes(int64(4 * len(inputs[0])))
	for b.Loop() {
		clear(out)
		k.Forward32(out, inputs)
	}
}

func benchData(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Sin(float64(i) * 0.618))
	}
	return v
}

func BenchmarkLeakyReLU(b *testing.B) {
	s := tensor.Shape{4, 48, 64, 64}
	x := benchData(s.TotalSize())
	b.Run("fwd", func(b *testing.B) { benchKernel(b, leaky{s, 0.2}, x) })
	b.Run("bwd", func(b *testing.B) { benchKernel(b, leakyGrad{s, 0.2}, x, x) })
}
