package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
	axisop "github.com/x/baryir/internal/op/axis"
)

// Scale returns a*x.
func Scale(x *G.Node, a float64) (*G.Node, error) {
	if err := checkFloat("scale", x); err != nil {
		return nil, err
	}
	return op.Apply(scale{x.Shape().Clone(), a}, x)
}

type scale struct {
	shape tensor.Shape
	a     float64
}

func (k scale) Name() string                          { return fmt.Sprintf("scale%v_%g", k.shape, k.a) }
func (k scale) OutShape() tensor.Shape                { return k.shape }
func (k scale) Forward32(o []float32, in [][]float32) { scaleBy(o, in[0], float32(k.a)) }
func (k scale) Forward64(o []float64, in [][]float64) { scaleBy(o, in[0], k.a) }
func (k scale) DiffWRT() []bool                       { return []bool{true} }
func (k scale) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(k, dy)
	return G.Nodes{dx}, err
}

func scaleBy[T op.Float](o, x []T, a T) {
	for i, v := range x {
		o[i] = a * v
	}
}

// checkFloats is checkFloat for several inputs.
func checkFloats(name string, xs ...*G.Node) error {
	for _, x := range xs {
		if err := checkFloat(name, x); err != nil {
			return err
		}
	}
	return nil
}

// Concat joins NCHW tensors of equal batch and size along the channels, as torch.cat(dim=1).
func Concat(xs ...*G.Node) (*G.Node, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("concat: no inputs")
	}
	if err := checkFloats("concat", xs...); err != nil {
		return nil, err
	}
	s0 := xs[0].Shape()
	for i, x := range xs {
		s := x.Shape()
		if len(s) != 4 || s[0] != s0[0] || s[2] != s0[2] || s[3] != s0[3] {
			return nil, fmt.Errorf("concat: input %d has shape %v, not (%d, C, %d, %d)", i, s, s0[0], s0[2], s0[3])
		}
	}
	return axisop.Concat(1, xs...)
}

// ConcatAxis joins tensors of equal rank along axis, as torch.cat(dim=axis):
// their other sizes must match. Use it, not gorgonia.Concat, whose gradient
// slices with Gorgonia's own slice op; that op's hash keeps only the low
// byte of each bound, so the graph merges slices 256 apart (see the
// package baryir's doc on slicing).
func ConcatAxis(axis int, xs ...*G.Node) (*G.Node, error) {
	if err := checkFloats("concat", xs...); err != nil {
		return nil, err
	}
	return axisop.Concat(axis, xs...)
}

// Slice takes [from, to) of x along axis, as x.narrow(axis, from, to-from)
// in PyTorch; the result keeps x's rank. Use it, not gorgonia.Slice, whose
// hash keeps only the low byte of each bound (see ConcatAxis).
func Slice(x *G.Node, axis, from, to int) (*G.Node, error) {
	if err := checkFloat("slice", x); err != nil {
		return nil, err
	}
	return axisop.Slice(x, axis, from, to)
}
