package ot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/build"
	"github.com/x/baryir/internal/op"
)

// linNet is the potential f(y) = <a, flat(y)>, with a fixed.
type linNet struct{ a *G.Node }

func newLinNet(g *G.ExprGraph, a []float64) linNet {
	return linNet{G.NewVector(g, tensor.Float64, G.WithShape(len(a)), G.WithValue(tensor.New(tensor.WithBacking(a))), G.WithName(uniqueName("lin")))}
}

func (l linNet) Forward(x *G.Node) (*G.Node, error) {
	n, d, err := flatSize(x)
	if err != nil {
		return nil, err
	}
	b := &build.Builder{}
	return b.N(G.Mul(b.N(G.Reshape(x, tensor.Shape{n, d})), l.a)), b.Err()
}
func (l linNet) Learnables() G.Nodes { return G.Nodes{l.a} }

func randData(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

func input(g *G.ExprGraph, data []float64, shape ...int) *G.Node {
	return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))), G.WithName(uniqueName("in")))
}

func run(t *testing.T, g *G.ExprGraph) {
	t.Helper()
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
}

// Exact congruence holds for any input and any nets, however large.
func TestExactCongruenceAnyInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w := []float64{0.1, 0.25, 0.05, 0.6}
	for _, scale := range []float64{1e-3, 1, 1e3} {
		g := G.NewGraph()
		nets := make([]Net, len(w))
		for k := range nets {
			m, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{3, 8, 1}, Seed: uint64(k), Name: "g" + string(rune('a'+k))})
			require.NoError(t, err)
			nets[k] = m
		}
		p, err := NewPotentials(nets, PotentialsConfig{Weights: w})
		require.NoError(t, err)
		y := input(g, randData(rng, 50*3, scale), 50, 3)
		f, err := p.Apply(y)
		require.NoError(t, err)
		c, err := p.Congruence(f)
		require.NoError(t, err)
		run(t, g)
		fv := f.Value().Data().([]float64)
		nonzero := 0.0
		for _, x := range fv {
			nonzero = math.Max(nonzero, math.Abs(x))
		}
		require.Greater(t, nonzero, 0.0, "potentials must not be trivially zero")
		for i, x := range c.Value().Data().([]float64) {
			require.Less(t, math.Abs(x), 1e-6, "sample %d, input scale %g", i, scale)
		}
	}
}

func TestSampleWeights(t *testing.T) {
	cases := []struct {
		name string
		ids  []int
		w    []float64
		want []float64
	}{
		{"one each", []int{0, 1}, []float64{0.3, 0.7}, []float64{0.3, 0, 0, 0.7}},
		{"mean within source", []int{1, 0, 1, 1}, []float64{0.4, 0.6}, []float64{0, 0.2, 0.4, 0, 0, 0.2, 0, 0.2}},
		{"absent source", []int{0, 0}, []float64{0.5, 0.5}, []float64{0.25, 0, 0.25, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sw, err := SampleWeights(c.ids, c.w, tensor.Float64)
			require.NoError(t, err)
			require.Equal(t, tensor.Shape{len(c.ids), len(c.w)}, sw.Shape())
			require.InDeltaSlice(t, c.want, sw.Data().([]float64), 1e-15)
		})
	}
}

