package losses

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/layers"
)

func randDense(seed uint64, shape ...int) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// nearSources makes residuals that share a common direction, so that the
// negatives of IRC are not negligible next to exp(1/tau) (see gen_losses.py).
func nearSources(seed uint64, ids []int, shape ...int) *tensor.Dense {
	x := randDense(seed, shape...)
	d := x.Data().([]float64)
	f := len(d) / shape[0]
	for i := range shape[0] {
		for k := range f {
			d[i*f+k] = 0.3*d[i*f+k] + math.Sin(float64(k)) + 0.4*math.Cos(float64(k*(ids[i]+2)))
		}
	}
	return x
}

func TestGradCheck(t *testing.T) {
	const tol = 1e-6
	tests := []struct {
		name   string
		build  func(in []*G.Node) (*G.Node, error)
		inputs []*tensor.Dense
	}{
		{"IRC mixed (B,C,H,W) tau 0.07", func(in []*G.Node) (*G.Node, error) { return ircOf(in[0], []int{0, 0, 1, 2, 2}, DefaultTau) },
			[]*tensor.Dense{nearSources(1, []int{0, 0, 1, 2, 2}, 5, 2, 2, 3)}},
		{"IRC (B,F) tau 0.5", func(in []*G.Node) (*G.Node, error) { return ircOf(in[0], []int{3, 1, 3}, 0.5) },
			[]*tensor.Dense{randDense(2, 3, 7)}},
		{"IRC one source", func(in []*G.Node) (*G.Node, error) { return ircOf(in[0], []int{4, 4, 4}, DefaultTau) },
			[]*tensor.Dense{randDense(3, 3, 5)}},
		{"BRO (B,C,H,W)", func(in []*G.Node) (*G.Node, error) { return BRO(in[0], in[1]) },
			[]*tensor.Dense{randDense(4, 3, 2, 2, 2), randDense(5, 3, 2, 2, 2)}},
		{"BRO b (B,F) r (B,N,F)", func(in []*G.Node) (*G.Node, error) { return BRO(in[0], in[1]) },
			[]*tensor.Dense{randDense(6, 4, 6), randDense(7, 4, 2, 3)}},
		{"BRO(x, x): both gradients reach one node", func(in []*G.Node) (*G.Node, error) { return BRO(in[0], in[0]) },
			[]*tensor.Dense{randDense(21, 3, 5)}},
		{"L1", func(in []*G.Node) (*G.Node, error) { return L1(in[0], in[1]) },
			[]*tensor.Dense{randDense(8, 2, 3, 4), randDense(9, 2, 3, 4)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			worst, err := op.GradCheck(tt.build, tt.inputs...)
			require.NoError(t, err)
			t.Logf("max |analytic - numeric| = %.3g", worst)
			require.Less(t, worst, tol)
		})
	}
}

// The gradient check must be able to fail: a BRO whose backward kernel
// returns the gradient of the wrong input is caught.
func TestGradCheckCatchesSwappedBROGradient(t *testing.T) {
	b, r := randDense(14, 3, 4), randDense(15, 3, 4)
	worst, err := op.GradCheck(func(in []*G.Node) (*G.Node, error) {
		k := swappedBRO{broKernel{bShape: in[0].Shape(), rShape: in[1].Shape(), b: 3, f: 4}}
		return op.Apply(k, in[0], in[1])
	}, b, r)
	require.NoError(t, err)
	require.Greater(t, worst, 1e-3)
}

type swappedBRO struct{ broKernel }

func (k swappedBRO) Name() string { return "swapped" + k.broKernel.Name() }
func (k swappedBRO) Grad(in G.Nodes, out, dOut *G.Node) (G.Nodes, error) {
	g, err := k.broKernel.Grad(in, out, dOut)
	if err != nil {
		return nil, err
	}
	return G.Nodes{g[1], g[0]}, nil
}

// eval builds f on fresh input nodes holding xs (in dtype dt) and returns the
// output and the gradient of sum(output) wrt each input.
func eval(t *testing.T, dt tensor.Dtype, f func(in []*G.Node) (*G.Node, error), xs ...*tensor.Dense) ([]float64, [][]float64) {
	t.Helper()
	g := G.NewGraph()
	in := make([]*G.Node, len(xs))
	for i, x := range xs {
		v := x.Clone().(*tensor.Dense)
		if dt == tensor.Float32 {
			d32 := make([]float32, v.Size())
			for j, e := range x.Data().([]float64) {
				d32[j] = float32(e)
			}
			v = tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(d32))
		}
		in[i] = G.NewTensor(g, dt, x.Dims(), G.WithShape(x.Shape()...), G.WithValue(v), G.WithName(string(rune('a'+i))))
	}
	out, err := f(in)
	require.NoError(t, err)
	cost, err := G.Sum(out)
	require.NoError(t, err)
	var v G.Value
	G.Read(out, &v)
	grads := run(t, g, cost, in...)
	return f64(t, v), grads
}

