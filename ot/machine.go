package ot

import (
	"errors"
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/op/axis"
)

// Machine runs parts of one graph: a Phase computes the nodes some roots
// need, as each side of the max-min game does, and the machine keeps the
// values of the nodes it was told to keep. TapeMachine is the CPU machine
// of this package; baryir.Machine runs the same phases on a GPU.
type Machine interface {
	// Phase prepares the part of the graph that computes roots; every root
	// must be kept by the machine.
	Phase(roots ...*G.Node) (Phase, error)
	// Value is the value of a kept node computed by the last phase run, or
	// of an input node; read it before the next run (a phase may reuse the
	// memory of nodes it does not compute).
	Value(n *G.Node) (G.Value, error)
	// Let sets an input node (a placeholder or a parameter) to v.
	Let(n *G.Node, v G.Value) error
}

// Phase is a compiled part of a Machine's graph.
type Phase interface {
	Run() error
}

// Solver updates parameters from the gradients a Machine holds after a
// phase ran. baryir's RMSProp and Adam are Solvers on any machine;
// GorgoniaSolver adapts Gorgonia's own solvers on the CPU.
type Solver interface {
	Update(m Machine, params, grads G.Nodes) error
}

// TapeMachine runs phases with Gorgonia's tape machines on the CPU. Kept
// nodes are copied as they are computed (through gorgonia.Read), because a
// tape machine reuses buffers within a run.
type TapeMachine struct {
	g      *G.ExprGraph
	kept   map[*G.Node]*G.Value // op nodes: the slot their copy is read into
	reads  map[*G.Node]*G.Node  // op node -> its Read node
	phases []*tapePhase
}

// NewTapeMachine prepares a CPU machine over g that keeps the values of
// keep. Build the whole graph, gradients included, before calling it: the
// copies are nodes of g, and Gorgonia cannot differentiate through them.
//
// It refuses a graph in which Gorgonia's own slice op, or its gradient,
// slices an axis longer than 256, since such slices can alias (see the
// package doc); NewTapeMachineAllowingSlices skips that check.
func NewTapeMachine(g *G.ExprGraph, keep ...*G.Node) (*TapeMachine, error) {
	if g == nil {
		return nil, errors.New("ot: nil graph")
	}
	if err := axis.CheckGorgoniaSlices(g); err != nil {
		return nil, fmt.Errorf("ot: %w", err)
	}
	return NewTapeMachineAllowingSlices(g, keep...)
}

// NewTapeMachineAllowingSlices is NewTapeMachine without the check of
// Gorgonia's slices: the caller opts in, having made sure that no two
// slices of one node have bounds equal modulo 256.
func NewTapeMachineAllowingSlices(g *G.ExprGraph, keep ...*G.Node) (*TapeMachine, error) {
	if g == nil {
		return nil, errors.New("ot: nil graph")
	}
	m := &TapeMachine{g: g, kept: map[*G.Node]*G.Value{}, reads: map[*G.Node]*G.Node{}}
	for i, n := range keep {
		if n == nil || n.Graph() != g {
			return nil, fmt.Errorf("ot: kept node %d is nil or of another graph", i)
		}
		if n.Op() == nil || m.reads[n] != nil {
			continue // inputs hold their own values
		}
		slot := new(G.Value)
		m.kept[n], m.reads[n] = slot, G.Read(n, slot)
	}
	return m, nil
}

