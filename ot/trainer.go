package ot

import (
	"errors"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TrainerConfig wires a max-min problem: the map's parameters minimise
// MapLoss with the potentials frozen, then the potentials' parameters
// minimise PotentialLoss with the map frozen. With Terms t from Objective,
// MapLoss is t.Loss (plus any extra terms a trainer adds, e.g. BaryIR's
// residual and restoration losses) and PotentialLoss is t.PotentialLoss.
// Both must be scalars of the same graph.
type TrainerConfig struct {
	MapLoss, PotentialLoss     *G.Node
	MapParams, PotentialParams G.Nodes
	MapSolver, PotentialSolver Solver // separate optimisers and learning rates
	// Inner iterations per Step; 0 means 1 (the authors' alternation).
	MapIters, PotentialIters int
	// Feed, if set, loads the next batch into the graph's input nodes
	// (G.Let, or the machine's own Let) before every inner iteration.
	Feed func() error
	// Watch lists nodes (e.g. loss components) whose values the map phase
	// also records; read them with Watched after a step, or with Eval.
	Watch G.Nodes
	// PenaltyStep, if its Loss is set, is a second update of the
	// potentials after each of theirs (Terms.PenaltyStep of the authors'
	// PenaltyLastSample form), by PotentialSolver.
	PenaltyStep PenaltyStep
	// Machine compiles the machine that runs both phases over g, keeping
	// the nodes of keep (the losses, their gradients and Watch). Nil means
	// NewTapeMachine, on the CPU (NewTapeMachineAllowingSlices with
	// AllowGorgoniaSlices); baryir.NewMachine runs them on a GPU.
	Machine func(g *G.ExprGraph, keep G.Nodes) (Machine, error)
	// AllowGorgoniaSlices opts the default machine in to graphs that slice
	// axes longer than 256 with Gorgonia's own slice op (see the package
	// doc).
	AllowGorgoniaSlices bool
	// DivergenceFactor stops training with ErrDiverged when a phase's loss
	// exceeds this many times the running mean of its magnitude (see
	// Divergence); 0 means DefaultDivergenceFactor, and a negative value
	// checks only that losses are finite.
	DivergenceFactor float64
}

// PenaltyStep is a second step of the potentials on Loss, a scalar of the
// potentials and of the input node Input (one sample, shape (1, ...)) alone.
// Before it the trainer sets Input to the last sample of From (N, ...), a
// node of the potentials' phase, as that phase computed it; the step then
// sees the potentials its first step updated. This is the authors'
// congruence step (PenaltyLastSample): a third pass through the map is not
// needed, because From is detached from it.
type PenaltyStep struct {
	Loss, Input, From *G.Node
}

// ErrDiverged is returned (wrapped, naming the phase and the step) when a
// phase's loss is NaN or infinite, or grows past DivergenceFactor times the
// running mean of its magnitude. baryir re-exports it.
var ErrDiverged = errors.New("training diverged")

// DefaultDivergenceFactor is how many times its running mean magnitude a
// loss may reach before Step reports ErrDiverged. The running mean is the
// mean of |loss| over every step so far, checked from step
// divergenceWarmup on: the large early values of a game that settles keep
// it from shrinking when a loss hovers about zero (as the potentials' loss
// does), while a diverging game grows by orders of magnitude within tens of
// steps.
const DefaultDivergenceFactor = 1000

const divergenceWarmup = 10 // steps before the factor is checked

// divergence tracks one phase's running mean loss magnitude.
type divergence struct {
	sum float64
	n   int
}

// check records loss and reports whether it diverged, and how.
func (d *divergence) check(loss, factor float64) error {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("loss is %v", loss)
	}
	a := math.Abs(loss)
	if mean := d.sum / float64(max(d.n, 1)); factor > 0 && d.n >= divergenceWarmup && a > factor*mean {
		return fmt.Errorf("loss %.4g is more than %g times its running mean magnitude %.4g", loss, factor, mean)
	}
	d.sum += a
	d.n++
	return nil
}

// Losses are the values of the last inner iteration of each phase.
type Losses struct {
	Map, Potential float64
	Penalty        float64 // the PenaltyStep's loss before its update, if any
}

