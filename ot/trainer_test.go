package ot

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// recorder is a solver that records what it is asked to update.
type recorder struct {
	inner G.Solver
	steps int
	seen  map[*G.Node]bool
	zero  int // parameters handed over with an all-zero gradient
}

func (r *recorder) Update(m Machine, params, grads G.Nodes) error {
	r.steps++
	for i, n := range params {
		r.seen[n] = true
		g, err := m.Value(grads[i])
		if err != nil {
			return err
		}
		nz := false
		for _, x := range g.Data().([]float64) {
			nz = nz || x != 0
		}
		if !nz {
			r.zero++
		}
	}
	return GorgoniaSolver(r.inner).Update(m, params, grads)
}

// toyGame is a max-min problem in 2-D: a residual MLP map T of n samples x
// and one MLP potential per weight of pc, on two copies of the batch (one
// per source of a two-source pc).
func toyGame(t *testing.T, n int, pc PotentialsConfig, c Cost) (x, y *G.Node, m Net, p *Potentials, terms Terms) {
	t.Helper()
	g := G.NewGraph()
	x = G.NewMatrix(g, tensor.Float64, G.WithShape(n, 2), G.WithName("x"), G.WithInit(G.GlorotN(1)))
	m, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{2, 4, 2}, Residual: true, Name: "T"})
	require.NoError(t, err)
	y, err = m.Forward(x)
	require.NoError(t, err)
	nets := make([]Net, len(pc.Weights))
	for k := range nets {
		nets[k], err = NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{2, 4, 1}, Seed: uint64(k)})
		require.NoError(t, err)
	}
	p, err = NewPotentials(nets, pc)
	require.NoError(t, err)
	terms, err = ObjectiveBySource(p, G.Nodes{x, x}, G.Nodes{y, y}, c)
	require.NoError(t, err)
	return x, y, m, p, terms
}

// Each phase updates only its own parameters, with non-zero gradients, as
// many times as configured, on a fresh batch each time.
func TestTrainerAlternation(t *testing.T) {
	_, _, m, p, terms := toyGame(t, 8, PotentialsConfig{Weights: []float64{0.5, 0.5}}, HalfSquared)
	nets := p.nets
	mr := &recorder{inner: G.NewAdamSolver(), seen: map[*G.Node]bool{}}
	pr := &recorder{inner: G.NewAdamSolver(), seen: map[*G.Node]bool{}}
	feeds := 0
	tr, err := NewTrainer(TrainerConfig{
		MapLoss: terms.Loss, PotentialLoss: terms.PotentialLoss,
		MapParams: m.Learnables(), PotentialParams: p.Learnables(),
		MapSolver: mr, PotentialSolver: pr, MapIters: 3, PotentialIters: 2,
		Feed: func() error { feeds++; return nil },
	})
	require.NoError(t, err)
	defer tr.Close()
	for range 2 {
		_, err := tr.Step()
		require.NoError(t, err)
	}
	require.Equal(t, 6, mr.steps)
	require.Equal(t, 4, pr.steps)
	require.Equal(t, 10, feeds)
	require.Len(t, mr.seen, len(m.Learnables()))
	for _, n := range m.Learnables() {
		require.True(t, mr.seen[n])
	}
	require.Len(t, pr.seen, len(p.Learnables()))
	require.Zero(t, mr.zero)
	// A constant shift c of g_k changes the potential term by
	// c (sum_i sw_ik - w_k sum_ij sw_ij) = 0 when every source is in the
	// batch: the last bias of each net is the one gradient that vanishes.
	require.Equal(t, len(nets)*pr.steps, pr.zero)

	// SetSolvers swaps the optimiser (a learning-rate schedule).
	other := &recorder{inner: G.NewAdamSolver(G.WithLearnRate(1e-4)), seen: map[*G.Node]bool{}}
	tr.SetSolvers(other, nil)
	_, err = tr.Step()
	require.NoError(t, err)
	require.Equal(t, 3, other.steps)
	require.Equal(t, 6, mr.steps)
	require.Equal(t, 6, pr.steps)
}

