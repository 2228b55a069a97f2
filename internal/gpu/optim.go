//go:build baryirgpu

package gpu

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
)

// Optimiser updates parameters in place on the device from their gradients,
// both buffers of an Executor, so a training step never leaves the GPU.
type Optimiser interface {
	Step(e *Executor, params, grads G.Nodes) error
}

// RMSProp keeps a running mean of squared gradients per parameter:
// c = Decay*c + (1-Decay)*g^2. By default the update is Gorgonia's
// RMSPropSolver, w -= LR*g/sqrt(c+Eps); with TorchEps it is PyTorch's
// RMSprop, w -= LR*g/(sqrt(c)+Eps) (SPEC §5: alpha 0.99, eps 1e-8).
type RMSProp struct {
	LR, Decay, Eps float64
	TorchEps       bool
	cache          map[*G.Node]Buf
}

// Step applies one update.
func (o *RMSProp) Step(e *Executor, params, grads G.Nodes) error {
	if len(params) != len(grads) {
		return fmt.Errorf("gpu: %d parameters, %d gradients", len(params), len(grads))
	}
	if o.cache == nil {
		o.cache = map[*G.Node]Buf{}
	}
	d := e.d
	for i, p := range params {
		w, ok1 := e.Buf(p)
		g, ok2 := e.Buf(grads[i])
		if !ok1 || !ok2 {
			return fmt.Errorf("gpu: parameter %s or its gradient is not resident (keep the gradients when compiling)", p.Name())
		}
		n := size(p)
		c, ok := o.cache[p]
		if !ok {
			c = d.Alloc(n)
			d.Fill(c, n, 0)
			o.cache[p] = c
		}
		d.elems("rmsprop_f32", n, w, g, c, i64(n), float32(o.LR), float32(o.Decay), float32(o.Eps), b2i(!o.TorchEps))
	}
	return d.Err()
}

// Adam is PyTorch's Adam (no weight decay).
type Adam struct {
	LR, Beta1, Beta2, Eps float64
	t                     int
	m, v                  map[*G.Node]Buf
}

// Step applies one update.
func (o *Adam) Step(e *Executor, params, grads G.Nodes) error {
	if len(params) != len(grads) {
		return fmt.Errorf("gpu: %d parameters, %d gradients", len(params), len(grads))
	}
	if o.m == nil {
		o.m, o.v = map[*G.Node]Buf{}, map[*G.Node]Buf{}
	}
	o.t++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.t))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.t))
	d := e.d
	for i, p := range params {
		w, ok1 := e.Buf(p)
		g, ok2 := e.Buf(grads[i])
		if !ok1 || !ok2 {
			return fmt.Errorf("gpu: parameter %s or its gradient is not resident", p.Name())
		}
		n := size(p)
		m, ok := o.m[p]
		if !ok {
			m, o.v[p] = d.Alloc(n), d.Alloc(n)
			d.Fill(m, n, 0)
			d.Fill(o.v[p], n, 0)
			o.m[p] = m
		}
		d.elems("adam_f32", n, w, g, m, o.v[p], i64(n), float32(o.LR), float32(o.Beta1), float32(o.Beta2),
			float32(o.Eps), float32(bc1), float32(bc2))
	}
	return d.Err()
}
