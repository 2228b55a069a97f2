package layers

import (
	"fmt"
	"runtime"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// Conv2d is torch.nn.Conv2d on NCHW tensors: square kernel, stride, zero
// padding, groups (depthwise when groups equals the channel count), optional bias.
type Conv2d struct {
	Weight                  *G.Node // (out, in/groups, k, k)
	Bias                    *G.Node // (out), nil without bias
	Stride, Padding, Groups int
}

// Conv2dConfig names the arguments of nn.Conv2d. Zero values are PyTorch's
// defaults, except Bias:
//
//	nn.Conv2d(dim*3, dim*3, kernel_size=3, stride=1, padding=1, groups=dim*3, bias=False)
//	layers.Conv2dConfig{In: 3 * dim, Out: 3 * dim, Kernel: 3, Padding: 1, Groups: 3 * dim}
type Conv2dConfig struct {
	In, Out int // channels; both must be divisible by Groups
	Kernel  int // side of the square kernel; 0 means 1
	Stride  int // 0 means 1
	Padding int // zeros added on each side
	Groups  int // 0 means 1; In for a depthwise convolution
	// Bias adds a learnable bias. It is off unless set, unlike nn.Conv2d:
	// every convolution of Restormer is built with bias=False.
	Bias bool
	// WeightInit initialises the weight; nil means PyTorch's default,
	// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which the bias always uses.
	WeightInit Init
}

// withDefaults replaces the zero values that stand for PyTorch's defaults.
func (c Conv2dConfig) withDefaults() Conv2dConfig {
	c.Kernel = max(c.Kernel, 1)
	c.Stride = max(c.Stride, 1)
	c.Groups = max(c.Groups, 1)
	return c
}

// NewConv2d makes the Conv2d c describes, its parameters `weight` (and
// `bias`) created in s. A configuration whose channels do not divide into
// its groups fails in Forward.
func NewConv2d(s *Scope, c Conv2dConfig) *Conv2d {
	c = c.withDefaults()
	fanIn := c.In / c.Groups * c.Kernel * c.Kernel
	init := c.WeightInit
	if init == nil {
		init = FanIn(fanIn)
	}
	conv := &Conv2d{Stride: c.Stride, Padding: c.Padding, Groups: c.Groups}
	conv.Weight = s.Param("weight", []int{c.Out, c.In / c.Groups, c.Kernel, c.Kernel}, init)
	if c.Bias {
		conv.Bias = s.Param("bias", []int{c.Out}, FanIn(fanIn))
	}
	return conv
}

// Forward convolves x (B, in, H, W).
func (c *Conv2d) Forward(x *G.Node) (*G.Node, error) {
	y, err := Conv(x, c.Weight, c.Stride, c.Padding, c.Groups)
	if err != nil || c.Bias == nil {
		return y, err
	}
	return AddChannelBias(y, c.Bias)
}

// Conv is the functional convolution of x (B, Cin, H, W) with w (Cout, Cin/groups, K, K).
func Conv(x, w *G.Node, stride, pad, groups int) (*G.Node, error) {
	if err := checkFloats("conv2d", x, w); err != nil {
		return nil, err
	}
	geo, err := newConvGeom(x.Shape(), w.Shape(), stride, pad, groups)
	if err != nil {
		return nil, err
	}
	return op.Apply(convFwd{geo}, x, w)
}

// convGeom holds every size of one convolution.
type convGeom struct {
	B, Cin, H, W        int
	Cout, K             int
	Stride, Pad, Groups int
	Ho, Wo              int
	cpg, opg            int // input and output channels per group
}

func newConvGeom(xs, ws tensor.Shape, stride, pad, groups int) (convGeom, error) {
	if len(xs) != 4 || len(ws) != 4 {
		return convGeom{}, fmt.Errorf("conv2d: input %v and weight %v must both be 4-D", xs, ws)
	}
	if stride < 1 || pad < 0 || groups < 1 {
		return convGeom{}, fmt.Errorf("conv2d: stride %d, pad %d, groups %d out of range", stride, pad, groups)
	}
	g := convGeom{B: xs[0], Cin: xs[1], H: xs[2], W: xs[3], Cout: ws[0], K: ws[2],
		Stride: stride, Pad: pad, Groups: groups}
	if ws[2] != ws[3] {
		return g, fmt.Errorf("conv2d: kernel %dx%d is not square", ws[2], ws[3])
	}
	if g.Cin%groups != 0 || g.Cout%groups != 0 || ws[1] != g.Cin/groups {
		return g, fmt.Errorf("conv2d: weight %v does not fit %d input channels in %d groups", ws, g.Cin, groups)
	}
	g.Ho = (g.H+2*pad-g.K)/stride + 1
	g.Wo = (g.W+2*pad-g.K)/stride + 1
	if g.Ho < 1 || g.Wo < 1 {
		return g, fmt.Errorf("conv2d: input %dx%d is smaller than kernel %d with padding %d", g.H, g.W, g.K, pad)
	}
	g.cpg, g.opg = g.Cin/groups, g.Cout/groups
	return g, nil
}

func (g convGeom) String() string {
	return fmt.Sprintf("x%dx%dx%dx%d_w%dx%d_s%dp%dg%d", g.B, g.Cin, g.H, g.W, g.Cout, g.K, g.Stride, g.Pad, g.Groups)
}

func (g convGeom) xShape() tensor.Shape { return tensor.Shape{g.B, g.Cin, g.H, g.W} }
func (g convGeom) wShape() tensor.Shape { return tensor.Shape{g.Cout, g.cpg, g.K, g.K} }
func (g convGeom) yShape() tensor.Shape { return tensor.Shape{g.B, g.Cout, g.Ho, g.Wo} }

// pointwise convolutions read the input as a matrix with no im2col copy.
func (g convGeom) pointwise() bool { return g.K == 1 && g.Stride == 1 && g.Pad == 0 }

func (g convGeom) depthwise() bool { return g.cpg == 1 && g.opg == 1 }

// convFwd: inputs x, w; output y.
type convFwd struct{ g convGeom }

func (k convFwd) Name() string                          { return "conv2d_" + k.g.String() }
func (k convFwd) OutShape() tensor.Shape                { return k.g.yShape() }
func (k convFwd) Forward32(o []float32, in [][]float32) { convForward(k.g, o, in[0], in[1]) }
func (k convFwd) Forward64(o []float64, in [][]float64) { convForward(k.g, o, in[0], in[1]) }
func (k convFwd) DiffWRT() []bool                       { return []bool{true, true} }
func (k convFwd) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	b := &Builder{}
	dx := b.N(op.Apply(convGradX{k.g}, in[1], dy))
	dw := b.N(op.Apply(convGradW{k.g}, in[0], dy))
	return G.Nodes{dx, dw}, b.Err()
}