// Eval's values are copies: a later Eval on a new batch leaves them alone.
func TestTrainerEvalCopies(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 2), G.WithName("x"))
	m, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{2, 3, 2}, Residual: true, Name: "T"})
	require.NoError(t, err)
	y, err := m.Forward(x)
	require.NoError(t, err)
	f, err := NewMLP(g, tensor.Float64, MLPConfig{Sizes: []int{2, 3, 1}})
	require.NoError(t, err)
	p, err := NewPotentials([]Net{f}, PotentialsConfig{Weights: []float64{1}})
	require.NoError(t, err)
	terms, err := ObjectiveBySource(p, G.Nodes{x}, G.Nodes{y}, HalfSquared)
	require.NoError(t, err)
	batch := 0.0
	tr, err := NewTrainer(TrainerConfig{
		MapLoss: terms.Loss, PotentialLoss: terms.PotentialLoss,
		MapParams: m.Learnables(), PotentialParams: p.Learnables(),
		MapSolver: GorgoniaSolver(G.NewAdamSolver()), PotentialSolver: GorgoniaSolver(G.NewAdamSolver()),
		Watch: G.Nodes{y},
		Feed: func() error {
			batch++
			v := make([]float64, 8)
			for i := range v {
				v[i] = batch
			}
			return G.Let(x, tensor.New(tensor.WithShape(4, 2), tensor.WithBacking(v)))
		},
	})
	require.NoError(t, err)
	defer tr.Close()
	_, first, err := tr.Eval(x, y)
	require.NoError(t, err)
	keep := append([]float64(nil), first[1].Data().([]float64)...)
	_, second, err := tr.Eval(x, y)
	require.NoError(t, err)
	require.Equal(t, keep, first[1].Data())
	require.Equal(t, []float64{1, 1, 1, 1, 1, 1, 1, 1}, first[0].Data())
	require.Equal(t, []float64{2, 2, 2, 2, 2, 2, 2, 2}, second[0].Data())
	require.NotEqual(t, keep, second[1].Data())
	_, _, err = tr.Eval(nil)
	require.ErrorContains(t, err, "node 0 is nil")
}

// The authors' penalty step (PenaltyLastSample): a second update of the
// potentials per step, on the last sample of the map's output as the
// potentials' phase computed it.
func TestTrainerPenaltyStep(t *testing.T) {
	pc := PotentialsConfig{Weights: []float64{0.3, 0.7}, Mode: Penalized, Penalty: PenaltyLastSample}
	_, y, m, p, terms := toyGame(t, 6, pc, RMS)
	require.NotNil(t, terms.PenaltyStep.Loss)
	require.Same(t, terms.Penalty, terms.PenaltyStep.Loss)
	require.Equal(t, []int{1, 2}, []int(terms.PenaltyStep.Input.Shape()))

	cfg := TrainerConfig{
		MapLoss: terms.Loss, PotentialLoss: terms.PotentialLoss,
		MapParams: m.Learnables(), PotentialParams: p.Learnables(),
		MapSolver:       GorgoniaSolver(G.NewAdamSolver()),
		PotentialSolver: &recorder{inner: G.NewAdamSolver(), seen: map[*G.Node]bool{}},
		PenaltyStep:     terms.PenaltyStep, Watch: G.Nodes{y},
	}
	tr, err := NewTrainer(cfg)
	require.NoError(t, err)
	defer tr.Close()
	l, err := tr.Step()
	require.NoError(t, err)
	require.Equal(t, 2, cfg.PotentialSolver.(*recorder).steps, "objective step, then penalty step")
	require.Positive(t, l.Penalty)
	// The map did not move after the potentials' phase, so Eval's y is what
	// that phase saw: the penalty's input is its last row.
	_, vals, err := tr.Eval(y)
	require.NoError(t, err)
	rows := vals[0].Data().([]float64)
	require.Equal(t, rows[len(rows)-2:], terms.PenaltyStep.Input.Value().Data())

	bad := func(f func(ps *PenaltyStep)) TrainerConfig {
		c := cfg
		f(&c.PenaltyStep)
		return c
	}
	for name, tc := range map[string]struct {
		cfg  TrainerConfig
		want string
	}{
		"no loss":        {bad(func(ps *PenaltyStep) { ps.Loss = nil }), "needs its loss, input and source"},
		"input computed": {bad(func(ps *PenaltyStep) { ps.Input = y }), "is not an input node"},
		"not a scalar":   {bad(func(ps *PenaltyStep) { ps.Loss = y }), "must be a scalar"},
		"wrong source":   {bad(func(ps *PenaltyStep) { ps.From = terms.Transport }), "is not one sample of its source"},
	} {
		_, err := NewTrainer(tc.cfg)
		require.ErrorContains(t, err, tc.want, name)
	}
}

