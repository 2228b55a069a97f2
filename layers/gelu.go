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

// gelu returns GELU(x) = x*Phi(x) and its derivative Phi(x) + x*phi(x),
// exactly (math.Erf) in float64.
func gelu(x float64) (y, dy float64) {
	cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
	pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
	return x * cdf, cdf + x*pdf
}

// geluFast is gelu for the float32 path: erfc by Abramowitz & Stegun 7.1.26
// (absolute error below 1.5e-7, about float32 rounding), which needs only
// the exp(-x*x/2) that phi needs too, so it costs one exp instead of an
// erf and an exp.
func geluFast(x float64) (y, dy float64) {
	const (
		p                    = 0.3275911
		a1, a2, a3, a4, a5   = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429
		invSqrt2, invSqrt2Pi = 1 / math.Sqrt2, 0.3989422804014327
	)
	e := expNeg(-0.5 * x * x)
	t := 1 / (1 + p*invSqrt2*math.Abs(x))
	q := 0.5 * t * (a1 + t*(a2+t*(a3+t*(a4+t*a5)))) * e // Phi(-|x|)
	cdf := q
	if x >= 0 {
		cdf = 1 - q
	}
	return x * cdf, cdf + x*e*invSqrt2Pi
}

// expNeg is exp(x) for x <= 0 with relative error below 1e-8, about twice as
// fast as math.Exp (measured on amd64): x = (n + f)*ln2 with |f| <= 1/2, 2^f by the
// degree-7 Taylor polynomial of e^(f*ln2), 2^n put into the exponent bits.
func expNeg(x float64) float64 {
	const (
		ln2   = 0.6931471805599453
		magic = 0x1.8p52 // adding it rounds to an integer held in the low mantissa bits
	)
	if x < -700 {
		return 0
	}
	t := x*(1/ln2) + magic
	r := (x*(1/ln2) - (t - magic)) * ln2 // |r| <= ln2/2
	p := 1 + r*(1+r*(1./2+r*(1./6+r*(1./24+r*(1./120+r*(1./720+r*(1./5040)))))))
	// The low 12 bits of t's bits are n mod 4096; n+1023 lies in [13, 1023].
	return p * math.Float64frombits((math.Float64bits(t)+1023)<<52)
}

// isF32 reports whether T is float32, where the fast GELU is precise enough.
func isF32[T op.Float]() bool {
	var z T
	_, ok := any(z).(float32)
	return ok
}

// forGatePlanes runs f(b, c) over the h gated planes of every image in parallel.
func forGatePlanes(s tensor.Shape, f func(b, c int)) {
	h := s[1] / 2
	op.ParallelFor(s[0]*h, func(i int) { f(i/h, i%h) })
}

func geluGateForward[T op.Float](s tensor.Shape, y, x []T) {
	h, hw := s[1]/2, s[2]*s[3]
	fast := isF32[T]()
	forGatePlanes(s, func(b, c int) {
		x1 := x[(b*2*h+c)*hw:][:hw]
		x2 := x[(b*2*h+h+c)*hw:][:hw]
		out := y[(b*h+c)*hw:][:hw]
		if fast {
			geluGateRow32(any(out).([]float32), any(x1).([]float32), any(x2).([]float32))
			return
		}
		for p, v := range x1 {
			var g float64
			if fast {
				g, _ = geluFast(float64(v))
			} else {
				g, _ = gelu(float64(v))
			}
			out[p] = T(g) * x2[p]
		}
	})
}

func geluGateBack[T op.Float](s tensor.Shape, dx, x, dy []T) {
	h, hw := s[1]/2, s[2]*s[3]
	fast := isF32[T]()
	forGatePlanes(s, func(b, c int) {
		o1, o2 := (b*2*h+c)*hw, (b*2*h+h+c)*hw
		x1, x2 := x[o1:][:hw], x[o2:][:hw]
		d1, d2 := dx[o1:][:hw], dx[o2:][:hw]
		g := dy[(b*h+c)*hw:][:hw]
		if fast {
			geluGateBackRow32(any(d1).([]float32), any(d2).([]float32), any(x1).([]float32), any(x2).([]float32), any(g).([]float32))
			return
		}
		for p, v := range x1 {
			var y, dydx float64
			if fast {
				y, dydx = geluFast(float64(v))
			} else {
				y, dydx = gelu(float64(v))
			}
			d1[p] = g[p] * x2[p] * T(dydx)
			d2[p] = g[p] * T(y)
		}
	})
}

// GELU is torch.nn.functional.gelu, the exact x*Phi(x) (erf form), on a
// tensor of any shape: the activation of ViT's feed-forward network.
func GELU(x *G.Node) (*G.Node, error) {
	if err := checkFloat("GELU", x); err != nil {
		return nil, err
	}
	return op.Apply(geluKernel{x.Shape().Clone()}, x)
}

// geluKernel maps x to GELU(x).
type geluKernel struct{ shape tensor.Shape }

func (k geluKernel) Name() string                          { return fmt.Sprintf("gelu%v", k.shape) }
func (k geluKernel) OutShape() tensor.Shape                { return k.shape }
func (k geluKernel) Forward32(o []float32, in [][]float32) { geluForward(o, in[0]) }
func (k geluKernel) Forward64(o []float64, in [][]float64) { geluForward(o, in[0]) }
func (k geluKernel) DiffWRT() []bool                       { return []bool{true} }
func (k geluKernel) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(geluGrad(k), in[0], dy)
	return G.Nodes{dx}, err
}
func (geluKernel) OverwritesOutput() bool { return true }

// geluGrad maps (x, dy) to dx = dy*GELU'(x).
type geluGrad geluKernel

func (k geluGrad) Name() string                          { return "d" + geluKernel(k).Name() }
func (k geluGrad) OutShape() tensor.Shape                { return k.shape }
func (k geluGrad) Forward32(o []float32, in [][]float32) { geluBack(o, in[0], in[1]) }
func (k geluGrad) Forward64(o []float64, in [][]float64) { geluBack(o, in[0], in[1]) }
func (geluGrad) OverwritesOutput() bool                  { return true }

// geluOf is gelu, or geluFast for float32.
func geluOf[T op.Float](v T) (y, dy float64) {
	if isF32[T]() {
		return geluFast(float64(v))
	}
	return gelu(float64(v))
}

func geluForward[T op.Float](y, x []T) {
	forChunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g, _ := geluOf(x[i])
			y[i] = T(g)
		}
	})
}

func geluBack[T op.Float](dx, x, dy []T) {
	forChunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			_, d := geluOf(x[i])
			dx[i] = dy[i] * T(d)
		}
	})
}