// convGradX: inputs w, dy; output dx.
type convGradX struct{ g convGeom }

func (k convGradX) Name() string                          { return "conv2d_dx_" + k.g.String() }
func (k convGradX) OutShape() tensor.Shape                { return k.g.xShape() }
func (k convGradX) Forward32(o []float32, in [][]float32) { convBackX(k.g, o, in[0], in[1]) }
func (k convGradX) Forward64(o []float64, in [][]float64) { convBackX(k.g, o, in[0], in[1]) }

// convGradW: inputs x, dy; output dw.
type convGradW struct{ g convGeom }

func (k convGradW) Name() string                          { return "conv2d_dw_" + k.g.String() }
func (k convGradW) OutShape() tensor.Shape                { return k.g.wShape() }
func (k convGradW) Forward32(o []float32, in [][]float32) { convBackW(k.g, o, in[0], in[1]) }
func (k convGradW) Forward64(o []float64, in [][]float64) { convBackW(k.g, o, in[0], in[1]) }

func convForward[T op.Float](g convGeom, y, x, w []T) {
	if g.depthwise3x3() {
		depthwise3x3Forward(g, y, x, w)
		return
	}
	if g.depthwise() {
		depthwiseForward(g, y, x, w)
		return
	}
	hw, ohw, ck := g.H*g.W, g.Ho*g.Wo, g.cpg*g.K*g.K
	// Tasks are (sample, group, band of output rows, part of the output
	// channels), so that one image with one group (inference at batch 1)
	// still keeps every core busy; each band gets its own im2col piece, so
	// the column buffer is a band's, not the whole image's. An image too
	// small for bands (the lowest levels) splits a pointwise convolution's
	// output channels instead.
	rows := convBandRows(g.B*g.Groups, g.Ho, g.Wo)
	bands := (g.Ho + rows - 1) / rows
	per, parts := g.opg, 1
	if g.pointwise() {
		per, parts = convChannelParts(g.B*g.Groups*bands, g.opg)
	}
	op.ParallelFor(g.B*g.Groups*bands*parts, func(t int) {
		t, part := t/parts, t%parts
		i, band := t/bands, t%bands
		b, gr := i/g.Groups, i%g.Groups
		y0, y1 := band*rows, min((band+1)*rows, g.Ho)
		n := (y1 - y0) * g.Wo
		xg := x[(b*g.Cin+gr*g.cpg)*hw:]
		yg := y[(b*g.Cout+gr*g.opg)*ohw+y0*g.Wo:]
		if g.pointwise() {
			o0, o1 := part*per, min((part+1)*per, g.opg)
			op.Gemm(false, false, o1-o0, n, ck, 1, w[(gr*g.opg+o0)*ck:], ck, xg[y0*g.Wo:], ohw, 0, yg[o0*ohw:], ohw)
			return
		}
		col := op.Scratch[T](ck * n)
		defer op.Release(col)
		im2colRows(g, col, xg, y0, y1)
		op.Gemm(false, false, g.opg, n, ck, 1, w[gr*g.opg*ck:], ck, col, n, 0, yg, ohw)
	})
}

