package layers

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// PixelLinear is torch.nn.Linear applied to the channel vector of every
// pixel of an NCHW tensor, as a ViT applies it to every token: its weight
// is (out, in) as nn.Linear's, and the product runs as a 1x1 convolution.
type PixelLinear struct {
	Weight *G.Node // (out, in)
	Bias   *G.Node // (out)
}

// NewPixelLinear makes a PixelLinear with bias and nn.Linear's default initialisation.
func NewPixelLinear(s *Scope, in, out int) *PixelLinear {
	return &PixelLinear{
		Weight: s.Param("weight", []int{out, in}, FanIn(in)),
		Bias:   s.Param("bias", []int{out}, FanIn(in)),
	}
}

// Forward maps x (B, in, H, W) to (B, out, H, W).
func (l *PixelLinear) Forward(x *G.Node) (*G.Node, error) {
	ws := l.Weight.Shape()
	b := &Builder{}
	w := b.N(G.Reshape(l.Weight, tensor.Shape{ws[0], ws[1], 1, 1}))
	y := b.N(Conv(x, w, 1, 0, 1))
	return b.N(AddChannelBias(y, l.Bias)), b.Err()
}

// PixelAttention is the core of standard multi-head self-attention (ViT's
// `Attention`, after qkv and before proj) over the H*W pixels of an image
// as tokens. qkv (B, 3C, H, W) splits along channels into q, k, v, each
// seen as (B, heads, C/heads, H*W); per head, attn = softmax(q^T k /
// sqrt(C/heads)) over keys, and the result v attn^T is returned as
// (B, C, H, W). Its cost and memory are quadratic in H*W: one (H*W)^2
// score matrix per image and head.
func PixelAttention(qkv *G.Node, heads int) (*G.Node, error) {
	b, c3, h, w, err := nchw("PixelAttention", qkv)
	if err != nil {
		return nil, err
	}
	switch {
	case heads < 1:
		return nil, fmt.Errorf("PixelAttention: %d heads, want >= 1", heads)
	case c3%3 != 0:
		return nil, fmt.Errorf("PixelAttention: qkv has %d channels, not a multiple of 3", c3)
	case (c3/3)%heads != 0:
		return nil, fmt.Errorf("PixelAttention: %d channels not divisible by %d heads", c3/3, heads)
	}
	return op.Apply(pixAttn{attnDims{B: b, C: c3 / 3, H: h, W: w, Heads: heads}}, qkv)
}

// pixAttn maps qkv to v softmax(q^T k * scale)^T per (image, head).
type pixAttn struct{ d attnDims }

func (k pixAttn) Name() string                          { return "pixel_attention_" + k.d.String() }
func (k pixAttn) OutShape() tensor.Shape                { return k.d.outShape() }
func (k pixAttn) Forward32(o []float32, in [][]float32) { pixAttnForward(k.d, o, in[0]) }
func (k pixAttn) Forward64(o []float64, in [][]float64) { pixAttnForward(k.d, o, in[0]) }
func (k pixAttn) DiffWRT() []bool                       { return []bool{true} }
func (k pixAttn) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(pixAttnGrad(k), in[0], dy)
	return G.Nodes{dx}, err
}
func (pixAttn) OverwritesOutput() bool { return true }

// pixAttnGrad maps (qkv, dy) to dqkv; it recomputes the attention.
type pixAttnGrad pixAttn

func (k pixAttnGrad) Name() string                          { return "d_" + pixAttn(k).Name() }
func (k pixAttnGrad) OutShape() tensor.Shape                { return k.d.qkvShape() }
func (k pixAttnGrad) Forward32(o []float32, in [][]float32) { pixAttnBackward(k.d, o, in[0], in[1]) }
func (k pixAttnGrad) Forward64(o []float64, in [][]float64) { pixAttnBackward(k.d, o, in[0], in[1]) }
func (pixAttnGrad) OverwritesOutput() bool                  { return true }

// scale is the attention's 1/sqrt(head width).
func (d attnDims) scale() float64 { return 1 / math.Sqrt(float64(d.C/d.Heads)) }

// pixScores fills a (n x n) with softmax(scale * q^T k) for head h of image b.
func pixScores[T op.Float](d attnDims, a, qkv []T, b, h int) {
	n, ch := d.H*d.W, d.C/d.Heads
	qo, ko, _ := d.qkvOffsets(b, h)
	op.Gemm(true, false, n, n, ch, T(d.scale()), qkv[qo:], n, qkv[ko:], n, 0, a, n)
	for i := range n {
		softmaxRow(a[i*n : (i+1)*n])
	}
}

