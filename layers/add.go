package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// Add returns x + y for two tensors of the same shape and dtype (the
// residual and skip connections) as one kernel: unlike Gorgonia's Add it
// never writes into an input, so its inputs and output can share the op
// package's pooled buffers.
func Add(x, y *G.Node) (*G.Node, error) {
	if x == nil || y == nil {
		return nil, fmt.Errorf("add: nil input")
	}
	if err := checkFloats("add", x, y); err != nil {
		return nil, err
	}
	if !x.Shape().Eq(y.Shape()) {
		return nil, fmt.Errorf("add: shapes %v and %v differ", x.Shape(), y.Shape())
	}
	if x.IsScalar() {
		return G.Add(x, y)
	}
	return op.Apply(addKernel{x.Shape().Clone()}, x, y)
}

// addKernel: inputs x, y; output x + y.
type addKernel struct{ shape tensor.Shape }

func (k addKernel) Name() string                          { return fmt.Sprintf("add%v", k.shape) }
func (k addKernel) OutShape() tensor.Shape                { return k.shape }
func (k addKernel) Forward32(o []float32, in [][]float32) { addInto(o, in[0], in[1]) }
func (k addKernel) Forward64(o []float64, in [][]float64) { addInto(o, in[0], in[1]) }
func (k addKernel) DiffWRT() []bool                       { return []bool{true, true} }
func (k addKernel) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	return G.Nodes{dy, dy}, nil
}

// addInto sets o = x + y, in chunks of addChunk elements on all cores:
// the residual sums of a full-resolution level are tens of megabytes.
func addInto[T op.Float](o, x, y []T) {
	n := len(x)
	y, o = y[:n], o[:n]
	op.ParallelFor((n+addChunk-1)/addChunk, func(c int) {
		lo, hi := c*addChunk, min((c+1)*addChunk, n)
		xs, ys, os := x[lo:hi], y[lo:hi], o[lo:hi]
		for i, v := range xs {
			os[i] = v + ys[i]
		}
	})
}

// addChunk is the elements one task of addInto adds (256 KiB of float32).
const addChunk = 1 << 16

// Kernels that write every output element skip the zeroing of their
// (pooled) output buffer.

func (addKernel) OverwritesOutput() bool    { return true }
func (convFwd) OverwritesOutput() bool      { return true }
func (geluGate) OverwritesOutput() bool     { return true }
func (geluGateGrad) OverwritesOutput() bool { return true }
func (lnKernel) OverwritesOutput() bool     { return true }
func (lnGradX) OverwritesOutput() bool      { return true }
func (attnKernel) OverwritesOutput() bool   { return true }
func (scale) OverwritesOutput() bool        { return true }

// convGradX overwrites dx where no col2im accumulates into it: pointwise
// (one matrix product with beta 0) and the 3x3 depthwise rows.
func (k convGradX) OverwritesOutput() bool { return k.g.pointwise() || k.g.depthwise3x3() }
