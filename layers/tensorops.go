package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
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
	chans := make([]int, len(xs))
	for i, x := range xs {
		s := x.Shape()
		if len(s) != 4 || s[0] != s0[0] || s[2] != s0[2] || s[3] != s0[3] {
			return nil, fmt.Errorf("concat: input %d has shape %v, not (%d, C, %d, %d)", i, s, s0[0], s0[2], s0[3])
		}
		chans[i] = s[1]
	}
	return op.Apply(concat{b: s0[0], hw: s0[2] * s0[3], h: s0[2], chans: chans}, xs...)
}

type concat struct {
	b, hw, h int
	chans    []int
}

func (k concat) total() int {
	t := 0
	for _, c := range k.chans {
		t += c
	}
	return t
}

func (k concat) Name() string { return fmt.Sprintf("concat_b%d_h%d_hw%d_%v", k.b, k.h, k.hw, k.chans) }
func (k concat) OutShape() tensor.Shape {
	return tensor.Shape{k.b, k.total(), k.h, k.hw / k.h}
}
func (k concat) Forward32(o []float32, in [][]float32) { concatChannels(k, o, in) }
func (k concat) Forward64(o []float64, in [][]float64) { concatChannels(k, o, in) }
func (k concat) DiffWRT() []bool {
	d := make([]bool, len(k.chans))
	for i := range d {
		d[i] = true
	}
	return d
}
func (k concat) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	b := &Builder{}
	grads := make(G.Nodes, len(k.chans))
	from := 0
	for i, c := range k.chans {
		grads[i] = b.N(op.Apply(channelSlice{c: k, from: from, n: c}, dy))
		from += c
	}
	return grads, b.Err()
}

func concatChannels[T op.Float](k concat, o []T, in [][]T) {
	total := k.total()
	for b := range k.b {
		at := b * total * k.hw
		for i, c := range k.chans {
			n := c * k.hw
			copy(o[at:at+n], in[i][b*n:(b+1)*n])
			at += n
		}
	}
}

// channelSlice takes channels [from, from+n) of the concatenated tensor.
type channelSlice struct {
	c       concat
	from, n int
}

func (k channelSlice) Name() string {
	return fmt.Sprintf("channel_slice_%s_%d_%d", k.c.Name(), k.from, k.n)
}
func (k channelSlice) OutShape() tensor.Shape {
	return tensor.Shape{k.c.b, k.n, k.c.h, k.c.hw / k.c.h}
}
func (k channelSlice) Forward32(o []float32, in [][]float32) { sliceChannels(k, o, in[0]) }
func (k channelSlice) Forward64(o []float64, in [][]float64) { sliceChannels(k, o, in[0]) }

func sliceChannels[T op.Float](k channelSlice, o, x []T) {
	total, hw := k.c.total(), k.c.hw
	for b := range k.c.b {
		copy(o[b*k.n*hw:(b+1)*k.n*hw], x[(b*total+k.from)*hw:])
	}
}
