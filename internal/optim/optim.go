// Package optim holds the optimisers of the trainers: PyTorch's RMSprop and
// Adam as Gorgonia solvers whose state can be saved and restored, so that a
// resumed training run continues exactly.
package optim

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
)

// Optimizer is a Gorgonia solver with a settable learning rate and state.
type Optimizer interface {
	G.Solver
	SetLR(lr float64)
	// State returns the optimiser's per-parameter buffers and its step count,
	// in the order of the parameters it was stepped with.
	State() (bufs [][]float64, steps int)
	// SetState restores what State returned.
	SetState(bufs [][]float64, steps int) error
}

// RMSProp is torch.optim.RMSprop without momentum or centring:
// v = alpha v + (1-alpha) g^2; p -= lr g / (sqrt(v) + eps).
type RMSProp struct {
	LR, Alpha, Eps float64
	v              [][]float64
	steps          int
}

// NewRMSProp returns RMSProp with PyTorch's defaults alpha 0.99, eps 1e-8.
func NewRMSProp(lr float64) *RMSProp { return &RMSProp{LR: lr, Alpha: 0.99, Eps: 1e-8} }

// SetLR sets the learning rate.
func (o *RMSProp) SetLR(lr float64) { o.LR = lr }

// Step updates every parameter from its gradient.
func (o *RMSProp) Step(vgs []G.ValueGrad) error {
	if o.v == nil {
		o.v = zeros(vgs)
	}
	o.steps++
	return each(vgs, o.v, func(i int, p, g []float64, v []float64) {
		for j, gj := range g {
			v[j] = o.Alpha*v[j] + (1-o.Alpha)*gj*gj
			p[j] -= o.LR * gj / (math.Sqrt(v[j]) + o.Eps)
		}
	})
}

// State returns the running squares and the step count.
func (o *RMSProp) State() ([][]float64, int) { return o.v, o.steps }

// SetState restores the running squares and the step count.
func (o *RMSProp) SetState(bufs [][]float64, steps int) error {
	o.v, o.steps = bufs, steps
	return nil
}

// Adam is torch.optim.Adam without weight decay.
type Adam struct {
	LR, Beta1, Beta2, Eps float64
	m, v                  [][]float64
	steps                 int
}

// NewAdam returns Adam with PyTorch's defaults betas (0.9, 0.999), eps 1e-8.
func NewAdam(lr float64) *Adam { return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// SetLR sets the learning rate.
func (o *Adam) SetLR(lr float64) { o.LR = lr }

// Step updates every parameter from its gradient.
func (o *Adam) Step(vgs []G.ValueGrad) error {
	if o.m == nil {
		o.m, o.v = zeros(vgs), zeros(vgs)
	}
	o.steps++
	c1 := 1 - math.Pow(o.Beta1, float64(o.steps))
	c2 := 1 - math.Pow(o.Beta2, float64(o.steps))
	return each(vgs, o.v, func(i int, p, g []float64, v []float64) {
		m := o.m[i]
		for j, gj := range g {
			m[j] = o.Beta1*m[j] + (1-o.Beta1)*gj
			v[j] = o.Beta2*v[j] + (1-o.Beta2)*gj*gj
			p[j] -= o.LR * (m[j] / c1) / (math.Sqrt(v[j]/c2) + o.Eps)
		}
	})
}

// State returns the first moments followed by the second moments, and the step count.
func (o *Adam) State() ([][]float64, int) {
	return append(append([][]float64{}, o.m...), o.v...), o.steps
}

// SetState restores what State returned.
func (o *Adam) SetState(bufs [][]float64, steps int) error {
	if len(bufs)%2 != 0 {
		return fmt.Errorf("optim: Adam state has %d buffers, want an even count", len(bufs))
	}
	n := len(bufs) / 2
	o.m, o.v, o.steps = bufs[:n], bufs[n:], steps
	return nil
}

func zeros(vgs []G.ValueGrad) [][]float64 {
	z := make([][]float64, len(vgs))
	for i, vg := range vgs {
		z[i] = make([]float64, vg.Value().Shape().TotalSize())
	}
	return z
}

// each calls update with float64 views of every parameter and its gradient,
// writes the parameter back and zeroes the gradient (Gorgonia's tape machine
// adds into it, as its own solvers expect); state[i] must match parameter i.
func each(vgs []G.ValueGrad, state [][]float64, update func(i int, p, g, s []float64)) error {
	if len(state) != len(vgs) {
		return fmt.Errorf("optim: state for %d parameters, stepping %d", len(state), len(vgs))
	}
	var pbuf, gbuf []float64 // float64 copies of float32 tensors, reused across parameters
	for i, vg := range vgs {
		grad, err := vg.Grad()
		if err != nil {
			return fmt.Errorf("optim: parameter %d: %w", i, err)
		}
		if len(state[i]) != vg.Value().Shape().TotalSize() {
			return fmt.Errorf("optim: state of parameter %d has %d values, want %d", i, len(state[i]), vg.Value().Shape().TotalSize())
		}
		switch p := vg.Value().Data().(type) {
		case []float32:
			g := grad.Data().([]float32)
			pbuf, gbuf = widenInto(pbuf, p), widenInto(gbuf, g)
			p64, g64 := pbuf, gbuf
			update(i, p64, g64, state[i])
			for j, v := range p64 {
				p[j] = float32(v)
			}
		case []float64:
			update(i, p, grad.Data().([]float64), state[i])
		default:
			return fmt.Errorf("optim: parameter %d has dtype %v", i, vg.Value().Dtype())
		}
		if z, ok := grad.(interface{ Zero() }); ok {
			z.Zero()
		}
	}
	return nil
}

// widenInto converts x into buf, grown as needed, and returns it.
func widenInto(buf []float64, x []float32) []float64 {
	if cap(buf) < len(x) {
		buf = make([]float64, len(x))
	}
	o := buf[:len(x)]
	for i, v := range x {
		o[i] = float64(v)
	}
	return o
}