// convChannelParts splits opg output channels into parts of per channels
// (a multiple of 6, the matrix product's panel height) when the tasks of
// a pointwise convolution are fewer than the cores: about four parts per
// core, none under convPartChannels channels.
func convChannelParts(tasks, opg int) (per, parts int) {
	procs := runtime.GOMAXPROCS(0)
	if tasks >= procs {
		return opg, 1
	}
	want := min((4*procs+tasks-1)/tasks, opg/convPartChannels)
	if want <= 1 {
		return opg, 1
	}
	per = ((opg+want-1)/want + 5) / 6 * 6
	return per, (opg + per - 1) / per
}

// convPartChannels is the fewest output channels of one part of a
// pointwise convolution split by channels.
const convPartChannels = 24

// convBandRows is the number of output rows per task of a convolution
// with tasks independent (sample, group) pairs: one band per pair when
// there are enough pairs for every core, else bands of at least
// convBandPixels output pixels, about four per core.
func convBandRows(tasks, ho, wo int) int {
	procs := runtime.GOMAXPROCS(0)
	if tasks >= procs || procs == 1 {
		return ho
	}
	want := (4*procs + tasks - 1) / tasks // bands per pair
	rows := (ho + want - 1) / want
	rows = max(rows, (convBandPixels+wo-1)/wo)
	return min(rows, ho)
}

// convBandPixels is the smallest band of a convolution's output: below it
// the matrix products' packing and the goroutines cost more than they share.
const convBandPixels = 1024

