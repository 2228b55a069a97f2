package ot

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
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
	MapSolver, PotentialSolver G.Solver // separate optimisers and learning rates
	// Inner iterations per Step; 0 means 1 (the authors' alternation).
	MapIters, PotentialIters int
	// Feed, if set, loads the next batch into the graph's input nodes
	// (G.Let) before every inner iteration.
	Feed func() error
	// Watch lists nodes (e.g. loss components) whose values the map phase
	// also records; read them with Watched after a step. (The tape machine
	// reuses buffers, so a node's own value is not reliable after a run.)
	Watch G.Nodes
}

// Losses are the values of the last inner iteration of each phase.
type Losses struct {
	Map, Potential float64
}

// Trainer alternates the two phases on one graph. Each phase has its own
// tape machine over only the nodes it needs (its loss and its gradients), so
// a map step does not compute the potentials' gradients and vice versa; the
// machines are reused across steps.
type Trainer struct {
	cfg          TrainerConfig
	mapVM, potVM G.VM
	evalVM       G.VM
	evalExtra    G.Nodes // the extra nodes evalVM was compiled for
	evalCopies   G.Nodes // their copies, read after a run
	watched      []G.Value
	mapVG, potVG []G.ValueGrad
}

// NewTrainer adds the gradients of both losses to their graph and compiles
// the machines. Build the whole graph (including any nodes to be read after
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
	if cfg.MapIters == 0 {
		cfg.MapIters = 1
	}
	if cfg.PotentialIters == 0 {
		cfg.PotentialIters = 1
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
	t := &Trainer{cfg: cfg}
	// Reads go in after the gradients: Gorgonia cannot differentiate through them.
	t.watched = make([]G.Value, len(cfg.Watch))
	mapRoots := append(G.Nodes{cfg.MapLoss}, mg...)
	for i, n := range cfg.Watch {
		mapRoots = append(mapRoots, G.Read(n, &t.watched[i]))
	}
	t.mapVM = G.NewTapeMachine(g.SubgraphRoots(mapRoots...), G.BindDualValues(cfg.MapParams...))
	t.potVM = G.NewTapeMachine(g.SubgraphRoots(append(G.Nodes{cfg.PotentialLoss}, pg...)...), G.BindDualValues(cfg.PotentialParams...))
	t.mapVG = G.NodesToValueGrads(cfg.MapParams)
	t.potVG = G.NodesToValueGrads(cfg.PotentialParams)
	return t, nil
}

// SetSolvers replaces the solvers, e.g. for a learning-rate schedule
// (Gorgonia's solvers have a fixed rate). A nil solver keeps the current one.
func (t *Trainer) SetSolvers(mapSolver, potentialSolver G.Solver) {
	if mapSolver != nil {
		t.cfg.MapSolver = mapSolver
	}
	if potentialSolver != nil {
		t.cfg.PotentialSolver = potentialSolver
	}
}

// Step runs MapIters map updates then PotentialIters potential updates.
func (t *Trainer) Step() (Losses, error) {
	var l Losses
	var err error
	for range t.cfg.MapIters {
		if l.Map, err = t.phase(t.mapVM, t.cfg.MapLoss, t.cfg.MapSolver, t.mapVG); err != nil {
			return l, fmt.Errorf("ot: map step: %w", err)
		}
	}
	for range t.cfg.PotentialIters {
		if l.Potential, err = t.phase(t.potVM, t.cfg.PotentialLoss, t.cfg.PotentialSolver, t.potVG); err != nil {
			return l, fmt.Errorf("ot: potential step: %w", err)
		}
	}
	return l, nil
}

func (t *Trainer) phase(vm G.VM, loss *G.Node, s G.Solver, vg []G.ValueGrad) (float64, error) {
	if t.cfg.Feed != nil {
		if err := t.cfg.Feed(); err != nil {
			return 0, err
		}
	}
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		return 0, err
	}
	if err := s.Step(vg); err != nil {
		return 0, err
	}
	return scalarValue(loss)
}

// Eval runs the forward pass of both losses and of the extra nodes on the
// current inputs (after Feed, if set) without updating anything. It returns
// the losses and a copy of each extra node's value, safe to keep: the tape
// machine reuses buffers, so a node's own Value() is not reliable after a
// run. The machine is compiled on the first call and again whenever the
// extra nodes change.
func (t *Trainer) Eval(extra ...*G.Node) (Losses, []G.Value, error) {
	if t.cfg.Feed != nil {
		if err := t.cfg.Feed(); err != nil {
			return Losses{}, nil, err
		}
	}
	if t.evalVM == nil || !sameNodes(t.evalExtra, extra) {
		if t.evalVM != nil {
			t.evalVM.Close()
		}
		t.evalExtra = append(G.Nodes(nil), extra...)
		// Copies (Detach allocates its output) are roots nothing consumes,
		// so no in-place op can overwrite them.
		roots := G.Nodes{t.cfg.MapLoss, t.cfg.PotentialLoss}
		t.evalCopies = make(G.Nodes, len(extra))
		for i, n := range extra {
			if n == nil || n.Graph() != t.cfg.MapLoss.Graph() {
				t.evalVM = nil
				return Losses{}, nil, fmt.Errorf("ot: eval: extra node %d is nil or of another graph", i)
			}
			c, err := Detach(n)
			if err != nil {
				t.evalVM = nil
				return Losses{}, nil, err
			}
			t.evalCopies[i] = c
			roots = append(roots, c)
		}
		t.evalVM = G.NewTapeMachine(t.cfg.MapLoss.Graph().SubgraphRoots(roots...))
	}
	t.evalVM.Reset()
	if err := t.evalVM.RunAll(); err != nil {
		return Losses{}, nil, fmt.Errorf("ot: eval: %w", err)
	}
	var l Losses
	var err error
	if l.Map, err = scalarValue(t.cfg.MapLoss); err != nil {
		return l, nil, err
	}
	if l.Potential, err = scalarValue(t.cfg.PotentialLoss); err != nil {
		return l, nil, err
	}
	vals := make([]G.Value, len(extra))
	for i, c := range t.evalCopies {
		if vals[i], err = G.CloneValue(c.Value()); err != nil {
			return l, nil, fmt.Errorf("ot: eval: %w", err)
		}
	}
	return l, vals, nil
}

func sameNodes(a, b G.Nodes) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Watched returns the value of Watch[i] at the last map step.
func (t *Trainer) Watched(i int) G.Value { return t.watched[i] }

// Close releases the machines.
func (t *Trainer) Close() error {
	for _, vm := range []G.VM{t.mapVM, t.potVM, t.evalVM} {
		if vm != nil {
			vm.Close()
		}
	}
	return nil
}

func scalarValue(n *G.Node) (float64, error) {
	v := n.Value()
	if v == nil {
		return 0, fmt.Errorf("ot: %s has no value", n.Name())
	}
	switch x := v.Data().(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	}
	return 0, fmt.Errorf("ot: %s is not a float scalar", n.Name())
}
