package layers

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// dwGELUGate is the middle of Restormer's GDFN in one kernel: the 3x3
// depthwise convolution of x (B, 2h, H, W) with w (2h, 1, 3, 3), stride 1,
// padding 1, no bias, then the GELU gate GELU(y1)*y2 of its two halves
// (B, h, H, W). Output plane (b, c) is made a row at a time from the
// convolutions of input planes c and c+h, two rows that stay in L1, so the
// 2h-channel convolution output is never written to memory and read back.
// The values are those of Conv followed by GELUGate, bit for bit.
//
// Its gradient recomputes the convolution (the same kernel, so the same
// values) instead of keeping it from the forward pass: a training step
// then holds h channels per GDFN between its passes instead of 3h.
type dwGELUGate struct{ g convGeom }

// fusesDWGate reports whether g is a convolution dwGELUGate computes: a
// 3x3 depthwise "same" convolution over an even number of channels.
func fusesDWGate(g convGeom) bool { return g.depthwise3x3() && g.Cin%2 == 0 }

func (k dwGELUGate) Name() string { return "dw_gelu_gate_" + k.g.String() }
func (k dwGELUGate) OutShape() tensor.Shape {
	return tensor.Shape{k.g.B, k.g.Cin / 2, k.g.H, k.g.W}
}
func (k dwGELUGate) Forward32(o []float32, in [][]float32) { dwGELUGateForward(k.g, o, in[0], in[1]) }
func (k dwGELUGate) Forward64(o []float64, in [][]float64) { dwGELUGateForward(k.g, o, in[0], in[1]) }
func (k dwGELUGate) OverwritesOutput() bool                { return true }
func (k dwGELUGate) MACs() int64                           { return convFwd(k).MACs() }
func (k dwGELUGate) DiffWRT() []bool                       { return []bool{true, true} }

// Grad recomputes y = conv(x, w), then backpropagates dy through the gate
// and the convolution as GELUGate's and Conv's gradients do.
func (k dwGELUGate) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	b := &Builder{}
	y := b.N(op.Apply(convRecompute(k), in[0], in[1]))
	dyConv := b.N(op.Apply(geluGateGrad{k.g.yShape()}, y, dy))
	if b.Err() != nil {
		return nil, b.Err()
	}
	return convFwd(k).Grad(in, y, dyConv)
}

// convRecompute is the convolution the gradient of dwGELUGate recomputes.
// It is not an op.Coster: layers.MACs counts the network's work once, as
// for Conv then GELUGate.
type convRecompute convFwd

func (k convRecompute) Name() string           { return "conv2d_recompute_" + k.g.String() }
func (k convRecompute) OutShape() tensor.Shape { return k.g.yShape() }
func (k convRecompute) Forward32(o []float32, in [][]float32) {
	convForward(k.g, o, in[0], in[1])
}
func (k convRecompute) Forward64(o []float64, in [][]float64) {
	convForward(k.g, o, in[0], in[1])
}
func (k convRecompute) OverwritesOutput() bool { return true }

// dwGELUGateForward fills out (B, h, H, W) from x (B, 2h, H, W) and w.
func dwGELUGateForward[T op.Float](g convGeom, out, x, w []T) {
	h, hw := g.Cin/2, g.H*g.W
	op.ParallelFor(g.B*h, func(i int) {
		b, c := i/h, i%h
		var w1, w2 [9]T
		copy(w1[:], w[c*9:c*9+9])
		copy(w2[:], w[(c+h)*9:(c+h)*9+9])
		x1 := x[(b*2*h+c)*hw:][:hw]
		x2 := x[(b*2*h+h+c)*hw:][:hw]
		o := out[(b*h+c)*hw:][:hw]
		if dw3Vector[T](g.W) {
			dwGateRows32(any(o).([]float32), any(x1).([]float32), any(x2).([]float32),
				any(&w1).(*[9]float32), any(&w2).(*[9]float32), g.H, g.W)
			return
		}
		// The general path: both convolved planes in scratch, then the
		// gate, as Conv and GELUGate compute them.
		y := op.Scratch[T](2 * hw)
		defer op.Release(y)
		y1, y2 := y[:hw], y[hw:]
		dw3Plane(y1, x1, &w1, g.H, g.W)
		dw3Plane(y2, x2, &w2, g.H, g.W)
		gateRow(o, y1, y2)
	})
}

// dwGateRows32 is one output plane of dwGELUGate on float32 rows of a
// multiple of 8 pixels: each row of the two convolutions (dw3Rows3AVX, as
// dw3PlaneAVX computes it) goes through the gate (geluGateRow32, as
// GELUGate computes it) while in L1.
func dwGateRows32(out, x1, x2 []float32, w1, w2 *[9]float32, h, w int) {
	rows := op.Scratch[float32](2 * w)
	defer op.Release(rows)
	r1, r2 := rows[:w], rows[w:]
	p1, p2 := newPaddedRows(x1, h, w), newPaddedRows(x2, h, w)
	defer p1.release()
	defer p2.release()
	for y := range h {
		a0, a1, a2 := p1.next(y)
		b0, b1, b2 := p2.next(y)
		dw3Rows3AVX(&r1[0], a0, a1, a2, w, w1)
		dw3Rows3AVX(&r2[0], b0, b1, b2, w, w2)
		geluGateRow32(out[y*w:(y+1)*w], r1, r2)
	}
}

// gateRow writes GELU(y1)*y2 into out, as geluGateForward does for T.
func gateRow[T op.Float](out, y1, y2 []T) {
	if isF32[T]() {
		geluGateRow32(any(out).([]float32), any(y1).([]float32), any(y2).([]float32))
		return
	}
	for p, v := range y1 {
		gv, _ := gelu(float64(v))
		out[p] = T(gv) * y2[p]
	}
}

// fusedDWGate returns the dwGELUGate that computes conv's output on x
// followed by GELUGate, and whether there is one: conv must be 3x3
// depthwise, stride 1, padding 1, without bias, over an even number of
// channels, and x's planes at least 2x2 (dwGELUGate.Forward's rows).
func fusedDWGate(x *G.Node, conv *Conv2d) (dwGELUGate, bool) {
	if x == nil || conv.Bias != nil || x.Dtype() != conv.Weight.Dtype() || x.Shape().Dims() != 4 {
		return dwGELUGate{}, false
	}
	g, err := newConvGeom(x.Shape(), conv.Weight.Shape(), conv.Stride, conv.Padding, conv.Groups)
	if err != nil || !fusesDWGate(g) {
		return dwGELUGate{}, false
	}
	return dwGELUGate{g}, true
}
