package baryir

import (
	"fmt"
	"math"
	"strings"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/ot"
)

// Optimizer is a PyTorch optimiser (RMSProp or Adam) that steps parameters
// wherever a machine holds them: Update on a Machine (on the GPU, on the
// device, with no host copy) or on any ot.Machine, and Step as a
// gorgonia.Solver for a plain tape machine's dual values. Its state saves
// and loads, so a resumed run continues exactly. An optimiser steps one
// list of parameters, always in the same order.
type Optimizer interface {
	ot.Solver
	G.Solver
	// LearningRate is the current rate; SetLR changes it (schedules).
	LearningRate() float64
	SetLR(lr float64)
	// State is the per-parameter buffers (in the order of the parameters)
	// and the step count; SetState restores it.
	State() (OptimizerState, error)
	SetState(OptimizerState) error
	// Close frees the state it holds on a device, if any; the optimiser
	// then starts afresh.
	Close()
}

// OptimizerKind names the optimiser a Trainer steps the network and the
// potentials with (TrainConfig.Optimizer). The zero value is
// OptimizerRMSProp, the paper's (Sec. 5). ParseOptimizer reads its name,
// "rmsprop" or "adam", as a flag gives it.
type OptimizerKind uint8

const (
	// OptimizerRMSProp is torch.optim.RMSprop without momentum or
	// centring, with PyTorch's defaults alpha 0.99, eps 1e-8: per
	// parameter, v = alpha v + (1-alpha) g^2; p -= lr g / (sqrt(v) + eps).
	// It is the paper's optimiser.
	OptimizerRMSProp OptimizerKind = iota
	// OptimizerAdam is torch.optim.Adam without weight decay or amsgrad,
	// with PyTorch's defaults betas (0.9, 0.999), eps 1e-8.
	OptimizerAdam
)

var optimizerNames = [...]string{OptimizerRMSProp: "rmsprop", OptimizerAdam: "adam"}

// String is "rmsprop" or "adam".
func (k OptimizerKind) String() string {
	if int(k) < len(optimizerNames) {
		return optimizerNames[k]
	}
	return fmt.Sprintf("OptimizerKind(%d)", uint8(k))
}

// ParseOptimizer reads "rmsprop" or "adam" (any case; "" is rmsprop).
func ParseOptimizer(s string) (OptimizerKind, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return OptimizerRMSProp, nil
	}
	for k, name := range optimizerNames {
		if t == name {
			return OptimizerKind(k), nil
		}
	}
	return 0, errorf("unknown optimizer %q (want rmsprop or adam)", s)
}

// check rejects values outside the constants.
func (k OptimizerKind) check() error {
	if int(k) >= len(optimizerNames) {
		return errorf("unknown optimizer %d (want rmsprop or adam)", uint8(k))
	}
	return nil
}

// NewOptimizer returns a fresh optimiser of the given kind at learning
// rate lr, with PyTorch's defaults for the rest.
func NewOptimizer(kind OptimizerKind, lr float64) (Optimizer, error) {
	if err := kind.check(); err != nil {
		return nil, err
	}
	return kind.newOptimizer(lr), nil
}

// newOptimizer is NewOptimizer for a kind already checked (an unknown
// kind gives RMSProp).
func (k OptimizerKind) newOptimizer(lr float64) Optimizer {
	if k == OptimizerAdam {
		o := &adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
		o.opt = opt{self: o}
		return o
	}
	o := &rmsProp{LR: lr, Alpha: 0.99, Eps: 1e-8}
	o.opt = opt{self: o}
	return o
}

// OptimizerState is what an optimiser needs to continue exactly: RMSProp's
// running squares, or Adam's first moments followed by its second moments,
// one buffer per parameter, and the number of steps taken. Buffers is nil
// before the first step.
type OptimizerState struct {
	Buffers [][]float64
	Steps   int
}

// rmsProp is torch.optim.RMSprop without momentum or centring.
type rmsProp struct {
	LR, Alpha, Eps float64
	opt
}

// adam is torch.optim.Adam without weight decay or amsgrad.
type adam struct {
	LR, Beta1, Beta2, Eps float64
	opt
}

// LearningRate is the current rate.
func (o *rmsProp) LearningRate() float64 { return o.LR }

// SetLR sets the learning rate.
func (o *rmsProp) SetLR(lr float64) { o.LR = lr }

// LearningRate is the current rate.
func (o *adam) LearningRate() float64 { return o.LR }