// Trainer alternates the two phases on one graph and one machine. Each
// phase runs only the nodes it needs (its loss and its gradients), so a map
// step does not compute the potentials' gradients and vice versa.
type Trainer struct {
	cfg                TrainerConfig
	m                  Machine
	mapPh, potPh       Phase
	evalPh             Phase
	penPh              Phase // PenaltyStep's, if any
	mapGrads, potGrads G.Nodes
	penGrads           G.Nodes
	watched            []G.Value
	steps              int
	mapDiv, potDiv     divergence
	penDiv             divergence
}

// NewTrainer adds the gradients of both losses to their graph and compiles
// the machine. Build the whole graph (including any nodes to be read after
// a step) before calling it.
func NewTrainer(cfg TrainerConfig) (*Trainer, error) {
	switch {
	case cfg.MapLoss == nil || cfg.PotentialLoss == nil:
		return nil, errors.New("ot: trainer needs both losses")
	case !cfg.MapLoss.IsScalar() || !cfg.PotentialLoss.IsScalar():
		return nil, errors.New("ot: trainer losses must be scalars")
	case cfg.MapLoss.Graph() != cfg.PotentialLoss.Graph():
		return nil, errors.New("ot: trainer losses live in different graphs")
	case len(cfg.MapParams) == 0 || len(cfg.PotentialParams) == 0:
		return nil, errors.New("ot: trainer needs map and potential parameters")
	case cfg.MapSolver == nil || cfg.PotentialSolver == nil:
		return nil, errors.New("ot: trainer needs two solvers")
	case cfg.MapIters < 0 || cfg.PotentialIters < 0:
		return nil, errors.New("ot: negative inner iterations")
	}
	seen := map[*G.Node]bool{}
	for _, n := range cfg.MapParams {
		if n == nil {
			return nil, errors.New("ot: nil map parameter")
		}
		seen[n] = true
	}
	for _, n := range cfg.PotentialParams {
		if n == nil {
			return nil, errors.New("ot: nil potential parameter")
		}
		if seen[n] {
			return nil, fmt.Errorf("ot: node %v is both a map and a potential parameter", n.Name())
		}
	}
	for i, n := range cfg.Watch {
		if n == nil || n.Graph() != cfg.MapLoss.Graph() {
			return nil, fmt.Errorf("ot: watched node %d is nil or of another graph", i)
		}
	}
	if err := checkPenaltyStep(cfg.PenaltyStep, cfg.MapLoss.Graph()); err != nil {
		return nil, err
	}
	if cfg.MapIters == 0 {
		cfg.MapIters = 1
	}
	if cfg.DivergenceFactor == 0 {
		cfg.DivergenceFactor = DefaultDivergenceFactor
	}
	if cfg.PotentialIters == 0 {
		cfg.PotentialIters = 1
	}
	if cfg.Machine == nil {
		cfg.Machine = func(g *G.ExprGraph, keep G.Nodes) (Machine, error) {
			if cfg.AllowGorgoniaSlices {
				return NewTapeMachineAllowingSlices(g, keep...)
			}
			return NewTapeMachine(g, keep...)
		}
	}
	g := cfg.MapLoss.Graph()
	mg, err := G.Grad(cfg.MapLoss, cfg.MapParams...)
	if err != nil {
		return nil, fmt.Errorf("ot: map gradients: %w", err)
	}
	pg, err := G.Grad(cfg.PotentialLoss, cfg.PotentialParams...)
	if err != nil {
		return nil, fmt.Errorf("ot: potential gradients: %w", err)
	}
	t := &Trainer{cfg: cfg, mapGrads: mg, potGrads: pg, watched: make([]G.Value, len(cfg.Watch))}
	mapRoots := append(append(G.Nodes{cfg.MapLoss}, mg...), cfg.Watch...)
	potRoots := append(G.Nodes{cfg.PotentialLoss}, pg...)
	var penRoots G.Nodes
	if ps := cfg.PenaltyStep; ps.Loss != nil {
		if t.penGrads, err = G.Grad(ps.Loss, cfg.PotentialParams...); err != nil {
			return nil, fmt.Errorf("ot: penalty gradients: %w", err)
		}
		potRoots = append(potRoots, ps.From)
		penRoots = append(G.Nodes{ps.Loss}, t.penGrads...)
	}
	keep := append(append(append(G.Nodes{}, mapRoots...), potRoots...), penRoots...)
	if t.m, err = cfg.Machine(g, keep); err != nil {
		return nil, err // the machine's constructor names itself
	}
	if t.mapPh, err = t.m.Phase(mapRoots...); err != nil {
		return nil, fmt.Errorf("ot: map phase: %w", err)
	}
	if t.potPh, err = t.m.Phase(potRoots...); err != nil {
		return nil, fmt.Errorf("ot: potential phase: %w", err)
	}
	if penRoots != nil {
		if t.penPh, err = t.m.Phase(penRoots...); err != nil {
			return nil, fmt.Errorf("ot: penalty phase: %w", err)
		}
	}
	return t, nil
}

