package layers

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// GELUGate is the gate in the middle of Restormer's GDFN: x (B, 2h, H, W) is
// split along channels into x1 (the first h) and x2, and the result
// (B, h, H, W) is GELU(x1)*x2 with the exact GELU x*Phi(x) (erf form, as F.gelu).
func GELUGate(x *G.Node) (*G.Node, error) {
	_, c, _, _, err := nchw("GELUGate", x)
	if err != nil {
		return nil, err
	}
	if c%2 != 0 {
		return nil, fmt.Errorf("GELUGate: %d channels cannot be split in two", c)
	}
	return op.Apply(geluGate{x.Shape().Clone()}, x)
}

// geluGate maps x (B, 2h, H, W) to GELU(x1)*x2.
type geluGate struct{ shape tensor.Shape }

func (k geluGate) Name() string { return fmt.Sprintf("gelu_gate%v", k.shape) }
func (k geluGate) OutShape() tensor.Shape {
	return tensor.Shape{k.shape[0], k.shape[1] / 2, k.shape[2], k.shape[3]}
}
func (k geluGate) Forward32(o []float32, in [][]float32) { geluGateForward(k.shape, o, in[0]) }
func (k geluGate) Forward64(o []float64, in [][]float64) { geluGateForward(k.shape, o, in[0]) }
func (k geluGate) DiffWRT() []bool                       { return []bool{true} }
func (k geluGate) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(geluGateGrad(k), in[0], dy)
	return G.Nodes{dx}, err
}

// geluGateGrad maps (x, dy) to dx: dx1 = dy*x2*GELU'(x1), dx2 = dy*GELU(x1).
type geluGateGrad geluGate

func (k geluGateGrad) Name() string                          { return "d" + geluGate(k).Name() }
func (k geluGateGrad) OutShape() tensor.Shape                { return k.shape }
func (k geluGateGrad) Forward32(o []float32, in [][]float32) { geluGateBack(k.shape, o, in[0], in[1]) }
func (k geluGateGrad) Forward64(o []float64, in [][]float64) { geluGateBack(k.shape, o, in[0], in[1]) }

// gelu returns GELU(x) = x*Phi(x) and its derivative Phi(x) + x*phi(x).
func gelu(x float64) (y, dy float64) {
	cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
	pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
	return x * cdf, cdf + x*pdf
}

// forGatePlanes runs f(b, c) over the h gated planes of every image in parallel.
func forGatePlanes(s tensor.Shape, f func(b, c int)) {
	h := s[1] / 2
	op.ParallelFor(s[0]*h, func(i int) { f(i/h, i%h) })
}

func geluGateForward[T op.Float](s tensor.Shape, y, x []T) {
	h, hw := s[1]/2, s[2]*s[3]
	forGatePlanes(s, func(b, c int) {
		x1 := x[(b*2*h+c)*hw:][:hw]
		x2 := x[(b*2*h+h+c)*hw:][:hw]
		out := y[(b*h+c)*hw:][:hw]
		for p, v := range x1 {
			g, _ := gelu(float64(v))
			out[p] = T(g) * x2[p]
		}
	})
}

func geluGateBack[T op.Float](s tensor.Shape, dx, x, dy []T) {
	h, hw := s[1]/2, s[2]*s[3]
	forGatePlanes(s, func(b, c int) {
		o1, o2 := (b*2*h+c)*hw, (b*2*h+h+c)*hw
		x1, x2 := x[o1:][:hw], x[o2:][:hw]
		d1, d2 := dx[o1:][:hw], dx[o2:][:hw]
		g := dy[(b*h+c)*hw:][:hw]
		for p, v := range x1 {
			y, dydx := gelu(float64(v))
			d1[p] = g[p] * x2[p] * T(dydx)
			d2[p] = g[p] * T(y)
		}
	})
}