// softmaxRow replaces r by its softmax, summing in float64.
func softmaxRow[T op.Float](r []T) {
	mx := math.Inf(-1)
	for _, v := range r {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for j, v := range r {
		e := math.Exp(float64(v) - mx)
		r[j] = T(e)
		sum += e
	}
	inv := T(1 / sum)
	for j := range r {
		r[j] *= inv
	}
}

func pixAttnForward[T op.Float](d attnDims, out, qkv []T) {
	n, ch := d.H*d.W, d.C/d.Heads
	op.ParallelFor(d.B*d.Heads, func(i int) {
		b, h := i/d.Heads, i%d.Heads
		a := op.Scratch[T](n * n)
		defer op.Release(a)
		pixScores(d, a, qkv, b, h)
		_, _, vo := d.qkvOffsets(b, h)
		o := (b*d.C + h*ch) * n
		op.Gemm(false, true, ch, n, n, 1, qkv[vo:], n, a, n, 0, out[o:], n)
	})
}

// pixAttnBackward: with A the attention and dO the output gradient of one
// head, dv = dO A, dA = dO^T v, dS = A*(dA - rowsum(A*dA)), dq = scale k
// dS^T and dk = scale q dS.
func pixAttnBackward[T op.Float](d attnDims, dqkv, qkv, dy []T) {
	n, ch := d.H*d.W, d.C/d.Heads
	scale := T(d.scale())
	op.ParallelFor(d.B*d.Heads, func(i int) {
		b, h := i/d.Heads, i%d.Heads
		buf := op.Scratch[T](2 * n * n)
		defer op.Release(buf)
		a, ds := buf[:n*n], buf[n*n:]
		pixScores(d, a, qkv, b, h)
		qo, ko, vo := d.qkvOffsets(b, h)
		dO := dy[(b*d.C+h*ch)*n:]
		op.Gemm(false, false, ch, n, n, 1, dO, n, a, n, 0, dqkv[vo:], n)
		op.Gemm(true, false, n, n, ch, 1, dO, n, qkv[vo:], n, 0, ds, n)
		for r := range n {
			ar, row := a[r*n:(r+1)*n], ds[r*n:(r+1)*n]
			ad := dot(ar, row)
			for j, v := range row {
				row[j] = ar[j] * (v - ad)
			}
		}
		op.Gemm(false, true, ch, n, n, scale, qkv[ko:], n, ds, n, 0, dqkv[qo:], n)
		op.Gemm(false, false, ch, n, n, scale, qkv[qo:], n, ds, n, 0, dqkv[ko:], n)
	})
}

// MACs counts the multiply-accumulates of q^T k and v attn^T (each
// B*C*(H*W)^2); the softmax is not counted.
func (k pixAttn) MACs() int64 {
	n := int64(k.d.H * k.d.W)
	return 2 * int64(k.d.B) * int64(k.d.C) * n * n
}

// MHSA is standard multi-head self-attention (timm's ViT `Attention`) over
// the pixels of an NCHW tensor as tokens: qkv and proj are nn.Linear with
// bias on each token's channels.
type MHSA struct {
	QKV   *PixelLinear // dim -> 3 dim
	Proj  *PixelLinear // dim -> dim
	Heads int
}

// NewMHSA makes multi-head self-attention over dim channels.
func NewMHSA(s *Scope, dim, heads int) *MHSA {
	return &MHSA{QKV: NewPixelLinear(s.Sub("qkv"), dim, 3*dim), Proj: NewPixelLinear(s.Sub("proj"), dim, dim), Heads: heads}
}

// Forward applies the attention to x (B, dim, H, W).
func (m *MHSA) Forward(x *G.Node) (*G.Node, error) {
	b := &Builder{}
	qkv := b.Do(m.QKV.Forward, x)
	if b.Err() != nil {
		return nil, b.Err()
	}
	a := b.N(PixelAttention(qkv, m.Heads))
	return b.Do(m.Proj.Forward, a), b.Err()
}

// MLP is ViT's feed-forward network (timm's `Mlp`): fc1, GELU, fc2 on each token.
type MLP struct {
	FC1, FC2 *PixelLinear
}

// NewMLP makes a feed-forward network dim -> hidden -> dim.
func NewMLP(s *Scope, dim, hidden int) *MLP {
	return &MLP{FC1: NewPixelLinear(s.Sub("fc1"), dim, hidden), FC2: NewPixelLinear(s.Sub("fc2"), hidden, dim)}
}

// Forward applies the network to x (B, dim, H, W).
func (f *MLP) Forward(x *G.Node) (*G.Node, error) {
	b := &Builder{}
	h := b.Do(f.FC1.Forward, x)
	h = b.Do(GELU, h)
	return b.Do(f.FC2.Forward, h), b.Err()
}

// ViTBlock is a standard pre-norm ViT block (timm's `Block`) on the pixels of
// an NCHW tensor as tokens: x + attn(norm1(x)), then x + mlp(norm2(x)). Its
// norms are nn.LayerNorm over each token's channels with eps 1e-5, the
// computation of Restormer's WithBias LayerNorm, named `norm1.weight`,
// `norm1.bias` as nn.LayerNorm's.
type ViTBlock struct {
	Norm1 *LayerNorm
	Attn  *MHSA
	Norm2 *LayerNorm
	MLP   *MLP
}

// ViTBlockConfig names the arguments of timm's Block(dim, num_heads,
// mlp_ratio) with its defaults otherwise: qkv and MLP layers with bias.
type ViTBlockConfig struct {
	Dim    int // channels per token
	Heads  int // attention heads; must divide Dim
	Hidden int // the MLP's hidden width, int(mlp_ratio*Dim)
}

// NewViTBlock makes the ViT block c describes.
func NewViTBlock(s *Scope, c ViTBlockConfig) *ViTBlock {
	return &ViTBlock{
		Norm1: NewTokenLayerNorm(s.Sub("norm1"), c.Dim),
		Attn:  NewMHSA(s.Sub("attn"), c.Dim, c.Heads),
		Norm2: NewTokenLayerNorm(s.Sub("norm2"), c.Dim),
		MLP:   NewMLP(s.Sub("mlp"), c.Dim, c.Hidden),
	}
}

// Forward applies the block to x (B, dim, H, W).
func (v *ViTBlock) Forward(x *G.Node) (*G.Node, error) {
	b := &Builder{}
	h := b.Do(v.Norm1.Forward, x)
	h = b.Do(v.Attn.Forward, h)
	x = residual(b, x, h)
	h = b.Do(v.Norm2.Forward, x)
	h = b.Do(v.MLP.Forward, h)
	x = residual(b, x, h)
	return x, b.Err()
}