// checkPenaltyStep reports what does not fit in a PenaltyStep, if it is set.
func checkPenaltyStep(ps PenaltyStep, g *G.ExprGraph) error {
	switch {
	case ps.Loss == nil && ps.Input == nil && ps.From == nil:
		return nil
	case ps.Loss == nil || ps.Input == nil || ps.From == nil:
		return errors.New("ot: a penalty step needs its loss, input and source")
	case !ps.Loss.IsScalar():
		return errors.New("ot: the penalty step's loss must be a scalar")
	case ps.Loss.Graph() != g || ps.Input.Graph() != g || ps.From.Graph() != g:
		return errors.New("ot: the penalty step lives in another graph")
	case ps.Input.Op() != nil:
		return fmt.Errorf("ot: the penalty step's input %s is not an input node", ps.Input.Name())
	}
	in, from := ps.Input.Shape(), ps.From.Shape()
	if len(in) == 0 || in[0] != 1 || len(from) != len(in) || !in[1:].Eq(from[1:]) || ps.Input.Dtype() != ps.From.Dtype() {
		return fmt.Errorf("ot: the penalty step's input %v is not one sample of its source %v", in, from)
	}
	return nil
}

// Machine is the machine the phases run on (to Let inputs or read values).
func (t *Trainer) Machine() Machine { return t.m }

// SetSolvers replaces the solvers. A nil solver keeps the current one.
func (t *Trainer) SetSolvers(mapSolver, potentialSolver Solver) {
	if mapSolver != nil {
		t.cfg.MapSolver = mapSolver
	}
	if potentialSolver != nil {
		t.cfg.PotentialSolver = potentialSolver
	}
}

// Step runs MapIters map updates then PotentialIters potential updates.
// A loss that diverges (see ErrDiverged) stops it before that phase's
// update.
func (t *Trainer) Step() (Losses, error) {
	var l Losses
	var err error
	t.steps++
	for range t.cfg.MapIters {
		if err = t.feed("map"); err != nil {
			return l, err
		}
		if l.Map, err = t.phase(t.mapPh, t.cfg.MapLoss, t.cfg.MapSolver, t.cfg.MapParams, t.mapGrads, "map", &t.mapDiv); err != nil {
			return l, err
		}
		for i, n := range t.cfg.Watch {
			// A copy: a later phase may reuse the machine's memory.
			v, err := t.m.Value(n)
			if err == nil {
				t.watched[i], err = G.CloneValue(v)
			}
			if err != nil {
				return l, fmt.Errorf("ot: step %d: map phase: watched node %q: %w", t.steps, n.Name(), err)
			}
		}
	}
	for range t.cfg.PotentialIters {
		if err = t.feed("potential"); err != nil {
			return l, err
		}
		if l.Potential, err = t.phase(t.potPh, t.cfg.PotentialLoss, t.cfg.PotentialSolver, t.cfg.PotentialParams, t.potGrads, "potential", &t.potDiv); err != nil {
			return l, err
		}
		if t.penPh == nil {
			continue
		}
		if l.Penalty, err = t.penaltyStep(); err != nil {
			return l, err
		}
	}
	return l, nil
}

// penaltyStep sets the penalty's input to the last sample the potentials'
// phase saw, then runs the penalty phase and updates the potentials.
func (t *Trainer) penaltyStep() (float64, error) {
	ps := t.cfg.PenaltyStep
	fail := func(err error) (float64, error) { return 0, fmt.Errorf("ot: step %d: penalty phase: %w", t.steps, err) }
	v, err := t.m.Value(ps.From)
	if err != nil {
		return fail(err)
	}
	d, ok := v.(tensor.Tensor)
	if !ok {
		return fail(fmt.Errorf("%s is not a tensor", ps.From.Name()))
	}
	n := d.Shape()[0]
	last, err := d.Slice(G.S(n-1, n))
	if err != nil {
		return fail(err)
	}
	sample := tensor.New(tensor.WithShape(ps.Input.Shape()...), tensor.Of(d.Dtype()))
	if err := tensor.Copy(sample, last.Materialize()); err != nil {
		return fail(err)
	}
	if err := t.m.Let(ps.Input, sample); err != nil {
		return fail(err)
	}
	return t.phase(t.penPh, ps.Loss, t.cfg.PotentialSolver, t.cfg.PotentialParams, t.penGrads, "penalty", &t.penDiv)
}

