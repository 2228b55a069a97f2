package layers

import (
	"fmt"
	"math"
	"unsafe"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// lnEps is Restormer's LayerNorm epsilon.
const lnEps = 1e-5

// LayerNorm is Restormer's LayerNorm(dim, LayerNorm_type): it normalises the
// channels of each pixel of an NCHW tensor, with the biased variance.
// WithBias: (x-mu)/sqrt(var+eps)*w + b. BiasFree: x/sqrt(var+eps)*w, where x
// is not centred though var is still taken about the mean.
type LayerNorm struct {
	Weight   *G.Node // body.weight (dim), init 1
	Bias     *G.Node // body.bias (dim), init 0; nil when BiasFree
	Dim      int
	BiasFree bool
}

// LayerNormConfig names the arguments of Restormer's LayerNorm(dim, LayerNorm_type).
type LayerNormConfig struct {
	Dim int // channels
	// BiasFree is LayerNorm_type 'BiasFree': no bias, x not centred. The
	// zero value is 'WithBias'.
	BiasFree bool
}

// NewLayerNorm makes the LayerNorm c describes with Restormer's parameter
// names, `body.weight` (and `body.bias`) under s.
func NewLayerNorm(s *Scope, c LayerNormConfig) *LayerNorm {
	body := s.Sub("body")
	ln := &LayerNorm{Dim: c.Dim, BiasFree: c.BiasFree}
	ln.Weight = body.Param("weight", []int{c.Dim}, Const(1))
	if !c.BiasFree {
		ln.Bias = body.Param("bias", []int{c.Dim}, Const(0))
	}
	return ln
}

// NewTokenLayerNorm is torch.nn.LayerNorm(dim) over the channels of each
// pixel (a ViT's token), eps 1e-5: Restormer's WithBias LayerNorm, named as
// nn.LayerNorm's parameters (`weight`, `bias`) rather than `body.weight`.
func NewTokenLayerNorm(s *Scope, dim int) *LayerNorm {
	return &LayerNorm{Dim: dim, Weight: s.Param("weight", []int{dim}, Const(1)), Bias: s.Param("bias", []int{dim}, Const(0))}
}

// Forward normalises x (B, dim, H, W).
func (ln *LayerNorm) Forward(x *G.Node) (*G.Node, error) {
	_, c, _, _, err := nchw("LayerNorm", x)
	if err != nil {
		return nil, err
	}
	if c != ln.Dim {
		return nil, fmt.Errorf("LayerNorm: input has %d channels, want %d", c, ln.Dim)
	}
	in := []*G.Node{x, ln.Weight}
	if !ln.BiasFree {
		in = append(in, ln.Bias)
	}
	for _, p := range in[1:] {
		if p.Dims() != 1 || p.Shape()[0] != c {
			return nil, fmt.Errorf("LayerNorm: parameter shape %v, want (%d)", p.Shape(), c)
		}
	}
	return op.Apply(lnKernel{shape: x.Shape().Clone(), biasFree: ln.BiasFree}, in...)
}

// lnKernel maps (x, w[, b]) to the normalised x.
type lnKernel struct {
	shape    tensor.Shape // (B, C, H, W)
	biasFree bool
}

func (k lnKernel) Name() string {
	return fmt.Sprintf("layernorm%v_biasfree=%t", k.shape, k.biasFree)
}
func (k lnKernel) OutShape() tensor.Shape                { return k.shape }
func (k lnKernel) Forward32(o []float32, in [][]float32) { lnForward(k, o, in) }
func (k lnKernel) Forward64(o []float64, in [][]float64) { lnForward(k, o, in) }
func (k lnKernel) DiffWRT() []bool {
	if k.biasFree {
		return []bool{true, true}
	}
	return []bool{true, true, true}
}

func (k lnKernel) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	b := &Builder{}
	g := G.Nodes{
		b.N(op.Apply(lnGradX(k), in[0], in[1], dy)),
		b.N(op.Apply(lnGradW(k), in[0], dy)),
	}
	if !k.biasFree {
		g = append(g, b.N(op.Apply(biasGrad{k.shape}, dy)))
	}
	return g, b.Err()
}

// lnGradX maps (x, w, dy) to dx.
type lnGradX lnKernel

