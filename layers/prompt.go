package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// PromptGenBlockConfig names the arguments of PromptIR's
// PromptGenBlock(prompt_dim, prompt_len, prompt_size, lin_dim).
type PromptGenBlockConfig struct {
	Dim    int // prompt_dim: channels of the prompts and of the output
	Len    int // prompt_len: number of learnable prompts
	Size   int // prompt_size: side of each prompt before resizing
	LinDim int // lin_dim: channels of the input the weights are read from
}

// PromptGenBlock is PromptIR's prompt generation block: from an input x
// (B, LinDim, H, W) it makes a prompt (B, Dim, H, W),
//
//	w = softmax(Linear(mean over H, W of x))          (B, Len)
//	p = sum_l w_l P_l                                   (B, Dim, Size, Size)
//	out = Conv3x3(Resize(p, H, W))                      bias-free 3x3 conv
//
// with learnable prompts P (1, Len, Dim, Size, Size) and bilinear
// resizing (align_corners=False, see Resize). The weights depend on the
// mean of x over the whole image, so a tile of an image gets other weights
// than the whole image. Parameters: `prompt_param` (initialised U(0, 1) as
// torch.rand), `linear_layer.weight`, `linear_layer.bias` and
// `conv3x3.weight`.
type PromptGenBlock struct {
	Prompt *G.Node // prompt_param (1, Len, Dim, Size, Size)
	Linear *Linear // linear_layer: LinDim -> Len, with bias
	Conv   *Conv2d // conv3x3: Dim -> Dim, bias-free
	cfg    PromptGenBlockConfig
}

// NewPromptGenBlock makes the block c describes, its parameters created in s.
func NewPromptGenBlock(s *Scope, c PromptGenBlockConfig) *PromptGenBlock {
	return &PromptGenBlock{
		Prompt: s.Param("prompt_param", []int{1, c.Len, c.Dim, c.Size, c.Size}, unitUniform),
		Linear: NewLinear(s.Sub("linear_layer"), LinearConfig{In: c.LinDim, Out: c.Len, Bias: true}),
		Conv:   NewConv2d(s.Sub("conv3x3"), Conv2dConfig{In: c.Dim, Out: c.Dim, Kernel: 3, Padding: 1}),
		cfg:    c,
	}
}

// unitUniform draws from U(0, 1), as torch.rand.
func unitUniform(rng *rand.Rand, n int) []float64 {
	o := make([]float64, n)
	for i := range o {
		o[i] = rng.Float64()
	}
	return o
}

// Forward makes the prompt for x (B, LinDim, H, W).
func (p *PromptGenBlock) Forward(x *G.Node) (*G.Node, error) {
	bs, c, h, w, err := nchw("PromptGenBlock", x)
	if err != nil {
		return nil, err
	}
	if c != p.cfg.LinDim {
		return nil, fmt.Errorf("PromptGenBlock: input has %d channels, want lin_dim %d", c, p.cfg.LinDim)
	}
	b := &Builder{}
	emb := b.N(op.Apply(spatialMean{b: bs, c: c, h: h, w: w}, x))
	logits := b.Do(p.Linear.Forward, emb)
	weights := b.N(op.Apply(rowSoftmax{rows: bs, n: p.cfg.Len}, logits))
	mix := promptMix{b: bs, l: p.cfg.Len, dim: p.cfg.Dim, size: p.cfg.Size}
	prompt := b.N(op.Apply(mix, weights, p.Prompt))
	prompt = b.N(Resize(prompt, h, w))
	return b.Do(p.Conv.Forward, prompt), b.Err()
}

// spatialMean: x (b, c, h, w) -> (b, c), the mean over the h*w pixels.
type spatialMean struct{ b, c, h, w int }

func (k spatialMean) hw() int { return k.h * k.w }

// PoolsImage marks the kernel as pooling over the whole image (op.ImagePool).
func (spatialMean) PoolsImage() {}
func (k spatialMean) Name() string {
	return fmt.Sprintf("spatial_mean_%dx%dx%dx%d", k.b, k.c, k.h, k.w)
}
func (k spatialMean) OutShape() tensor.Shape                { return tensor.Shape{k.b, k.c} }
func (k spatialMean) Forward32(o []float32, in [][]float32) { meanRows(o, in[0], k.hw()) }
func (k spatialMean) Forward64(o []float64, in [][]float64) { meanRows(o, in[0], k.hw()) }
func (k spatialMean) DiffWRT() []bool                       { return []bool{true} }
func (k spatialMean) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(spatialMeanGrad(k), dy)
	return G.Nodes{dx}, err
}

func meanRows[T op.Float](o, x []T, n int) {
	for i := range o {
		var s T
		for _, v := range x[i*n : (i+1)*n] {
			s += v
		}
		o[i] = s / T(n)
	}
}

// spatialMeanGrad: dy (b, c) -> dx (b, c, h, w) = dy / (h w) at every pixel.
type spatialMeanGrad spatialMean

func (k spatialMeanGrad) Name() string           { return spatialMean(k).Name() + "_grad" }
func (k spatialMeanGrad) OutShape() tensor.Shape { return tensor.Shape{k.b, k.c, k.h, k.w} }
func (k spatialMeanGrad) Forward32(o []float32, in [][]float32) {
	spreadRows(o, in[0], spatialMean(k).hw())
}
func (k spatialMeanGrad) Forward64(o []float64, in [][]float64) {
	spreadRows(o, in[0], spatialMean(k).hw())
}