// feed loads the next batch (TrainerConfig.Feed) before a phase of the
// game; the penalty step runs on the sample its phase left instead.
func (t *Trainer) feed(phase string) error {
	if t.cfg.Feed == nil {
		return nil
	}
	if err := t.cfg.Feed(); err != nil {
		return fmt.Errorf("ot: step %d: %s phase: %w", t.steps, phase, err)
	}
	return nil
}

// phase runs one side and updates its parameters; it returns the side's
// loss before the update. Errors name the phase and the step; a loss that
// diverges is ErrDiverged, and the update is not made.
func (t *Trainer) phase(p Phase, loss *G.Node, s Solver, params, grads G.Nodes, name string, div *divergence) (float64, error) {
	fail := func(err error) (float64, error) {
		return 0, fmt.Errorf("ot: step %d: %s phase: %w", t.steps, name, err)
	}
	if err := p.Run(); err != nil {
		return fail(err)
	}
	l, err := Scalar(t.m, loss)
	if err != nil {
		return fail(err)
	}
	if err := div.check(l, t.cfg.DivergenceFactor); err != nil {
		return l, fmt.Errorf("ot: step %d: %s phase: %w: %v", t.steps, name, ErrDiverged, err)
	}
	if err := s.Update(t.m, params, grads); err != nil {
		return fail(err)
	}
	return l, nil
}

// Eval runs the forward pass of both losses and of the watched nodes on the
// current inputs (after Feed, if set) without updating anything. It returns
// the losses and a copy of each node's value, safe to keep; nodes are
// inputs of the graph or in Watch.
func (t *Trainer) Eval(nodes ...*G.Node) (Losses, []G.Value, error) {
	watched := map[*G.Node]bool{}
	for _, n := range t.cfg.Watch {
		watched[n] = true
	}
	for i, n := range nodes {
		switch {
		case n == nil:
			return Losses{}, nil, fmt.Errorf("ot: eval: node %d is nil", i)
		case n.Op() != nil && !watched[n]:
			return Losses{}, nil, fmt.Errorf("ot: eval: node %q (%d) is neither an input nor watched (TrainerConfig.Watch)", n.Name(), i)
		}
	}
	if t.cfg.Feed != nil {
		if err := t.cfg.Feed(); err != nil {
			return Losses{}, nil, err
		}
	}
	if t.evalPh == nil {
		ph, err := t.m.Phase(append(G.Nodes{t.cfg.MapLoss, t.cfg.PotentialLoss}, t.cfg.Watch...)...)
		if err != nil {
			return Losses{}, nil, fmt.Errorf("ot: eval: %w", err)
		}
		t.evalPh = ph
	}
	if err := t.evalPh.Run(); err != nil {
		return Losses{}, nil, fmt.Errorf("ot: eval: %w", err)
	}
	var l Losses
	var err error
	if l.Map, err = Scalar(t.m, t.cfg.MapLoss); err != nil {
		return l, nil, err
	}
	if l.Potential, err = Scalar(t.m, t.cfg.PotentialLoss); err != nil {
		return l, nil, err
	}
	vals := make([]G.Value, len(nodes))
	for i, n := range nodes {
		v, err := t.m.Value(n)
		if err == nil {
			vals[i], err = G.CloneValue(v)
		}
		if err != nil {
			return l, nil, fmt.Errorf("ot: eval: node %q: %w", n.Name(), err)
		}
	}
	return l, vals, nil
}

// Watched returns a copy of Watch[i]'s value at the last map step.
func (t *Trainer) Watched(i int) G.Value { return t.watched[i] }

// Close releases the machine if it has a Close method.
func (t *Trainer) Close() error {
	if c, ok := t.m.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// Scalar is the value of a kept scalar node on m, as a float64.
func Scalar(m Machine, n *G.Node) (float64, error) {
	v, err := m.Value(n)
	if err != nil {
		return 0, err
	}
	switch x := v.Data().(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	}
	return 0, fmt.Errorf("ot: %s is not a float scalar", n.Name())
}