func (k lnGradX) Name() string                          { return "dx_" + lnKernel(k).Name() }
func (k lnGradX) OutShape() tensor.Shape                { return k.shape }
func (k lnGradX) Forward32(o []float32, in [][]float32) { lnBackX(lnKernel(k), o, in[0], in[1], in[2]) }
func (k lnGradX) Forward64(o []float64, in [][]float64) { lnBackX(lnKernel(k), o, in[0], in[1], in[2]) }

// lnGradW maps (x, dy) to dw = sum over batch and pixels of dy * xhat.
type lnGradW lnKernel

func (k lnGradW) Name() string                          { return "dw_" + lnKernel(k).Name() }
func (k lnGradW) OutShape() tensor.Shape                { return tensor.Shape{k.shape[1]} }
func (k lnGradW) Forward32(o []float32, in [][]float32) { lnBackW(lnKernel(k), o, in[0], in[1]) }
func (k lnGradW) Forward64(o []float64, in [][]float64) { lnBackW(lnKernel(k), o, in[0], in[1]) }

// lnPixels is the number of pixels of one image one task handles.
const lnPixels = 1024

// forPixelBlocks runs f over blocks of at most lnPixels pixels of each image,
// in parallel; f gets the image and the pixel range.
func forPixelBlocks(batch, hw int, f func(b, lo, hi int)) {
	nb := (hw + lnPixels - 1) / lnPixels
	op.ParallelFor(batch*nb, func(t int) {
		b, blk := t/nb, t%nb
		f(b, blk*lnPixels, min((blk+1)*lnPixels, hw))
	})
}

// lnStats fills mu and rstd = 1/sqrt(var+eps) for pixels [lo, hi) of image b;
// mu and rstd are indexed by pixel. Two passes keep the variance accurate.
func lnStats[T op.Float](x []T, c, hw, b, lo, hi int, mu, rstd []T) {
	img := x[b*c*hw : (b+1)*c*hw]
	m, r := mu[lo:hi], rstd[lo:hi]
	nv := lnVec[T](hi - lo)
	clear(m)
	clear(r)
	for ch := range c {
		row := img[ch*hw+lo : ch*hw+hi]
		if nv > 0 {
			lnSumAVX(p32(m), p32(row), nv)
		}
		for p := nv; p < len(m); p++ {
			m[p] += row[p]
		}
	}
	inv := 1 / T(c)
	for p := range m {
		m[p] *= inv
	}
	for ch := range c {
		row := img[ch*hw+lo : ch*hw+hi]
		if nv > 0 {
			lnSqDevAVX(p32(r), p32(row), p32(m), nv)
		}
		for p := nv; p < len(r); p++ {
			d := row[p] - m[p]
			r[p] += d * d
		}
	}
	for p := range r {
		r[p] = T(1 / math.Sqrt(float64(r[p]*inv)+lnEps))
	}
}

// lnVec is how many of the first n pixels of a row the AVX kernels take:
// n rounded down to a multiple of 8 for float32 with AVX, else none.
func lnVec[T op.Float](n int) int {
	var z T
	if _, f32 := any(z).(float32); f32 && hasAVX {
		return n &^ 7
	}
	return 0
}

// p32 is &s[0] as a *float32, for the AVX kernels; only where lnVec[T] is
// not 0, so T is float32 and s not empty.
func p32[T op.Float](s []T) *float32 { return (*float32)(unsafe.Pointer(unsafe.SliceData(s))) }

func lnForward[T op.Float](k lnKernel, y []T, in [][]T) {
	x, w := in[0], in[1]
	var bias []T
	if !k.biasFree {
		bias = in[2]
	}
	c, hw := k.shape[1], k.shape[2]*k.shape[3]
	mu := op.Scratch[T](2 * hw * k.shape[0])
	defer op.Release(mu)
	mu, rstd := mu[:len(mu)/2], mu[len(mu)/2:]
	forPixelBlocks(k.shape[0], hw, func(b, lo, hi int) {
		m, r := mu[b*hw:(b+1)*hw], rstd[b*hw:(b+1)*hw]
		lnStats(x, c, hw, b, lo, hi, m, r)
		m, r = m[lo:hi], r[lo:hi]
		nv := lnVec[T](hi - lo)
		for ch := range c {
			off := (b*c + ch) * hw
			xr, yr := x[off+lo:off+hi], y[off+lo:off+hi]
			wc := w[ch]
			if k.biasFree {
				for p, v := range xr {
					yr[p] = v * r[p] * wc
				}
				continue
			}
			bc := bias[ch]
			if nv > 0 {
				lnNormAVX(p32(yr), p32(xr), p32(m), p32(r), nv, float32(wc), float32(bc))
			}
			for p := nv; p < len(xr); p++ {
				yr[p] = (xr[p]-m[p])*r[p]*wc + bc
			}
		}
	})
}