// SetLR sets the learning rate.
func (o *adam) SetLR(lr float64) { o.LR = lr }

func (o *rmsProp) spec() optimSpec {
	return optimSpec{adam: false, lr: o.LR, a: o.Alpha, eps: o.Eps}
}

func (o *adam) spec() optimSpec {
	return optimSpec{adam: true, lr: o.LR, a: o.Beta1, b: o.Beta2, eps: o.Eps}
}

// optimSpec is an optimiser's kind and hyperparameters, as a device engine
// needs them: a is RMSProp's alpha or Adam's beta1, b Adam's beta2.
type optimSpec struct {
	adam     bool
	lr, a, b float64
	eps      float64
}

func (s optimSpec) buffers() int {
	if s.adam {
		return 2
	}
	return 1
}

// optimEngine steps parameters held by a device (internal/gpu's RMSProp
// and Adam on the GPU).
type optimEngine interface {
	step(params, grads G.Nodes, s optimSpec) error
	state(params G.Nodes) ([][]float64, error)
	setState(params G.Nodes, bufs [][]float64, steps int) error
	free()
}

// opt is what both optimisers share: the host state (float64, as
// PyTorch's float32 run but without its rounding of the state), or the
// device engine once bound to a GPU machine.
type opt struct {
	self   interface{ spec() optimSpec }
	bufs   [][]float64 // host state, per parameter (Adam: m then v)
	steps  int
	dev    optimEngine
	devM   *Machine
	params G.Nodes // what the device engine steps
}

// Update steps params from their gradients' values on m.
func (o *opt) Update(m ot.Machine, params, grads G.Nodes) error {
	if len(params) != len(grads) {
		return errorf("optimizer: %d parameters, %d gradients", len(params), len(grads))
	}
	if bm, ok := m.(*Machine); ok {
		if err := o.bind(bm, params); err != nil {
			return err
		}
	}
	if o.dev != nil {
		if err := o.dev.step(params, grads, o.self.spec()); err != nil {
			return err
		}
		o.steps++
		return nil
	}
	vgs, err := ot.ValueGrads(m, params, grads)
	if err != nil {
		return err
	}
	return o.Step(vgs)
}

// bind hands the state to m's device engine on the first Update there.
func (o *opt) bind(m *Machine, params G.Nodes) error {
	if o.devM == m {
		return nil
	}
	if o.devM != nil {
		return errorf("optimizer: already stepping parameters on another machine")
	}
	eng, err := m.be.optimizer(o.self.spec())
	if err != nil || eng == nil {
		return err
	}
	if o.bufs != nil {
		if err := eng.setState(params, o.bufs, o.steps); err != nil {
			eng.free()
			return err
		}
	}
	o.dev, o.devM, o.params, o.bufs = eng, m, params, nil
	return nil
}

// State returns the buffers and step count (downloaded from the device
// when the optimiser steps there).
func (o *opt) State() (OptimizerState, error) {
	if o.dev != nil {
		bufs, err := o.dev.state(o.params)
		return OptimizerState{Buffers: bufs, Steps: o.steps}, err
	}
	return OptimizerState{Buffers: o.bufs, Steps: o.steps}, nil
}

// SetState restores what State returned.
func (o *opt) SetState(s OptimizerState) error {
	if s.Buffers != nil && len(s.Buffers)%o.self.spec().buffers() != 0 {
		return errorf("optimizer: %d state buffers, want a multiple of %d", len(s.Buffers), o.self.spec().buffers())
	}
	if o.dev != nil {
		if err := o.dev.setState(o.params, s.Buffers, s.Steps); err != nil {
			return err
		}
		o.steps = s.Steps
		return nil
	}
	o.bufs, o.steps = s.Buffers, s.Steps
	return nil
}

// Close frees the device state, if any; the optimiser then starts afresh.
func (o *opt) Close() {
	if o.dev != nil {
		o.dev.free()
	}
	o.dev, o.devM, o.params, o.bufs, o.steps = nil, nil, nil, nil, 0
}

// Step is the gorgonia.Solver form on host values.
func (o *opt) Step(vgs []G.ValueGrad) error {
	if o.dev != nil {
		return errorf("optimizer: stepping on a GPU machine; use Update")
	}
	s := o.self.spec()
	if o.bufs == nil {
		o.bufs = zeros(vgs, s.buffers())
	}
	if len(o.bufs) != s.buffers()*len(vgs) {
		return errorf("optimizer: state for %d parameters, stepping %d", len(o.bufs)/s.buffers(), len(vgs))
	}
	o.steps++
	r := stepRule{s: s, bufs: o.bufs, n: len(vgs)}
	if s.adam {
		r.c1 = 1 - math.Pow(s.a, float64(o.steps))
		r.c2 = 1 - math.Pow(s.b, float64(o.steps))
	}
	return each(vgs, o.bufs, r)
}