func finite(xs []float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func TestIRCEdgeCases(t *testing.T) {
	zeroRow := randDense(16, 3, 4)
	clear(zeroRow.Data().([]float64)[4:8])
	tests := []struct {
		name  string
		ids   []int
		tau   float64
		x     *tensor.Dense
		check func(t *testing.T, loss []float64)
	}{
		{"one source: neg = 0 gives exactly 0", []int{2, 2, 2}, DefaultTau, randDense(17, 3, 4), func(t *testing.T, l []float64) {
			require.Equal(t, []float64{0, 0, 0}, l)
		}},
		{"single sample", []int{9}, DefaultTau, randDense(18, 1, 5), func(t *testing.T, l []float64) {
			require.Equal(t, []float64{0}, l)
		}},
		// The direct formula gives Inf/Inf = NaN here: exp(1/1e-3) overflows
		// even float64. Samples 0 and 1 are equal, so each has pos = neg.
		{"tiny tau", []int{0, 1, 0}, 1e-3, tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 2, 1, 2, 2, 1})), func(t *testing.T, l []float64) {
			require.InDeltaSlice(t, []float64{math.Ln2, math.Ln2, 0}, l, 1e-6)
		}},
		// A zero residual normalises to 0 (eps floor) instead of NaN.
		{"zero residual", []int{0, 1, 1}, DefaultTau, zeroRow, func(t *testing.T, l []float64) {
			require.True(t, finite(l), "%v", l)
		}},
		// Identical samples of two sources: pos = neg for each, loss log 2.
		{"identical samples", []int{0, 1}, DefaultTau, tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 1, 2})), func(t *testing.T, l []float64) {
			require.InDeltaSlice(t, []float64{math.Ln2, math.Ln2}, l, 1e-6)
		}},
	}
	for _, tt := range tests {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(tt.name+"/"+dt.String(), func(t *testing.T) {
				loss, grads := eval(t, dt, func(in []*G.Node) (*G.Node, error) { return ircOf(in[0], tt.ids, tt.tau) }, tt.x)
				tt.check(t, loss)
				require.True(t, finite(grads[0]), "gradient %v", grads[0])
			})
		}
	}
}