func convBackX[T op.Float](g convGeom, dx, w, dy []T) {
	if g.depthwise3x3() {
		depthwise3x3BackX(g, dx, w, dy)
		return
	}
	if g.depthwise() {
		depthwiseBackX(g, dx, w, dy)
		return
	}
	hw, ohw, ck := g.H*g.W, g.Ho*g.Wo, g.cpg*g.K*g.K
	op.ParallelFor(g.B*g.Groups, func(i int) {
		b, gr := i/g.Groups, i%g.Groups
		dxg := dx[(b*g.Cin+gr*g.cpg)*hw:]
		dyg := dy[(b*g.Cout+gr*g.opg)*ohw:]
		if g.pointwise() {
			op.Gemm(true, false, ck, ohw, g.opg, 1, w[gr*g.opg*ck:], ck, dyg, ohw, 0, dxg, ohw)
			return
		}
		col := op.Scratch[T](ck * ohw)
		defer op.Release(col)
		op.Gemm(true, false, ck, ohw, g.opg, 1, w[gr*g.opg*ck:], ck, dyg, ohw, 0, col, ohw)
		col2im(g, dxg, col)
	})
}

func convBackW[T op.Float](g convGeom, dw, x, dy []T) {
	if g.depthwise3x3() {
		depthwise3x3BackW(g, dw, x, dy)
		return
	}
	if g.depthwise() {
		depthwiseBackW(g, dw, x, dy)
		return
	}
	hw, ohw, ck := g.H*g.W, g.Ho*g.Wo, g.cpg*g.K*g.K
	// One partial weight gradient per sample, summed after, keeps workers independent.
	part := op.Scratch[T](g.B * len(dw))
	defer op.Release(part)
	op.ParallelFor(g.B*g.Groups, func(i int) {
		b, gr := i/g.Groups, i%g.Groups
		xg := x[(b*g.Cin+gr*g.cpg)*hw:]
		col := xg
		if !g.pointwise() {
			col = op.Scratch[T](ck * ohw)
			defer op.Release(col)
			im2col(g, col, xg)
		}
		dyg := dy[(b*g.Cout+gr*g.opg)*ohw:]
		op.Gemm(false, true, g.opg, ck, ohw, 1, dyg, ohw, col, ohw, 0, part[b*len(dw)+gr*g.opg*ck:], ck)
	})
	for b := range g.B {
		for j, v := range part[b*len(dw) : (b+1)*len(dw)] {
			dw[j] += v
		}
	}
}

// im2col lays out the receptive fields of one group of one sample as rows
// (channel, ky, kx) of Ho*Wo columns.
func im2col[T op.Float](g convGeom, col, x []T) { im2colRows(g, col, x, 0, g.Ho) }

// im2colRows is im2col for output rows [y0, y1) only: rows (channel, ky,
// kx) of (y1-y0)*Wo columns.
func im2colRows[T op.Float](g convGeom, col, x []T, y0, y1 int) {
	if g.Stride == 1 {
		im2colStride1(g, col, x, y0, y1)
		return
	}
	im2colGeneral(g, col, x, y0, y1)
}

func im2colGeneral[T op.Float](g convGeom, col, x []T, y0, y1 int) {
	n := (y1 - y0) * g.Wo
	for c := range g.cpg {
		plane := x[c*g.H*g.W:]
		for ky := range g.K {
			for kx := range g.K {
				row := col[((c*g.K+ky)*g.K+kx)*n:]
				for oy := y0; oy < y1; oy++ {
					iy := oy*g.Stride - g.Pad + ky
					out := row[(oy-y0)*g.Wo : (oy-y0+1)*g.Wo]
					if iy < 0 || iy >= g.H {
						clear(out)
						continue
					}
					for ox := range g.Wo {
						ix := ox*g.Stride - g.Pad + kx
						if ix < 0 || ix >= g.W {
							out[ox] = 0
						} else {
							out[ox] = plane[iy*g.W+ix]
						}
					}
				}
			}
		}
	}
}

// col2im adds the columns back onto the image positions they were read from.
func col2im[T op.Float](g convGeom, x, col []T) {
	if g.Stride == 1 {
		col2imStride1(g, x, col)
		return
	}
	col2imGeneral(g, x, col)
}

