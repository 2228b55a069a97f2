package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// Resize is F.interpolate(x, size=(h, w), mode='bilinear',
// align_corners=False) on x (B, C, H, W): output pixel i along an axis of
// input size n and output size m reads the input at
//
//	src = max((i + 0.5) * n/m - 0.5, 0)
//
// from i0 = floor(src) and i1 = min(i0 + 1, n - 1) with weights
// 1 - (src - i0) and src - i0 (PyTorch's scale is n/m whenever a size,
// not a scale factor, is given). Both axes are linear maps, so the result
// is Ry X Rx^T per image and channel, with the constant interpolation
// matrices Ry (h, H) and Rx (w, W); its gradient is Ry^T dY Rx. The
// matrices are constant nodes on x's graph, so on the GPU both are plain
// matrix products.
func Resize(x *G.Node, h, w int) (*G.Node, error) {
	b, c, hi, wi, err := nchw("resize", x)
	if err != nil {
		return nil, err
	}
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("resize: output size %dx%d, want positive", h, w)
	}
	if hi < 1 || wi < 1 {
		return nil, fmt.Errorf("resize: input size %dx%d, want positive", hi, wi)
	}
	k := resize{n: b * c, hi: hi, wi: wi, ho: h, wo: w, b: b, c: c}
	ry := constMatrix(x, fmt.Sprintf("resize_rows_%d_%d", h, hi), bilinearWeights(hi, h), h, hi)
	rx := constMatrix(x, fmt.Sprintf("resize_cols_%d_%d", w, wi), bilinearWeights(wi, w), w, wi)
	return op.Apply(k, x, ry, rx)
}

// bilinearWeights is the (out, in) matrix of align_corners=False bilinear
// interpolation from in samples to out, as PyTorch's upsample_bilinear2d
// computes its source indices and weights.
func bilinearWeights(in, out int) []float64 {
	m := make([]float64, out*in)
	scale := float64(in) / float64(out)
	for i := range out {
		src := max((float64(i)+0.5)*scale-0.5, 0)
		i0 := min(int(src), in-1)
		i1 := min(i0+1, in-1)
		l1 := src - float64(i0)
		m[i*in+i0] += 1 - l1
		m[i*in+i1] += l1
	}
	return m
}

// constMatrix is a (rows, cols) constant node of x's dtype on x's graph.
func constMatrix(x *G.Node, name string, vals []float64, rows, cols int) *G.Node {
	var backing any = vals
	if x.Dtype() == tensor.Float32 {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		backing = f
	}
	t := tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(backing))
	return G.NewMatrix(x.Graph(), x.Dtype(), G.WithShape(rows, cols), G.WithName(name), G.WithValue(t))
}

// resize: inputs x (B, C, hi, wi), ry (ho, hi), rx (wo, wi); output
// (B, C, ho, wo), computed per image as ry (x rx^T).
type resize struct {
	n, hi, wi, ho, wo int // n = B*C images
	b, c              int
}

func (k resize) Name() string {
	return fmt.Sprintf("resize_bilinear_%dx%dx%dx%d_to_%dx%d", k.b, k.c, k.hi, k.wi, k.ho, k.wo)
}
func (k resize) OutShape() tensor.Shape                { return tensor.Shape{k.b, k.c, k.ho, k.wo} }
func (k resize) Forward32(o []float32, in [][]float32) { resizeForward(k, o, in) }
func (k resize) Forward64(o []float64, in [][]float64) { resizeForward(k, o, in) }
func (k resize) DiffWRT() []bool                       { return []bool{true, false, false} }
func (k resize) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(resizeGrad(k), dy, in[1], in[2])
	return G.Nodes{dx, nil, nil}, err
}

// resizeForward: t (n*hi, wo) = x rx^T, then y_i = ry t_i per image.
func resizeForward[T op.Float](k resize, o []T, in [][]T) {
	x, ry, rx := in[0], in[1], in[2]
	t := op.Scratch[T](k.n * k.hi * k.wo)
	defer op.Release(t)
	op.Gemm(false, true, k.n*k.hi, k.wo, k.wi, 1, x, k.wi, rx, k.wi, 0, t, k.wo)
	op.ParallelFor(k.n, func(i int) {
		op.Gemm(false, false, k.ho, k.wo, k.hi, 1, ry, k.hi, t[i*k.hi*k.wo:], k.wo, 0, o[i*k.ho*k.wo:], k.wo)
	})
}

// resizeGrad: inputs dy (B, C, ho, wo), ry, rx; output dx = ry^T dy rx.
type resizeGrad resize

func (k resizeGrad) Name() string                          { return resize(k).Name() + "_grad" }
func (k resizeGrad) OutShape() tensor.Shape                { return tensor.Shape{k.b, k.c, k.hi, k.wi} }
func (k resizeGrad) Forward32(o []float32, in [][]float32) { resizeBackward(resize(k), o, in) }
func (k resizeGrad) Forward64(o []float64, in [][]float64) { resizeBackward(resize(k), o, in) }

// resizeBackward: t_i (hi, wo) = ry^T dy_i per image, then dx = t rx.
func resizeBackward[T op.Float](k resize, o []T, in [][]T) {
	dy, ry, rx := in[0], in[1], in[2]
	t := op.Scratch[T](k.n * k.hi * k.wo)
	defer op.Release(t)
	op.ParallelFor(k.n, func(i int) {
		op.Gemm(true, false, k.hi, k.wo, k.ho, 1, ry, k.hi, dy[i*k.ho*k.wo:], k.wo, 0, t[i*k.hi*k.wo:], k.wo)
	})
	op.Gemm(false, false, k.n*k.hi, k.wi, k.wo, 1, t, k.wo, rx, k.wi, 0, o, k.wi)
}

// MACs counts the multiply-accumulates of both products.
func (k resize) MACs() int64 {
	return int64(k.n) * (int64(k.hi)*int64(k.wi)*int64(k.wo) + int64(k.ho)*int64(k.hi)*int64(k.wo))
}