func spreadRows[T op.Float](o, dy []T, n int) {
	for i, v := range dy {
		v /= T(n)
		for j := range n {
			o[i*n+j] = v
		}
	}
}

// promptMix: weights w (b, l) and prompts p (1, l, dim, size, size) ->
// (b, dim, size, size), sum_l w[i, l] p[l] per sample i: one product w P
// with P viewed as (l, dim*size*size).
type promptMix struct{ b, l, dim, size int }

func (k promptMix) n() int { return k.dim * k.size * k.size }
func (k promptMix) Name() string {
	return fmt.Sprintf("prompt_mix_%d_%d_%dx%dx%d", k.b, k.l, k.dim, k.size, k.size)
}
func (k promptMix) OutShape() tensor.Shape                { return tensor.Shape{k.b, k.dim, k.size, k.size} }
func (k promptMix) Forward32(o []float32, in [][]float32) { promptMixForward(k, o, in) }
func (k promptMix) Forward64(o []float64, in [][]float64) { promptMixForward(k, o, in) }
func (k promptMix) DiffWRT() []bool                       { return []bool{true, true} }
func (k promptMix) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	b := &Builder{}
	dw := b.N(op.Apply(promptMixGrad{k, 0}, in[1], dy))
	dp := b.N(op.Apply(promptMixGrad{k, 1}, in[0], dy))
	return G.Nodes{dw, dp}, b.Err()
}

func promptMixForward[T op.Float](k promptMix, o []T, in [][]T) {
	op.Gemm(false, false, k.b, k.n(), k.l, 1, in[0], k.l, in[1], k.n(), 0, o, k.n())
}

// promptMixGrad is promptMix's gradient with respect to input wrt: 0 the
// weights (from p, dy: dy P^T), 1 the prompts (from w, dy: w^T dy).
type promptMixGrad struct {
	f   promptMix
	wrt int
}

func (k promptMixGrad) Name() string { return fmt.Sprintf("%s_grad%d", k.f.Name(), k.wrt) }
func (k promptMixGrad) OutShape() tensor.Shape {
	if k.wrt == 0 {
		return tensor.Shape{k.f.b, k.f.l}
	}
	return tensor.Shape{1, k.f.l, k.f.dim, k.f.size, k.f.size}
}
func (k promptMixGrad) Forward32(o []float32, in [][]float32) { promptMixBackward(k, o, in) }
func (k promptMixGrad) Forward64(o []float64, in [][]float64) { promptMixBackward(k, o, in) }

func promptMixBackward[T op.Float](g promptMixGrad, o []T, in [][]T) {
	k := g.f
	if g.wrt == 0 {
		op.Gemm(false, true, k.b, k.l, k.n(), 1, in[1], k.n(), in[0], k.n(), 0, o, k.l)
		return
	}
	op.Gemm(true, false, k.l, k.n(), k.b, 1, in[0], k.l, in[1], k.n(), 0, o, k.n())
}

// rowSoftmax: the softmax of each of rows rows of n values (F.softmax(x,
// dim=1) on (rows, n)). Gorgonia's own softmax cannot be differentiated
// twice in one graph (its gradient op reports the forward op's inputs), as
// the OT trainer's two steps do.
type rowSoftmax struct{ rows, n int }

func (k rowSoftmax) Name() string                          { return fmt.Sprintf("row_softmax_%dx%d", k.rows, k.n) }
func (k rowSoftmax) OutShape() tensor.Shape                { return tensor.Shape{k.rows, k.n} }
func (k rowSoftmax) Forward32(o []float32, in [][]float32) { softmaxRows(o, in[0], k.n) }
func (k rowSoftmax) Forward64(o []float64, in [][]float64) { softmaxRows(o, in[0], k.n) }
func (k rowSoftmax) DiffWRT() []bool                       { return []bool{true} }
func (k rowSoftmax) Grad(_ G.Nodes, y, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(rowSoftmaxGrad(k), y, dy)
	return G.Nodes{dx}, err
}

func softmaxRows[T op.Float](o, x []T, n int) {
	for r := 0; r < len(x); r += n {
		row, out := x[r:r+n], o[r:r+n]
		top := slices.Max(row)
		var sum T
		for i, v := range row {
			out[i] = T(math.Exp(float64(v - top)))
			sum += out[i]
		}
		for i := range out {
			out[i] /= sum
		}
	}
}

// rowSoftmaxGrad: inputs y (the softmax) and dy; dx = y * (dy - sum_j y_j dy_j) per row.
type rowSoftmaxGrad rowSoftmax

func (k rowSoftmaxGrad) Name() string                          { return rowSoftmax(k).Name() + "_grad" }
func (k rowSoftmaxGrad) OutShape() tensor.Shape                { return tensor.Shape{k.rows, k.n} }
func (k rowSoftmaxGrad) Forward32(o []float32, in [][]float32) { softmaxRowsBack(o, in[0], in[1], k.n) }
func (k rowSoftmaxGrad) Forward64(o []float64, in [][]float64) { softmaxRowsBack(o, in[0], in[1], k.n) }

func softmaxRowsBack[T op.Float](o, y, dy []T, n int) {
	for r := 0; r < len(y); r += n {
		var dot T
		for i := r; i < r+n; i++ {
			dot += y[i] * dy[i]
		}
		for i := r; i < r+n; i++ {
			o[i] = y[i] * (dy[i] - dot)
		}
	}
}
