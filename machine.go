package baryir

import (
	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/internal/op/axis"
	"github.com/x/baryir/ot"
)

// Machine runs a Gorgonia graph, built from this module's builders and
// plain Gorgonia ops, on the CPU or on an NVIDIA GPU: the device is an
// option, not a different API. It is a gorgonia.VM (RunAll, Reset, Close),
// so it can stand in for a tape machine, and an ot.Machine, so ot.Trainer
// and the optimisers (RMSProp, Adam) run on it.
//
// A machine keeps the values of the nodes it is told to keep (Keep; by
// default the graph's roots, which include the gradients G.Grad made). It
// computes only what they need. On the GPU, values stay resident: Let
// uploads an input, Value downloads one node, Pull brings parameters back
// to their nodes. Phase compiles the part of the graph some kept roots
// need, as each side of BaryIR's alternating max-min step does.
//
// A Machine is not safe for concurrent use; make one per goroutine.
type Machine struct {
	device    Device
	precision Precision
	g         *G.ExprGraph
	keep      G.Nodes
	be        backend
	all       ot.Phase // RunAll's, made on first use
}

// backend is what a device provides: the CPU's is ot.TapeMachine, the
// GPU's the executor of internal/gpu.
type backend interface {
	ot.Machine
	pull(n *G.Node) error
	push(n *G.Node) error
	// optimizer returns the device's engine for spec, or nil where the
	// optimiser steps host values (the CPU).
	optimizer(spec optimSpec) (optimEngine, error)
	hostOps() []string
	close() error
}

// MachineOptions configure NewMachine. The zero value runs on the CPU in
// float32 and keeps the graph's roots.
type MachineOptions struct {
	// Device runs the graph on DeviceCPU ("" means the same) or DeviceGPU.
	Device Device
	// Precision is the arithmetic of the matrix products and convolutions
	// (PrecisionFP32 by default; see Precision for what changes and what
	// stays float32). TF32 and BF16 need DeviceGPU and NVIDIA's cuBLASLt
	// library at run time: NewMachine fails, naming the problem, when
	// either is missing.
	Precision Precision
	// Keep names the nodes whose values the machine keeps and computes
	// (with everything they need). Empty, the machine keeps the graph's
	// roots.
	Keep G.Nodes
	// HostFallback lets ops without a GPU kernel run on the host (the
	// stream is synchronised, inputs downloaded, the op's Do run, the
	// output uploaded). Without it, NewMachine on the GPU fails and names
	// those ops.
	HostFallback bool
	// AllowGorgoniaSlices opts in to graphs that slice an axis longer than
	// 256 with Gorgonia's own slice op or its gradient (gorgonia.Slice, and
	// the gradient of gorgonia.Concat). Without it NewMachine refuses them,
	// naming the node: that op's hash keeps only the low byte of each
	// bound, so the graph merges slices 256 apart into one. Opt in only
	// when no two slices of one node have bounds equal modulo 256.
	AllowGorgoniaSlices bool
}

// NewMachine prepares g to run. Build the whole graph, gradients included,
// first: the machine plans (on the CPU: adds copies of) the kept nodes.
func NewMachine(g *G.ExprGraph, c MachineOptions) (*Machine, error) {
	if g == nil {
		return nil, errorf("machine: nil graph")
	}
	if err := c.Device.check(); err != nil {
		return nil, errorf("machine: %w", err)
	}
	if err := c.Precision.checkOn(c.Device); err != nil {
		return nil, errorf("machine: %w", err)
	}
	if len(c.Keep) == 0 {
		c.Keep = g.Roots()
	}
	for i, n := range c.Keep {
		if n == nil || n.Graph() != g {
			return nil, errorf("machine: kept node %d is nil or of another graph", i)
		}
	}
	if !c.AllowGorgoniaSlices {
		if err := axis.CheckGorgoniaSlices(g); err != nil {
			return nil, errorf("machine: %w", err)
		}
	}
	m := &Machine{device: c.Device, precision: c.Precision, g: g, keep: c.Keep}
	if m.device == "" {
		m.device = DeviceCPU
	}
	var err error
	switch m.device {
	case DeviceGPU:
		m.be, err = newGPUBackend(g, c)
	default:
		m.be, err = newCPUBackend(g, c.Keep)
	}
	if err != nil {
		return nil, errorf("machine: device %s: %w", m.device, err)
	}
	return m, nil
}

// Let sets an input node (a placeholder, or a parameter) to v.
func (m *Machine) Let(n *G.Node, v G.Value) error {
	if n == nil || v == nil {
		return errorf("machine: Let of a nil node or value")
	}
	return m.be.Let(n, v)
}