// stepRule is one step of an optimiser on host values: its spec, its state
// (one buffer per parameter for RMSProp; Adam's first moments, then its
// second) and Adam's bias corrections c1, c2.
type stepRule struct {
	s      optimSpec
	bufs   [][]float64
	n      int
	c1, c2 float64
}

// applyRule steps elements [lo, lo+len(p)) of parameter i: PyTorch's
// formulas, computed in float64 whatever T (float32 values convert
// exactly), so both dtypes take the same arithmetic.
func applyRule[T op.Float](r stepRule, i, lo int, p, g []T) {
	s := r.s
	if !s.adam {
		v := r.bufs[i][lo:]
		v = v[:len(g)]
		p = p[:len(g)]
		for j, gt := range g {
			gj := float64(gt)
			v[j] = s.a*v[j] + (1-s.a)*gj*gj
			p[j] = T(float64(p[j]) - s.lr*gj/(math.Sqrt(v[j])+s.eps))
		}
		return
	}
	m, v := r.bufs[i][lo:], r.bufs[r.n+i][lo:]
	m, v, p = m[:len(g)], v[:len(g)], p[:len(g)]
	for j, gt := range g {
		gj := float64(gt)
		m[j] = s.a*m[j] + (1-s.a)*gj
		v[j] = s.b*v[j] + (1-s.b)*gj*gj
		p[j] = T(float64(p[j]) - s.lr*(m[j]/r.c1)/(math.Sqrt(v[j]/r.c2)+s.eps))
	}
}

func zeros(vgs []G.ValueGrad, per int) [][]float64 {
	z := make([][]float64, per*len(vgs))
	for i := range z {
		z[i] = make([]float64, vgs[i%len(vgs)].Value().Shape().TotalSize())
	}
	return z
}

// each steps every parameter by rule in chunks of at most eachChunk
// elements on all cores (the Paper preset's 26 million parameters took
// seconds of a training step on one), and zeroes each chunk of the
// gradients after its step (Gorgonia's tape machine adds into dual values,
// as its own solvers expect); state[i] must match parameter i.
func each(vgs []G.ValueGrad, state [][]float64, rule stepRule) error {
	type chunk struct{ i, lo, hi int }
	var chunks []chunk
	grads := make([]G.Value, len(vgs))
	for i, vg := range vgs {
		grad, err := vg.Grad()
		if err != nil {
			return errorf("optimizer: parameter %d: %w", i, err)
		}
		size := vg.Value().Shape().TotalSize()
		if len(state[i]) != size || grad.Shape().TotalSize() != size {
			return errorf("optimizer: parameter %d has %d values, its state %d and its gradient %d", i, size, len(state[i]), grad.Shape().TotalSize())
		}
		switch vg.Value().Data().(type) {
		case []float32:
			if _, ok := grad.Data().([]float32); !ok {
				return errorf("optimizer: parameter %d is float32, its gradient %v", i, grad.Dtype())
			}
		case []float64:
			if _, ok := grad.Data().([]float64); !ok {
				return errorf("optimizer: parameter %d is float64, its gradient %v", i, grad.Dtype())
			}
		default:
			return errorf("optimizer: parameter %d has dtype %v", i, vg.Value().Dtype())
		}
		grads[i] = grad
		for lo := 0; lo < size; lo += eachChunk {
			chunks = append(chunks, chunk{i, lo, min(lo+eachChunk, size)})
		}
	}
	op.ParallelFor(len(chunks), func(t int) {
		c := chunks[t]
		switch p := vgs[c.i].Value().Data().(type) {
		case []float32:
			g := grads[c.i].Data().([]float32)[c.lo:c.hi]
			applyRule(rule, c.i, c.lo, p[c.lo:c.hi], g)
			clear(g)
		case []float64:
			g := grads[c.i].Data().([]float64)[c.lo:c.hi]
			applyRule(rule, c.i, c.lo, p[c.lo:c.hi], g)
			clear(g)
		}
	})
	return nil
}

// eachChunk is the most elements of one parameter one task of each updates.
const eachChunk = 1 << 15