// The objective's terms equal a direct computation, for vector and image-like
// samples, both costs and both congruence modes.
func TestObjectiveValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w := []float64{0.3, 0.7}
	a := [][]float64{randData(rng, 12, 1), randData(rng, 12, 1)}
	ids := []int{1, 0, 1, 1, 0}
	for _, c := range []struct {
		name  string
		shape []int
		cost  Cost
		mode  Congruence
	}{
		{"vectors half-squared exact", []int{5, 12}, HalfSquared, Exact},
		{"latents half-squared exact", []int{5, 3, 2, 2}, HalfSquared, Exact},
		{"latents rms penalized", []int{5, 3, 2, 2}, RMS, Penalized},
		{"vectors rms exact", []int{5, 12}, RMS, Exact},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := G.NewGraph()
			xd, yd := randData(rng, 60, 1), randData(rng, 60, 1)
			x, y := input(g, xd, c.shape...), input(g, yd, c.shape...)
			p, err := NewPotentials([]Net{newLinNet(g, a[0]), newLinNet(g, a[1])}, PotentialsConfig{Weights: w, Mode: c.mode})
			require.NoError(t, err)
			swv, err := SampleWeights(ids, w, tensor.Float64)
			require.NoError(t, err)
			sw := G.NewMatrix(g, tensor.Float64, G.WithShape(5, 2), G.WithValue(swv), G.WithName("sw"))
			terms, err := Objective(p, x, y, sw, c.cost)
			require.NoError(t, err)
			run(t, g)

			// Direct: per-source means of cost and of f_k, weighted by w_k.
			var transport, potential, penalty float64
			counts := []float64{2, 3}
			for i, k := range ids {
				xi, yi := xd[i*12:(i+1)*12], yd[i*12:(i+1)*12]
				sq, g0, g1 := 0.0, 0.0, 0.0
				for j := range xi {
					sq += (xi[j] - yi[j]) * (xi[j] - yi[j])
					g0 += a[0][j] * yi[j]
					g1 += a[1][j] * yi[j]
				}
				cost := sq / 2
				if c.cost == RMS {
					cost = math.Sqrt(sq/12 + 1e-12)
				}
				f := []float64{g0, g1}
				if c.mode == Exact {
					mean := w[0]*g0 + w[1]*g1
					f = []float64{g0 - mean, g1 - mean}
				}
				transport += w[k] / counts[k] * cost
				potential += w[k] / counts[k] * f[k]
				cg := w[0]*f[0] + w[1]*f[1]
				penalty += 10 * cg * cg / 5
			}
			require.InDelta(t, transport, value(t, terms.Transport), 1e-12)
			require.InDelta(t, potential, value(t, terms.Potential), 1e-12)
			require.InDelta(t, transport-potential, value(t, terms.Loss), 1e-12)
			if c.mode == Penalized {
				require.InDelta(t, penalty, value(t, terms.Penalty), 1e-10)
				require.InDelta(t, potential+penalty, value(t, terms.PotentialLoss), 1e-10)
			} else {
				require.Nil(t, terms.Penalty)
				require.InDelta(t, potential, value(t, terms.PotentialLoss), 1e-12)
			}
		})
	}
}

// The objective's gradient with respect to the map output and the samples
// matches finite differences, through MLP potentials and both costs.
func TestObjectiveGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []Cost{HalfSquared, RMS} {
		t.Run(c.String(), func(t *testing.T) {
			x := tensor.New(tensor.WithShape(4, 2, 1, 2), tensor.WithBacking(randData(rng, 16, 1)))
			y := tensor.New(tensor.WithShape(4, 2, 1, 2), tensor.WithBacking(randData(rng, 16, 1)))
			worst, err := op.GradCheck(func(in []*G.Node) (*G.Node, error) {
				g := in[0].Graph()
				nets := make([]Net, 3)
				for k := range nets {
					m, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{4, 5, 1}, Seed: uint64(k), Name: string(rune('p' + k))})
					if err != nil {
						return nil, err
					}
					nets[k] = m
				}
				p, err := NewPotentials(nets, PotentialsConfig{Weights: []float64{0.2, 0.5, 0.3}})
				if err != nil {
					return nil, err
				}
				swv, err := SampleWeights([]int{0, 2, 1, 2}, p.Weights(), tensor.Float64)
				if err != nil {
					return nil, err
				}
				sw := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithValue(swv), G.WithName("sw"))
				terms, err := Objective(p, in[0], in[1], sw, c)
				if err != nil {
					return nil, err
				}
				return terms.Loss, nil
			}, x, y)
			require.NoError(t, err)
			require.Less(t, worst, 1e-6)
		})
	}
}

// stopGradient passes values and stops gradients: sum(x*x + 3*detach(x)) is
// 14 + 3*2 at x = (1,-2,3), and its gradient is 2x.
func TestStopGradient(t *testing.T) {
	g := G.NewGraph()
	x := input(g, []float64{1, -2, 3}, 3)
	b := &build.Builder{}
	d := b.Do(stopGradient, x)
	c := b.N(G.Sum(b.Add(b.N(G.Square(x)), b.N(G.Mul(d, G.NewConstant(3.0))))))
	require.NoError(t, b.Err())
	_, err := G.Grad(c, x)
	require.NoError(t, err)
	m := G.NewTapeMachine(g, G.BindDualValues(x))
	defer m.Close()
	require.NoError(t, m.RunAll())
	require.InDelta(t, 14.0+3*2, value(t, c), 1e-12)
	gx, err := x.Grad()
	require.NoError(t, err)
	require.Equal(t, []float64{2, -4, 6}, gx.Data())
}