// Gorgonia merges nodes whose ops hash alike, so kernels with different
// parameters on the same input must stay distinct nodes.
func TestKernelsWithDifferentParametersStayDistinct(t *testing.T) {
	g := G.NewGraph()
	x := randDense(20, 4, 5)
	r := G.NewTensor(g, tensor.Float64, 2, G.WithShape(4, 5), G.WithValue(x), G.WithName("r"))
	b := &layers.Builder{}
	a1 := b.N(ircOf(r, []int{0, 0, 1, 1}, DefaultTau))
	a2 := b.N(ircOf(r, []int{0, 1, 0, 1}, DefaultTau))
	a3 := b.N(ircOf(r, []int{0, 0, 1, 1}, 0.5))
	require.NoError(t, b.Err())
	vals := make([]G.Value, 3)
	for i, n := range []*G.Node{a1, a2, a3} {
		G.Read(n, &vals[i])
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	v := func(i int) []float64 { return f64(t, vals[i]) }
	require.NotEqual(t, v(0), v(1))
	require.NotEqual(t, v(0), v(2))
}

// One graph serves batches whose sources change: IRC reads the ids at run time.
func TestIRCFollowsIDsBetweenRuns(t *testing.T) {
	g := G.NewGraph()
	r := G.NewTensor(g, tensor.Float64, 2, G.WithShape(4, 5), G.WithValue(randDense(21, 4, 5)), G.WithName("r"))
	idn := G.NewTensor(g, tensor.Float64, 1, G.WithShape(4), G.WithName("ids"),
		G.WithValue(tensor.New(tensor.WithShape(4), tensor.WithBacking([]float64{0, 0, 1, 1}))))
	b := &layers.Builder{}
	dyn := b.N(IRC(r, idn, DefaultTau))
	fixedA := b.N(ircOf(r, []int{0, 0, 1, 1}, DefaultTau))
	fixedB := b.N(ircOf(r, []int{2, 0, 2, 1}, DefaultTau))
	require.NoError(t, b.Err())
	var vd, va, vb G.Value
	G.Read(dyn, &vd)
	G.Read(fixedA, &va)
	G.Read(fixedB, &vb)
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	require.Equal(t, f64(t, va), f64(t, vd))
	require.NoError(t, G.Let(idn, tensor.New(tensor.WithShape(4), tensor.WithBacking([]float64{2, 0, 2, 1}))))
	m.Reset()
	require.NoError(t, m.RunAll())
	require.Equal(t, f64(t, vb), f64(t, vd))
	require.NotEqual(t, f64(t, va), f64(t, vb))
}

func TestBadInputs(t *testing.T) {
	g := G.NewGraph()
	node := func(dt tensor.Dtype, shape ...int) *G.Node {
		return G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithInit(G.Zeroes()))
	}
	f64x := tensor.Float64
	r4 := node(f64x, 3, 2, 2, 2)
	vec3 := node(f64x, 3)
	var nilNode *G.Node
	tests := []struct {
		name, want string
		build      func() (*G.Node, error)
	}{
		{"IRC ids too short", "2 source ids for a batch of 3", func() (*G.Node, error) { return ircOf(r4, []int{0, 1}, DefaultTau) }},
		{"IRC ids too long", "4 source ids", func() (*G.Node, error) { return ircOf(r4, []int{0, 1, 2, 3}, DefaultTau) }},
		{"IRC empty batch", "non-empty batch", func() (*G.Node, error) { return ircOf(node(f64x, 0, 4), nil, DefaultTau) }},
		{"IRC rank 1", "want (B,F)", func() (*G.Node, error) { return ircOf(vec3, []int{0, 1, 2}, DefaultTau) }},
		{"IRC rank 5", "want (B,F)", func() (*G.Node, error) { return ircOf(node(f64x, 2, 1, 1, 1, 2), []int{0, 1}, DefaultTau) }},
		{"IRC tau 0", "temperature", func() (*G.Node, error) { return ircOf(r4, []int{0, 1, 2}, 0) }},
		{"IRC tau NaN", "temperature", func() (*G.Node, error) { return ircOf(r4, []int{0, 1, 2}, math.NaN()) }},
		{"IRC nil", "nil", func() (*G.Node, error) { return ircOf(nilNode, []int{0}, DefaultTau) }},
		{"IRC int dtype", "dtype", func() (*G.Node, error) { return ircOf(node(tensor.Int, 2, 2), []int{0, 1}, DefaultTau) }},
		{"BRO batch mismatch", "differ in batch size", func() (*G.Node, error) { return BRO(node(f64x, 2, 8), r4) }},
		{"BRO sample size mismatch", "differ in batch size or sample size", func() (*G.Node, error) { return BRO(node(f64x, 3, 7), r4) }},
		{"BRO dtype mismatch", "float32", func() (*G.Node, error) { return BRO(node(tensor.Float32, 3, 8), r4) }},
		{"BRO rank 1", "want (B,F)", func() (*G.Node, error) { return BRO(vec3, vec3) }},
		{"BRO empty batch", "non-empty", func() (*G.Node, error) { return BRO(node(f64x, 0, 3), node(f64x, 0, 3)) }},
		{"L1 shape mismatch", "differ in shape", func() (*G.Node, error) { return L1(r4, node(f64x, 3, 8)) }},
		{"L1 nil", "nil", func() (*G.Node, error) { return L1(nilNode, r4) }},
		{"L1 empty", "non-empty", func() (*G.Node, error) { return L1(node(f64x, 0, 2), node(f64x, 0, 2)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n *G.Node
			var err error
			require.NotPanics(t, func() { n, err = tt.build() })
			require.Error(t, err)
			require.Nil(t, n)
			require.True(t, strings.Contains(err.Error(), tt.want), "error %q does not say %q", err, tt.want)
			require.True(t, strings.HasPrefix(err.Error(), "losses."), "error %q does not name its function", err)
		})
	}
}

// BenchmarkIRCBRO times forward and backward of both losses at the size of
// the paper's latents: batch 8, 384 channels of 16x16 (128-pixel patches).
func BenchmarkIRCBRO(bm *testing.B) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		bm.Run(dt.String(), func(bm *testing.B) {
			g := G.NewGraph()
			r := G.NewTensor(g, dt, 4, G.WithShape(8, 384, 16, 16), G.WithName("r"), G.WithInit(G.Gaussian(0, 1)))
			b := G.NewTensor(g, dt, 4, G.WithShape(8, 384, 16, 16), G.WithName("b"), G.WithInit(G.Gaussian(0, 1)))
			bld := &layers.Builder{}
			irc := bld.N(ircOf(r, []int{0, 0, 1, 1, 2, 2, 3, 4}, DefaultTau))
			bro := bld.N(BRO(b, r))
			cost := bld.N(G.Sum(bld.Add(irc, bro)))
			require.NoError(bm, bld.Err())
			_, err := G.Grad(cost, r, b)
			require.NoError(bm, err)
			m := G.NewTapeMachine(g, G.BindDualValues(r, b))
			defer m.Close()
			bm.ResetTimer()
			for range bm.N {
				require.NoError(bm, m.RunAll())
				m.Reset()
			}
		})
	}
}

// ircOf is IRC of r with the source ids ids, held by a constant input node.
func ircOf(r *G.Node, ids []int, tau float64) (*G.Node, error) {
	if _, _, err := batchShape("IRC", "r", r); err != nil || len(ids) == 0 {
		return IRC(r, nil, tau)
	}
	v := make([]float64, len(ids))
	for i, id := range ids {
		v[i] = float64(id)
	}
	idn, err := constVec(r.Graph(), r.Dtype(), v)
	if err != nil {
		return nil, err
	}
	return IRC(r, idn, tau)
}