func col2imGeneral[T op.Float](g convGeom, x, col []T) {
	ohw := g.Ho * g.Wo
	for c := range g.cpg {
		plane := x[c*g.H*g.W:]
		for ky := range g.K {
			for kx := range g.K {
				row := col[((c*g.K+ky)*g.K+kx)*ohw:]
				for oy := range g.Ho {
					iy := oy*g.Stride - g.Pad + ky
					if iy < 0 || iy >= g.H {
						continue
					}
					for ox := range g.Wo {
						ix := ox*g.Stride - g.Pad + kx
						if ix >= 0 && ix < g.W {
							plane[iy*g.W+ix] += row[oy*g.Wo+ox]
						}
					}
				}
			}
		}
	}
}

// depthwise kernels loop directly: a 1×K² matrix product per channel would
// cost more in overhead than in arithmetic.
func depthwiseForward[T op.Float](g convGeom, y, x, w []T) {
	op.ParallelFor(g.B*g.Cin, func(i int) {
		c := i % g.Cin
		plane, out, wc := x[i*g.H*g.W:], y[i*g.Ho*g.Wo:], w[c*g.K*g.K:]
		for oy := range g.Ho {
			for ox := range g.Wo {
				var s T
				for ky := range g.K {
					iy := oy*g.Stride - g.Pad + ky
					if iy < 0 || iy >= g.H {
						continue
					}
					for kx := range g.K {
						ix := ox*g.Stride - g.Pad + kx
						if ix >= 0 && ix < g.W {
							s += wc[ky*g.K+kx] * plane[iy*g.W+ix]
						}
					}
				}
				out[oy*g.Wo+ox] = s
			}
		}
	})
}

func depthwiseBackX[T op.Float](g convGeom, dx, w, dy []T) {
	op.ParallelFor(g.B*g.Cin, func(i int) {
		c := i % g.Cin
		plane, d, wc := dx[i*g.H*g.W:], dy[i*g.Ho*g.Wo:], w[c*g.K*g.K:]
		for oy := range g.Ho {
			for ox := range g.Wo {
				v := d[oy*g.Wo+ox]
				for ky := range g.K {
					iy := oy*g.Stride - g.Pad + ky
					if iy < 0 || iy >= g.H {
						continue
					}
					for kx := range g.K {
						ix := ox*g.Stride - g.Pad + kx
						if ix >= 0 && ix < g.W {
							plane[iy*g.W+ix] += wc[ky*g.K+kx] * v
						}
					}
				}
			}
		}
	})
}

func depthwiseBackW[T op.Float](g convGeom, dw, x, dy []T) {
	op.ParallelFor(g.Cin, func(c int) {
		wc := dw[c*g.K*g.K:]
		for b := range g.B {
			i := b*g.Cin + c
			plane, d := x[i*g.H*g.W:], dy[i*g.Ho*g.Wo:]
			for ky := range g.K {
				for kx := range g.K {
					var s T
					for oy := range g.Ho {
						iy := oy*g.Stride - g.Pad + ky
						if iy < 0 || iy >= g.H {
							continue
						}
						for ox := range g.Wo {
							ix := ox*g.Stride - g.Pad + kx
							if ix >= 0 && ix < g.W {
								s += d[oy*g.Wo+ox] * plane[iy*g.W+ix]
							}
						}
					}
					wc[ky*g.K+kx] += s
				}
			}
		}
	})
}

// AddChannelBias adds bias (C) to every pixel of x (B, C, H, W).
func AddChannelBias(x, bias *G.Node) (*G.Node, error) {
	if err := checkFloats("channel bias", x, bias); err != nil {
		return nil, err
	}
	xs := x.Shape()
	if len(xs) != 4 || bias.Dims() != 1 || bias.Shape()[0] != xs[1] {
		return nil, fmt.Errorf("channel bias %v does not fit input %v", bias.Shape(), xs)
	}
	return op.Apply(biasAdd{xs.Clone()}, x, bias)
}

// biasAdd: inputs x, bias; output x + bias per channel.
type biasAdd struct{ shape tensor.Shape }

