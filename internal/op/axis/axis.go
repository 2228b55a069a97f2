// Package axis concatenates and slices tensors along one axis, as graph
// operations whose hashes name every bound.
//
// Gorgonia merges graph nodes whose hashes are equal, and its own slice
// ops (gorgonia.Slice, and the slices gorgonia.Concat's gradient makes)
// hash their start, end and step as single bytes: x[0:10] and x[256:266]
// become one node, and blocks of 128 or 256 rows alias in a concatenation's
// gradient. The ops here hash their full shapes and offsets, and have a
// forward, a gradient and a GPU launch. Every builder of this module slices
// and concatenates through them; users reach them as layers.Slice and
// layers.ConcatAxis.
package axis

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// Concat joins xs along axis: every input has the same rank, dtype and
// sizes on the other axes. One input is returned as it is.
func Concat(axis int, xs ...*G.Node) (*G.Node, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("concat: no inputs")
	}
	for i, x := range xs {
		if x == nil {
			return nil, fmt.Errorf("concat: input %d is nil", i)
		}
	}
	s0 := xs[0].Shape()
	if axis < 0 || axis >= len(s0) {
		return nil, fmt.Errorf("concat: axis %d of a rank-%d tensor", axis, len(s0))
	}
	sizes := make([]int, len(xs))
	for i, x := range xs {
		s := x.Shape()
		if x.Dtype() != xs[0].Dtype() {
			return nil, fmt.Errorf("concat: input %d is %v, input 0 is %v", i, x.Dtype(), xs[0].Dtype())
		}
		if !sameExcept(s, s0, axis) {
			return nil, fmt.Errorf("concat: input %d has shape %v; along axis %d it must match input 0's %v elsewhere", i, s, axis, s0)
		}
		sizes[i] = s[axis]
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	out := s0.Clone()
	out[axis] = 0
	for _, n := range sizes {
		out[axis] += n
	}
	return op.Apply(concat{block: blockOf(out, axis), shape: out, axis: axis, sizes: sizes}, xs...)
}

// Slice takes [from, to) of x along axis (step 1); the result keeps x's
// rank.
func Slice(x *G.Node, axis, from, to int) (*G.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("slice: nil input")
	}
	s := x.Shape()
	if axis < 0 || axis >= len(s) {
		return nil, fmt.Errorf("slice: axis %d of a rank-%d tensor", axis, len(s))
	}
	if from < 0 || to > s[axis] || from >= to {
		return nil, fmt.Errorf("slice: [%d, %d) of axis %d, whose size is %d", from, to, axis, s[axis])
	}
	if from == 0 && to == s[axis] {
		return x, nil
	}
	return op.Apply(slice{block: blockOf(s, axis), in: s.Clone(), axis: axis, from: from, n: to - from}, x)
}

func sameExcept(a, b tensor.Shape, axis int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if i != axis && a[i] != b[i] {
			return false
		}
	}
	return true
}

// block views a tensor as (outer, total, inner) around one axis.
type block struct{ outer, total, inner int }

func blockOf(s tensor.Shape, axis int) block {
	b := block{outer: 1, total: s[axis], inner: 1}
	for _, n := range s[:axis] {
		b.outer *= n
	}
	for _, n := range s[axis+1:] {
		b.inner *= n
	}
	return b
}

// copyBlock copies n entries of the middle axis between small (outer, n,
// inner) and entries [from, from+n) of big (outer, total, inner): into big
// if toBig, else out of it.
func copyBlock[T op.Float](big, small []T, b block, from, n int, toBig bool) {
	run := n * b.inner
	for o := range b.outer {
		bi := (o*b.total + from) * b.inner
		si := o * run
		if toBig {
			copy(big[bi:bi+run], small[si:si+run])
		} else {
			copy(small[si:si+run], big[bi:bi+run])
		}
	}
}

// concat is Concat's kernel; shape is the output's.
type concat struct {
	block
	shape tensor.Shape
	axis  int
	sizes []int
}

func (k concat) Name() string {
	return fmt.Sprintf("axis.concat%v_axis%d_sizes%v", k.shape, k.axis, k.sizes)
}
func (k concat) OutShape() tensor.Shape                { return k.shape }
func (k concat) OverwritesOutput() bool                { return true }
func (k concat) Forward32(o []float32, in [][]float32) { concatInto(k, o, in) }
func (k concat) Forward64(o []float64, in [][]float64) { concatInto(k, o, in) }

func concatInto[T op.Float](k concat, o []T, in [][]T) {
	from := 0
	for i, n := range k.sizes {
		copyBlock(o, in[i], k.block, from, n, true)
		from += n
	}
}

func (k concat) DiffWRT() []bool {
	d := make([]bool, len(k.sizes))
	for i := range d {
		d[i] = true
	}
	return d
}

// Grad slices each input's block out of the output's gradient.
func (k concat) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	grads := make(G.Nodes, len(k.sizes))
	from := 0
	for i, n := range k.sizes {
		var err error
		if grads[i], err = op.Apply(slice{block: k.block, in: k.shape, axis: k.axis, from: from, n: n}, dy); err != nil {
			return nil, err
		}
		from += n
	}
	return grads, nil
}

// slice is Slice's kernel; in is the input's shape.
type slice struct {
	block
	in      tensor.Shape
	axis    int
	from, n int
}

func (k slice) Name() string {
	return fmt.Sprintf("axis.slice%v_axis%d_from%d_n%d", k.in, k.axis, k.from, k.n)
}
func (k slice) OutShape() tensor.Shape {
	s := k.in.Clone()
	s[k.axis] = k.n
	return s
}
func (k slice) OverwritesOutput() bool { return true }
func (k slice) Forward32(o []float32, in [][]float32) {
	copyBlock(in[0], o, k.block, k.from, k.n, false)
}
func (k slice) Forward64(o []float64, in [][]float64) {
	copyBlock(in[0], o, k.block, k.from, k.n, false)
}
func (k slice) DiffWRT() []bool { return []bool{true} }

// Grad places the output's gradient at the slice's offset in zeros of the
// input's shape.
func (k slice) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(embed(k), dy)
	return G.Nodes{dx}, err
}

// embed is the slice's gradient: zeros of the input's shape, with the
// slice's entries set to its input.
type embed slice

func (k embed) Name() string {
	return fmt.Sprintf("axis.embed%v_axis%d_from%d_n%d", k.in, k.axis, k.from, k.n)
}
func (k embed) OutShape() tensor.Shape { return k.in }
func (k embed) Forward32(o []float32, in [][]float32) {
	copyBlock(o, in[0], k.block, k.from, k.n, true)
}
func (k embed) Forward64(o []float64, in [][]float64) {
	copyBlock(o, in[0], k.block, k.from, k.n, true)
}
func (k embed) DiffWRT() []bool { return []bool{true} }

// Grad slices the gradient back out.
func (k embed) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(slice(k), dy)
	return G.Nodes{dx}, err
}