// Value is the value of a kept node computed by the last run, or of an
// input node. Read it before the next run of any phase (a phase may reuse
// the memory of nodes it does not compute), and copy it to keep it.
func (m *Machine) Value(n *G.Node) (G.Value, error) { return m.be.Value(n) }

// Phase compiles the part of the graph that computes roots (kept nodes);
// run it as often as needed. Kept nodes that the phase computes on the way
// are readable after it too.
func (m *Machine) Phase(roots ...*G.Node) (ot.Phase, error) {
	return m.be.Phase(roots...)
}

// RunAll computes every kept node.
func (m *Machine) RunAll() error {
	if m.all == nil {
		p, err := m.be.Phase(m.keep...)
		if err != nil {
			return err
		}
		m.all = p
	}
	return m.all.Run()
}

// Pull copies the machine's values of input nodes (e.g. trained parameters)
// into the nodes' own values, where StateDictOf and Gorgonia read them. It is a
// no-op on the CPU, where the machine works on those values directly.
func (m *Machine) Pull(nodes ...*G.Node) error {
	for _, n := range nodes {
		if err := m.be.pull(n); err != nil {
			return err
		}
	}
	return nil
}

// push is Pull's reverse: after the host changed input nodes' values (Load,
// a checkpoint), it hands them to the machine. A no-op on the CPU.
func (m *Machine) push(nodes ...*G.Node) error {
	for _, n := range nodes {
		if err := m.be.push(n); err != nil {
			return err
		}
	}
	return nil
}

// hostOps lists the ops that run on the host (GPU with HostFallback).
func (m *Machine) hostOps() []string { return m.be.hostOps() }

// Close releases the machine's memory (on the GPU, its buffers go back to
// the device's pool).
func (m *Machine) Close() error {
	if m.be == nil {
		return nil
	}
	err := m.be.close()
	m.be, m.all = closedBackend{}, nil
	return err
}

// cpuBackend is ot's tape machine: parameters are the nodes' own values.
// Its phases free, after each run, the kernel outputs no kept node needs
// (op.Releaser), so one run's activations are gone before the next starts,
// and place those outputs at offsets planned before the first run in one
// arena that the phases share (op.Plan), so the memory they take stays
// close to the most that is live at once.
type cpuBackend struct {
	*ot.TapeMachine
	rel   *op.Releaser
	arena *op.Arena
}

func newCPUBackend(g *G.ExprGraph, keep G.Nodes) (backend, error) {
	tm, err := ot.NewTapeMachineAllowingSlices(g, keep...) // NewMachine checked the slices
	if err != nil {
		return nil, err
	}
	return cpuBackend{tm, op.NewReleaser(g, keep), op.NewArena()}, nil
}

func (cpuBackend) pull(*G.Node) error                       { return nil }
func (cpuBackend) push(*G.Node) error                       { return nil }
func (cpuBackend) optimizer(optimSpec) (optimEngine, error) { return nil, nil }
func (cpuBackend) hostOps() []string                        { return nil }
func (b cpuBackend) close() error                           { return b.TapeMachine.Close() }

// closedBackend answers every call of a closed machine with an error.
type closedBackend struct{}

var errClosed = errorf("the machine is closed")

func (closedBackend) Phase(...*G.Node) (ot.Phase, error)       { return nil, errClosed }
func (closedBackend) Value(*G.Node) (G.Value, error)           { return nil, errClosed }
func (closedBackend) Let(*G.Node, G.Value) error               { return errClosed }
func (closedBackend) pull(*G.Node) error                       { return errClosed }
func (closedBackend) push(*G.Node) error                       { return errClosed }
func (closedBackend) optimizer(optimSpec) (optimEngine, error) { return nil, errClosed }
func (closedBackend) hostOps() []string                        { return nil }
func (closedBackend) close() error                             { return nil }

// Phase compiles a tape phase that places the outputs only it needs by a
// plan and frees them after every run.
func (b cpuBackend) Phase(roots ...*G.Node) (ot.Phase, error) {
	p, err := b.TapeMachine.Phase(roots...)
	if err != nil {
		return nil, err
	}
	ordered, ok := p.(interface{ Order() G.Nodes })
	if !ok {
		return nil, errorf("machine: tape phase without a run order")
	}
	return releasingPhase{p, b.rel, b.rel.Plan(ordered.Order(), b.arena)}, nil
}

// releasingPhase runs a phase with its outputs placed by plan, then frees
// the outputs only it needed.
type releasingPhase struct {
	p    ot.Phase
	rel  *op.Releaser
	plan *op.Plan
}

func (p releasingPhase) Run() error {
	p.plan.Activate()
	err := p.p.Run()
	p.rel.Release()
	p.plan.Deactivate()
	return err
}