// A loss that is not finite, or that grows past DivergenceFactor times its
// running mean, stops Step with ErrDiverged naming the phase and the step.
func TestTrainerDiverged(t *testing.T) {
	for _, c := range []struct {
		name  string
		scale float64 // applied to the batch from step 13 on
		want  string
	}{
		{"grows", 1e3, "ot: step 13: map phase: training diverged: loss"},
		{"nan", math.NaN(), "ot: step 13: map phase: training diverged: loss is NaN"},
		{"steady", 1, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, _, m, p, terms := toyGame(t, 8, PotentialsConfig{Weights: []float64{0.5, 0.5}}, HalfSquared)
			batch := make([]float64, 16)
			for i := range batch {
				batch[i] = math.Sin(float64(i))
			}
			var tr *Trainer
			step := 0
			feed := func() error {
				v := make([]float64, len(batch))
				for i := range v {
					v[i] = batch[i]
					if step >= 13 {
						v[i] *= c.scale
					}
				}
				return tr.Machine().Let(x, tensor.New(tensor.WithShape(8, 2), tensor.WithBacking(v)))
			}
			var err error
			tr, err = NewTrainer(TrainerConfig{
				MapLoss: terms.Loss, PotentialLoss: terms.PotentialLoss,
				MapParams: m.Learnables(), PotentialParams: p.Learnables(),
				MapSolver: GorgoniaSolver(G.NewAdamSolver(G.WithLearnRate(1e-3))), PotentialSolver: GorgoniaSolver(G.NewAdamSolver(G.WithLearnRate(1e-3))),
				Feed: feed,
			})
			require.NoError(t, err)
			defer tr.Close()
			for step = 1; step <= 15; step++ {
				_, err = tr.Step()
				if err != nil {
					break
				}
			}
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrDiverged)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// The CPU machine refuses Gorgonia's slices of long axes unless the caller
// opts in, and Eval names a node it cannot read.
func TestTapeMachineGuardAndEvalNames(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(300, 2), G.WithName("x"), G.WithInit(G.Zeroes()))
	s := G.Must(G.Slice(x, G.S(256, 266)))
	_, err := NewTapeMachine(g, s)
	require.ErrorContains(t, err, "layers.Slice")
	_, err = NewTapeMachineAllowingSlices(g, s)
	require.NoError(t, err)

	_, _, m, p, terms := toyGame(t, 4, PotentialsConfig{Weights: []float64{0.5, 0.5}}, HalfSquared)
	tr, err := NewTrainer(TrainerConfig{
		MapLoss: terms.Loss, PotentialLoss: terms.PotentialLoss,
		MapParams: m.Learnables(), PotentialParams: p.Learnables(),
		MapSolver: GorgoniaSolver(G.NewAdamSolver()), PotentialSolver: GorgoniaSolver(G.NewAdamSolver()),
	})
	require.NoError(t, err)
	defer tr.Close()
	_, _, err = tr.Eval(terms.Transport)
	require.ErrorContains(t, err, "neither an input nor watched")
	require.ErrorContains(t, err, terms.Transport.Name())
}