// lnBackX: with g = dy*w and xhat = (x-mu)*rstd,
// WithBias dx = rstd*(g - mean(g) - xhat*mean(g*xhat));
// BiasFree dx = rstd*(g - xhat*rstd*mean(g*x)).
func lnBackX[T op.Float](k lnKernel, dx, x, w, dy []T) {
	c, hw := k.shape[1], k.shape[2]*k.shape[3]
	n := hw * k.shape[0]
	buf := op.Scratch[T](4 * n)
	defer op.Release(buf)
	clear(buf)
	mu, rstd, m1, m2 := buf[:n], buf[n:2*n], buf[2*n:3*n], buf[3*n:]
	inv := 1 / T(c)
	forPixelBlocks(k.shape[0], hw, func(b, lo, hi int) {
		m, r := mu[b*hw:(b+1)*hw], rstd[b*hw:(b+1)*hw]
		s1, s2 := m1[b*hw+lo:b*hw+hi], m2[b*hw+lo:b*hw+hi]
		lnStats(x, c, hw, b, lo, hi, m, r)
		m, r = m[lo:hi], r[lo:hi]
		nv := lnVec[T](hi - lo)
		for ch := range c {
			off := (b*c + ch) * hw
			xr, dyr := x[off+lo:off+hi], dy[off+lo:off+hi]
			wc := w[ch]
			if nv > 0 && !k.biasFree {
				lnBackAccAVX(p32(s1), p32(s2), p32(xr), p32(dyr), p32(m), p32(r), nv, float32(wc))
				for p := nv; p < len(xr); p++ {
					g := dyr[p] * wc
					s1[p] += g
					s2[p] += g * (xr[p] - m[p]) * r[p]
				}
				continue
			}
			for p, v := range xr {
				g := dyr[p] * wc
				s1[p] += g
				if k.biasFree {
					s2[p] += g * v
				} else {
					s2[p] += g * (v - m[p]) * r[p]
				}
			}
		}
		for p := range s1 {
			s1[p] *= inv
			s2[p] *= inv
			if k.biasFree {
				s2[p] *= r[p]
				s1[p] = 0 // no centring, so mean(g) drops out
			}
		}
		for ch := range c {
			off := (b*c + ch) * hw
			xr, dyr, dxr := x[off+lo:off+hi], dy[off+lo:off+hi], dx[off+lo:off+hi]
			wc := w[ch]
			if nv > 0 {
				lnBackDxAVX(p32(dxr), p32(xr), p32(dyr), p32(m), p32(r), p32(s1), p32(s2), nv, float32(wc))
			}
			for p := nv; p < len(xr); p++ {
				xh := (xr[p] - m[p]) * r[p]
				dxr[p] = r[p] * (dyr[p]*wc - s1[p] - xh*s2[p])
			}
		}
	})
}

func lnBackW[T op.Float](k lnKernel, dw, x, dy []T) {
	bn, c, hw := k.shape[0], k.shape[1], k.shape[2]*k.shape[3]
	buf := op.Scratch[T](2 * hw * bn)
	defer op.Release(buf)
	mu, rstd := buf[:hw*bn], buf[hw*bn:]
	forPixelBlocks(bn, hw, func(b, lo, hi int) {
		lnStats(x, c, hw, b, lo, hi, mu[b*hw:(b+1)*hw], rstd[b*hw:(b+1)*hw])
	})
	if k.biasFree {
		clear(mu) // xhat = x*rstd
	}
	op.ParallelFor(c, func(ch int) {
		var acc float64 // long sums: accumulate in float64
		for b := range bn {
			off := (b*c + ch) * hw
			xr, dyr := x[off:off+hw], dy[off:off+hw]
			m, r := mu[b*hw:(b+1)*hw], rstd[b*hw:(b+1)*hw]
			var s T
			for p, v := range xr {
				s += dyr[p] * (v - m[p]) * r[p]
			}
			acc += float64(s)
		}
		dw[ch] = T(acc)
	})
}