func TestGraphBadInput(t *testing.T) {
	g := G.NewGraph()
	lin := newLinNet(g, make([]float64, 4))
	x := input(g, make([]float64, 8), 2, 4)
	x3 := input(g, make([]float64, 6), 2, 3)
	sw := input(g, make([]float64, 4), 2, 2)
	p, err := NewPotentials([]Net{lin, lin}, PotentialsConfig{Weights: []float64{0.5, 0.5}})
	require.NoError(t, err)
	mlp, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{4, 4}, Name: "m"})
	require.NoError(t, err)
	loss := G.NewScalar(g, tensor.Float64)
	cases := []struct {
		name string
		err  func() error
		msg  string
	}{
		{"weights count", func() error {
			_, err := NewPotentials([]Net{lin}, PotentialsConfig{Weights: []float64{0.5, 0.5}})
			return err
		}, "2 weights for 1"},
		{"weights sum", func() error {
			_, err := NewPotentials([]Net{lin, lin}, PotentialsConfig{Weights: []float64{0.5, 0.6}})
			return err
		}, "sum to"},
		{"no nets", func() error { _, err := NewPotentials(nil, PotentialsConfig{}); return err }, "no potential"},
		{"map shape", func() error { _, err := Objective(p, x, x3, sw, HalfSquared); return err }, "shape"},
		{"sample weights shape", func() error { _, err := Objective(p, x, x, x, HalfSquared); return err }, "sample weights"},
		{"potential input size", func() error { _, err := Objective(p, x3, x3, sw, HalfSquared); return err }, "potential 0"},
		{"unknown cost", func() error { _, err := Objective(p, x, x, sw, Cost(9)); return err }, "unknown cost"},
		{"nil map output", func() error { _, err := ObjectiveBySource(p, G.Nodes{x, x}, G.Nodes{x, nil}, HalfSquared); return err }, "source 1"},
		{"dtype mismatch", func() error {
			x32 := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 4), G.WithName("x32"))
			_, err := Objective(p, x, x32, sw, HalfSquared)
			return err
		}, "dtype"},
		{"nil samples", func() error { _, err := Objective(p, nil, x, sw, HalfSquared); return err }, "batch node"},
		{"detach nil", func() error { _, err := stopGradient(nil); return err }, "nil"},
		{"source count", func() error { _, err := ObjectiveBySource(p, G.Nodes{x}, G.Nodes{x}, HalfSquared); return err }, "2 sources"},
		{"bad source id", func() error { _, err := SampleWeights([]int{0, 2}, []float64{0.5, 0.5}, tensor.Float64); return err }, "source id 2"},
		{"empty batch", func() error { _, err := SampleWeights(nil, []float64{1}, tensor.Float64); return err }, "empty batch"},
		{"mlp features", func() error { _, err := mlp.Forward(x3); return err }, "3 features"},
		{"mlp residual sizes", func() error {
			_, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{4, 3}, Residual: true})
			return err
		}, "residual"},
		{"mlp sizes", func() error { _, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{4}}); return err }, "at least"},
		{"trainer shared params", func() error {
			_, err := NewTrainer(TrainerConfig{MapLoss: loss, PotentialLoss: loss, MapParams: mlp.Learnables(), PotentialParams: mlp.Learnables(),
				MapSolver: GorgoniaSolver(G.NewAdamSolver()), PotentialSolver: GorgoniaSolver(G.NewAdamSolver())})
			return err
		}, "both a map and a potential"},
		{"trainer no solver", func() error {
			_, err := NewTrainer(TrainerConfig{MapLoss: loss, PotentialLoss: loss, MapParams: mlp.Learnables(), PotentialParams: p.Learnables()})
			return err
		}, "two solvers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			require.Error(t, err)
			require.Contains(t, err.Error(), c.msg)
		})
	}
}

