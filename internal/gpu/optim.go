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
// RMSprop, w -= LR*g/(sqrt(c)+Eps) (alpha 0.99, eps 1e-8, PyTorch's defaults).
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

// State downloads the running squares of params, in their order; nil
// before the first step. internal/optim's RMSProp.State holds the same
// buffers (in float64).
func (o *RMSProp) State(e *Executor, params G.Nodes) ([][]float32, error) {
	return readState(e, params, o.cache)
}

// SetState uploads running squares as State returned them (nil: none, as
// before the first step).
func (o *RMSProp) SetState(e *Executor, params G.Nodes, bufs [][]float32) error {
	if bufs == nil {
		o.Free(e)
		return nil
	}
	if o.cache == nil {
		o.cache = map[*G.Node]Buf{}
	}
	return writeState(e, params, o.cache, bufs)
}

// Free returns the optimiser's state buffers to the device's pool; the next
// Step starts from zeros.
func (o *RMSProp) Free(e *Executor) {
	freeState(e, o.cache)
	o.cache = nil
}

// State downloads the first moments of params followed by their second
// moments, and the step count (internal/optim's Adam.State layout); nil
// before the first step.
func (o *Adam) State(e *Executor, params G.Nodes) ([][]float32, int, error) {
	m, err := readState(e, params, o.m)
	if err != nil || m == nil {
		return nil, o.t, err
	}
	v, err := readState(e, params, o.v)
	return append(m, v...), o.t, err
}

// SetState uploads what State returned.
func (o *Adam) SetState(e *Executor, params G.Nodes, bufs [][]float32, steps int) error {
	if bufs == nil {
		o.Free(e)
		o.t = steps
		return nil
	}
	if len(bufs) != 2*len(params) {
		return fmt.Errorf("gpu: Adam state has %d buffers for %d parameters", len(bufs), len(params))
	}
	if o.m == nil {
		o.m, o.v = map[*G.Node]Buf{}, map[*G.Node]Buf{}
	}
	if err := writeState(e, params, o.m, bufs[:len(params)]); err != nil {
		return err
	}
	o.t = steps
	return writeState(e, params, o.v, bufs[len(params):])
}

// Free returns the optimiser's state buffers to the device's pool; the next
// Step starts from zeros (the step count stays).
func (o *Adam) Free(e *Executor) {
	freeState(e, o.m)
	freeState(e, o.v)
	o.m, o.v = nil, nil
}

func readState(e *Executor, params G.Nodes, bufs map[*G.Node]Buf) ([][]float32, error) {
	if bufs == nil {
		return nil, nil
	}
	out := make([][]float32, len(params))
	for i, p := range params {
		out[i] = make([]float32, size(p))
		b, ok := bufs[p]
		if !ok {
			continue // never stepped: zeros
		}
		if err := e.d.Download(b, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func writeState(e *Executor, params G.Nodes, bufs map[*G.Node]Buf, data [][]float32) error {
	if len(data) != len(params) {
		return fmt.Errorf("gpu: optimiser state for %d parameters, have %d", len(data), len(params))
	}
	for i, p := range params {
		n := size(p)
		if len(data[i]) != n {
			return fmt.Errorf("gpu: optimiser state of %s has %d values, want %d", p.Name(), len(data[i]), n)
		}
		b, ok := bufs[p]
		if !ok {
			b = e.d.Alloc(n)
			bufs[p] = b
		}
		if err := e.d.Upload(b, data[i]); err != nil {
			return err
		}
	}
	return nil
}

func freeState(e *Executor, bufs map[*G.Node]Buf) {
	for _, b := range bufs {
		e.d.Free(b)
	}
}