func (k biasAdd) Name() string                          { return fmt.Sprintf("bias_add%v", k.shape) }
func (k biasAdd) OutShape() tensor.Shape                { return k.shape }
func (k biasAdd) Forward32(o []float32, in [][]float32) { addBias(k.shape, o, in[0], in[1]) }
func (k biasAdd) Forward64(o []float64, in [][]float64) { addBias(k.shape, o, in[0], in[1]) }
func (k biasAdd) DiffWRT() []bool                       { return []bool{true, true} }
func (k biasAdd) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	db, err := op.Apply(biasGrad(k), dy)
	return G.Nodes{dy, db}, err
}

// biasGrad: input dy; output the per-channel sum.
type biasGrad biasAdd

func (k biasGrad) Name() string                          { return fmt.Sprintf("bias_grad%v", k.shape) }
func (k biasGrad) OutShape() tensor.Shape                { return tensor.Shape{k.shape[1]} }
func (k biasGrad) Forward32(o []float32, in [][]float32) { sumBias(k.shape, o, in[0]) }
func (k biasGrad) Forward64(o []float64, in [][]float64) { sumBias(k.shape, o, in[0]) }

func addBias[T op.Float](s tensor.Shape, y, x, bias []T) {
	hw := s[2] * s[3]
	for i := range s[0] * s[1] {
		v := bias[i%s[1]]
		for j := i * hw; j < (i+1)*hw; j++ {
			y[j] = x[j] + v
		}
	}
}

func sumBias[T op.Float](s tensor.Shape, db, dy []T) {
	hw := s[2] * s[3]
	for i := range s[0] * s[1] {
		var t T
		for _, v := range dy[i*hw : (i+1)*hw] {
			t += v
		}
		db[i%s[1]] += t
	}
}

// MACs counts the multiply-accumulates of the forward convolution.
func (k convFwd) MACs() int64 {
	g := k.g
	return int64(g.B) * int64(g.Cout) * int64(g.Ho*g.Wo) * int64(g.cpg*g.K*g.K)
}

// validCols is the range [lo, hi) of output columns whose input column
// ox - pad + kx lies inside the image, for stride 1.
func (g convGeom) validCols(kx int) (lo, hi int) {
	lo = max(0, g.Pad-kx)
	hi = min(g.Wo, g.W+g.Pad-kx)
	return lo, max(lo, hi)
}

// im2colStride1 is im2col for stride 1: each output row is a shifted copy
// of an input row with zeros at the ends.
func im2colStride1[T op.Float](g convGeom, col, x []T, y0, y1 int) {
	n := (y1 - y0) * g.Wo
	for c := range g.cpg {
		plane := x[c*g.H*g.W:]
		for ky := range g.K {
			for kx := range g.K {
				row := col[((c*g.K+ky)*g.K+kx)*n:]
				lo, hi := g.validCols(kx)
				for oy := y0; oy < y1; oy++ {
					iy := oy - g.Pad + ky
					out := row[(oy-y0)*g.Wo : (oy-y0+1)*g.Wo]
					if iy < 0 || iy >= g.H {
						clear(out)
						continue
					}
					clear(out[:lo])
					copy(out[lo:hi], plane[iy*g.W+lo-g.Pad+kx:])
					clear(out[hi:])
				}
			}
		}
	}
}

// col2imStride1 is col2im for stride 1: each column row adds onto a
// shifted input row.
func col2imStride1[T op.Float](g convGeom, x, col []T) {
	ohw := g.Ho * g.Wo
	for c := range g.cpg {
		plane := x[c*g.H*g.W:]
		for ky := range g.K {
			for kx := range g.K {
				row := col[((c*g.K+ky)*g.K+kx)*ohw:]
				lo, hi := g.validCols(kx)
				if hi <= lo {
					continue
				}
				for oy := range g.Ho {
					iy := oy - g.Pad + ky
					if iy < 0 || iy >= g.H {
						continue
					}
					src := row[oy*g.Wo+lo : oy*g.Wo+hi]
					dst := plane[iy*g.W+lo-g.Pad+kx:][:len(src)]
					for i, v := range src {
						dst[i] += v
					}
				}
			}
		}
	}
}