// Float32 graphs (as image trainers use) give the float64 values to float32
// precision, on (N, C, H, W) samples.
func TestObjectiveFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	shape := []int{6, 2, 2, 2}
	xd, yd := randData(rng, 48, 1), randData(rng, 48, 1)
	ids := []int{0, 1, 2, 0, 1, 2}
	w := []float64{0.5, 0.2, 0.3}
	vals := map[tensor.Dtype][3]float64{}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		g := G.NewGraph()
		mk := func(d []float64, name string) *G.Node {
			v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
			if dt == tensor.Float32 {
				f := make([]float32, len(d))
				for i := range d {
					f[i] = float32(d[i])
				}
				v = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
			}
			return G.NewTensor(g, dt, 4, G.WithShape(shape...), G.WithValue(v), G.WithName(name))
		}
		x, y := mk(xd, "x"), mk(yd, "y")
		nets := make([]Net, 3)
		for k := range nets {
			m, err := NewMLP(g, dt, MLPConfig{Sizes: []int{8, 6, 1}, Seed: uint64(k), Name: string(rune('a' + k))})
			require.NoError(t, err)
			nets[k] = m
		}
		p, err := NewPotentials(nets, PotentialsConfig{Weights: w})
		require.NoError(t, err)
		swv, err := SampleWeights(ids, w, dt)
		require.NoError(t, err)
		sw := G.NewMatrix(g, dt, G.WithShape(6, 3), G.WithValue(swv), G.WithName("sw"))
		terms, err := Objective(p, x, y, sw, RMS)
		require.NoError(t, err)
		_, err = G.Grad(terms.Loss, y)
		require.NoError(t, err)
		run(t, g)
		vals[dt] = [3]float64{value(t, terms.Loss), value(t, terms.Transport), value(t, terms.Potential)}
	}
	for i := range 3 {
		require.InDelta(t, vals[tensor.Float64][i], vals[tensor.Float32][i], 1e-5*(1+math.Abs(vals[tensor.Float64][i])))
	}
	require.NotZero(t, vals[tensor.Float64][2], "potential term")
}

// ObjectiveBySource's gradients match finite differences at batch sizes
// where concatenating with Gorgonia's own op aliases sources (three blocks
// of 128 rows, or two of 256): every source's samples and map outputs get
// their own gradient.
func TestObjectiveBySourceGradientsAtEveryBatchSize(t *testing.T) {
	for _, sizes := range [][]int{{64, 64, 64}, {128, 128, 128}, {300, 300, 300}, {64, 128, 300}, {256, 256}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(len(sizes))))
			k := len(sizes)
			w := make([]float64, k)
			var inputs []*tensor.Dense
			var at [][]int
			for i := range 2 * k {
				n := sizes[i%k]
				w[i%k] = 1 / float64(k)
				inputs = append(inputs, tensor.New(tensor.WithShape(n, 2), tensor.WithBacking(randData(rng, 2*n, 1+float64(i)))))
				at = append(at, []int{0, 1, n - 1, 2*n - 2, 2*n - 1, 2 * rng.IntN(n)})
			}
			worst, err := op.GradCheckAt(func(in []*G.Node) (*G.Node, error) {
				g := in[0].Graph()
				nets := make([]Net, k)
				for j := range nets {
					m, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{2, 6, 1}, Seed: uint64(j + 1), Name: fmt.Sprint("f", j)})
					if err != nil {
						return nil, err
					}
					nets[j] = m
				}
				p, err := NewPotentials(nets, PotentialsConfig{Weights: w})
				if err != nil {
					return nil, err
				}
				terms, err := ObjectiveBySource(p, in[:k], in[k:], HalfSquared)
				if err != nil {
					return nil, err
				}
				return terms.Loss, nil
			}, at, inputs...)
			require.NoError(t, err)
			require.Less(t, worst, 1e-6, "map side")

			// The potentials' side: linear potentials whose coefficients are
			// the checked inputs, with the samples held.
			coefs := make([]*tensor.Dense, k)
			for j := range coefs {
				coefs[j] = tensor.New(tensor.WithShape(2), tensor.WithBacking(randData(rng, 2, 1)))
			}
			worst, err = op.GradCheck(func(in []*G.Node) (*G.Node, error) {
				g := in[0].Graph()
				nets := make([]Net, k)
				for j := range nets {
					nets[j] = linNet{in[j]}
				}
				p, err := NewPotentials(nets, PotentialsConfig{Weights: w, Mode: Penalized, PenaltyWeight: 0.5})
				if err != nil {
					return nil, err
				}
				held := make(G.Nodes, 2*k)
				for i, x := range inputs {
					held[i] = G.NodeFromAny(g, x.Clone().(*tensor.Dense), G.WithName(uniqueName("held")))
				}
				terms, err := ObjectiveBySource(p, held[:k], held[k:], HalfSquared)
				if err != nil {
					return nil, err
				}
				return terms.PotentialLoss, nil
			}, coefs...)
			require.NoError(t, err)
			require.Less(t, worst, 1e-6, "potentials' side")
		})
	}
}
