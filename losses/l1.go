package losses

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/layers"
)

// L1 builds the restoration loss mean(|out - y|) over all elements, a scalar.
// out and y must have the same shape and dtype. At out = y its gradient is 0,
// as torch's abs gives.
func L1(out, y *G.Node) (*G.Node, error) {
	if out == nil || y == nil {
		return nil, fmt.Errorf("losses.L1: nil input")
	}
	if !out.Shape().Eq(y.Shape()) {
		return nil, fmt.Errorf("losses.L1: out %v and y %v differ in shape", out.Shape(), y.Shape())
	}
	if out.Dtype() != y.Dtype() {
		return nil, fmt.Errorf("losses.L1: out is %v but y is %v", out.Dtype(), y.Dtype())
	}
	if dt := out.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("losses.L1: dtype %v, want float32 or float64", dt)
	}
	if out.Shape().TotalSize() <= 0 || out.IsScalar() {
		return nil, fmt.Errorf("losses.L1: shape %v, want a non-empty tensor", out.Shape())
	}
	return op.Apply(l1Kernel{shape: out.Shape().Clone()}, out, y)
}

type l1Kernel struct{ shape tensor.Shape }

func (k l1Kernel) Name() string                          { return fmt.Sprintf("L1%v", k.shape) }
func (k l1Kernel) OutShape() tensor.Shape                { return tensor.Shape{} }
func (k l1Kernel) Forward32(o []float32, in [][]float32) { l1Forward(o, in[0], in[1]) }
func (k l1Kernel) Forward64(o []float64, in [][]float64) { l1Forward(o, in[0], in[1]) }
func (k l1Kernel) DiffWRT() []bool                       { return []bool{true, true} }

func (k l1Kernel) Grad(in G.Nodes, _, dOut *G.Node) (G.Nodes, error) {
	b := &layers.Builder{}
	dx := b.N(op.Apply(l1Grad{k.shape, 1}, in[0], in[1], dOut))
	dy := b.N(op.Apply(l1Grad{k.shape, -1}, in[0], in[1], dOut))
	return G.Nodes{dx, dy}, b.Err()
}

func l1Forward[T float](o, x, y []T) {
	s := 0.0
	for i, v := range x {
		s += math.Abs(float64(v) - float64(y[i]))
	}
	o[0] = T(s / float64(len(x)))
}

// l1Grad maps (out, y, dL) to sign * dL * sign(out - y) / N: sign 1 gives
// the gradient wrt out, -1 the one wrt y.
type l1Grad struct {
	shape tensor.Shape
	sign  float64
}

func (k l1Grad) Name() string                          { return fmt.Sprintf("gradL1%v_%g", k.shape, k.sign) }
func (k l1Grad) OutShape() tensor.Shape                { return k.shape }
func (k l1Grad) Forward32(o []float32, in [][]float32) { l1Backward(k.sign, o, in[0], in[1], in[2]) }
func (k l1Grad) Forward64(o []float64, in [][]float64) { l1Backward(k.sign, o, in[0], in[1], in[2]) }

func l1Backward[T float](sign float64, o, x, y, dl []T) {
	g := sign * float64(dl[0]) / float64(len(x))
	for i, v := range x {
		switch {
		case v > y[i]:
			o[i] = T(g)
		case v < y[i]:
			o[i] = T(-g)
		}
	}
}