// Phase compiles a tape machine over the subgraph that computes roots and
// the copies of the kept nodes that subgraph computes anyway.
func (m *TapeMachine) Phase(roots ...*G.Node) (Phase, error) {
	if len(roots) == 0 {
		return nil, errors.New("ot: a phase needs roots")
	}
	need := map[*G.Node]bool{}
	stack := append(G.Nodes{}, roots...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == nil {
			return nil, errors.New("ot: nil phase root")
		}
		if need[n] {
			continue
		}
		need[n] = true
		stack = append(stack, childrenOf(n)...)
	}
	all := append(G.Nodes{}, roots...)
	for _, r := range roots {
		if r.Op() != nil && m.reads[r] == nil {
			return nil, fmt.Errorf("ot: phase root %s is not kept by the machine", r.Name())
		}
	}
	for n, rd := range m.reads {
		if need[n] {
			all = append(all, rd)
		}
	}
	sub := m.g.SubgraphRoots(all...)
	order, err := G.Sort(sub)
	if err != nil {
		return nil, fmt.Errorf("ot: phase: %w", err)
	}
	slices.Reverse(order)
	p := &tapePhase{vm: G.NewTapeMachine(sub), order: order}
	m.phases = append(m.phases, p)
	return p, nil
}

// childrenOf lists the inputs of n.
func childrenOf(n *G.Node) G.Nodes {
	var out G.Nodes
	it := n.Graph().From(n.ID())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

// Value returns the copy of a kept op node from the last run that computed
// it, or an input node's own value.
func (m *TapeMachine) Value(n *G.Node) (G.Value, error) {
	if n == nil {
		return nil, errors.New("ot: value of a nil node")
	}
	var v G.Value
	if n.Op() == nil {
		v = n.Value()
	} else if slot, ok := m.kept[n]; ok {
		v = *slot
	} else {
		return nil, fmt.Errorf("ot: %s is not kept by the machine", n.Name())
	}
	if v == nil {
		return nil, fmt.Errorf("ot: %s has no value yet", n.Name())
	}
	return v, nil
}

// Let sets an input node's value (gorgonia.Let).
func (m *TapeMachine) Let(n *G.Node, v G.Value) error {
	if n == nil || v == nil {
		return errors.New("ot: Let of a nil node or value")
	}
	return G.Let(n, v)
}

// Close releases the phases' tape machines.
func (m *TapeMachine) Close() error {
	for _, p := range m.phases {
		p.vm.Close()
	}
	m.phases = nil
	return nil
}

type tapePhase struct {
	vm    G.VM
	order G.Nodes
}

// Order is the order in which the phase's tape runs its nodes: Gorgonia
// compiles a tape from the reverse of its stable topological sort, so a
// memory plan can know every value's life before the first run.
func (p *tapePhase) Order() G.Nodes { return p.order }

func (p *tapePhase) Run() error {
	p.vm.Reset()
	return p.vm.RunAll()
}

// GorgoniaSolver adapts a Gorgonia solver (G.NewAdamSolver and the like)
// to a Solver on a machine whose parameters live on the host (TapeMachine,
// or baryir.Machine on the CPU).
func GorgoniaSolver(s G.Solver) Solver { return gorgoniaSolver{s} }

type gorgoniaSolver struct{ s G.Solver }

func (a gorgoniaSolver) Update(m Machine, params, grads G.Nodes) error {
	vgs, err := ValueGrads(m, params, grads)
	if err != nil {
		return err
	}
	return a.s.Step(vgs)
}

// ValueGrads pairs each parameter's value with its gradient's value on m,
// in the form Gorgonia's solvers step.
func ValueGrads(m Machine, params, grads G.Nodes) ([]G.ValueGrad, error) {
	if len(params) != len(grads) {
		return nil, fmt.Errorf("ot: %d parameters, %d gradients", len(params), len(grads))
	}
	vgs := make([]G.ValueGrad, len(params))
	for i, p := range params {
		pv, err := m.Value(p)
		if err != nil {
			return nil, err
		}
		gv, err := m.Value(grads[i])
		if err != nil {
			return nil, err
		}
		vgs[i] = valueGrad{pv, gv}
	}
	return vgs, nil
}

type valueGrad struct{ v, g G.Value }

func (vg valueGrad) Value() G.Value         { return vg.v }
func (vg valueGrad) Grad() (G.Value, error) { return vg.g, nil }
