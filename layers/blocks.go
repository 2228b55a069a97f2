package layers

import (
	G "gorgonia.org/gorgonia"
)

// MDTA is Restormer's multi-Dconv head transposed attention (`attn`):
// attention across channels, so its cost is linear in the pixel count.
type MDTA struct {
	Temperature *G.Node // (heads, 1, 1)
	QKV         *Conv2d // 1x1, dim -> 3 dim
	QKVDW       *Conv2d // depthwise 3x3
	ProjectOut  *Conv2d // 1x1
	Heads       int
	// Shared, when not nil, is the attention shared with other graphs
	// (tiles) that Forward attends under; it comes from the Scope.
	Shared *SharedAttention
}

// NewMDTA makes an MDTA over dim channels with the given heads.
func NewMDTA(s *Scope, dim, heads int) *MDTA {
	return &MDTA{
		Temperature: s.Param("temperature", []int{heads, 1, 1}, Const(1)),
		QKV:         NewConv2d(s.Sub("qkv"), Conv2dConfig{In: dim, Out: 3 * dim, Kernel: 1}),
		QKVDW:       NewConv2d(s.Sub("qkv_dwconv"), Conv2dConfig{In: 3 * dim, Out: 3 * dim, Kernel: 3, Padding: 1, Groups: 3 * dim}),
		ProjectOut:  NewConv2d(s.Sub("project_out"), Conv2dConfig{In: dim, Out: dim, Kernel: 1}),
		Heads:       heads,
		Shared:      s.shared,
	}
}

// Forward applies the attention to x (B, dim, H, W).
func (m *MDTA) Forward(x *G.Node) (*G.Node, error) {
	b := &Builder{}
	qkv := b.Do(m.QKV.Forward, x)
	qkv = b.Do(m.QKVDW.Forward, qkv)
	if b.Err() != nil {
		return nil, b.Err()
	}
	var a *G.Node
	if m.Shared != nil {
		a = b.N(m.Shared.attend(qkv, m.Temperature, m.Heads))
	} else {
		a = b.N(ChannelAttention(qkv, m.Temperature, m.Heads))
	}
	return b.Do(m.ProjectOut.Forward, a), b.Err()
}

// GDFN is Restormer's gated-Dconv feed-forward network (`ffn`).
type GDFN struct {
	ProjectIn  *Conv2d // 1x1, dim -> 2 hidden
	DWConv     *Conv2d // depthwise 3x3
	ProjectOut *Conv2d // 1x1, hidden -> dim
}

// NewGDFN makes a GDFN with the given hidden width (int(2.66*dim) in Restormer).
func NewGDFN(s *Scope, dim, hidden int) *GDFN {
	return &GDFN{
		ProjectIn:  NewConv2d(s.Sub("project_in"), Conv2dConfig{In: dim, Out: 2 * hidden, Kernel: 1}),
		DWConv:     NewConv2d(s.Sub("dwconv"), Conv2dConfig{In: 2 * hidden, Out: 2 * hidden, Kernel: 3, Padding: 1, Groups: 2 * hidden}),
		ProjectOut: NewConv2d(s.Sub("project_out"), Conv2dConfig{In: hidden, Out: dim, Kernel: 1}),
	}
}

// Forward applies the feed-forward network to x (B, dim, H, W).
func (f *GDFN) Forward(x *G.Node) (*G.Node, error) {
	b := &Builder{}
	h := b.Do(f.ProjectIn.Forward, x)
	h = b.Do(f.DWConv.Forward, h)
	h = b.Do(GELUGate, h)
	return b.Do(f.ProjectOut.Forward, h), b.Err()
}

// TransformerBlock is x + attn(norm1(x)), then x + ffn(norm2(x)).
type TransformerBlock struct {
	Norm1 *LayerNorm
	Attn  *MDTA
	Norm2 *LayerNorm
	FFN   *GDFN
}

// TransformerBlockConfig names the arguments of Restormer's
// TransformerBlock(dim, num_heads, ffn_expansion_factor, bias, LayerNorm_type).
// Its convolutions have no bias (Restormer's bias=False).
type TransformerBlockConfig struct {
	Dim    int // channels
	Heads  int // attention heads; must divide Dim
	Hidden int // the GDFN's hidden width, int(ffn_expansion_factor*Dim)
	// BiasFree is LayerNorm_type 'BiasFree' for both norms; the zero value
	// is 'WithBias'.
	BiasFree bool
}

// NewTransformerBlock makes the Restormer transformer block c describes.
func NewTransformerBlock(s *Scope, c TransformerBlockConfig) *TransformerBlock {
	norm := LayerNormConfig{Dim: c.Dim, BiasFree: c.BiasFree}
	return &TransformerBlock{
		Norm1: NewLayerNorm(s.Sub("norm1"), norm),
		Attn:  NewMDTA(s.Sub("attn"), c.Dim, c.Heads),
		Norm2: NewLayerNorm(s.Sub("norm2"), norm),
		FFN:   NewGDFN(s.Sub("ffn"), c.Dim, c.Hidden),
	}
}

// Forward applies the block to x (B, dim, H, W).
func (t *TransformerBlock) Forward(x *G.Node) (*G.Node, error) {
	b := &Builder{}
	h := b.Do(t.Norm1.Forward, x)
	h = b.Do(t.Attn.Forward, h)
	x = residual(b, x, h)
	h = b.Do(t.Norm2.Forward, x)
	h = b.Do(t.FFN.Forward, h)
	x = residual(b, x, h)
	return x, b.Err()
}

// residual is Add(x, y) unless the builder holds an error.
func residual(b *Builder, x, y *G.Node) *G.Node {
	if b.Err() != nil {
		return nil
	}
	return b.N(Add(x, y))
}

// Stack is an nn.Sequential of transformer blocks, named "0", "1", ...
type Stack []*TransformerBlock

// NewStack makes n transformer blocks, each as block describes:
// Restormer's nn.Sequential(*[TransformerBlock(...) for i in range(n)]).
func NewStack(s *Scope, n int, block TransformerBlockConfig) Stack {
	st := make(Stack, n)
	for i := range st {
		st[i] = NewTransformerBlock(s.Subf("%d", i), block)
	}
	return st
}

// Forward applies the blocks in order.
func (st Stack) Forward(x *G.Node) (*G.Node, error) {
	b := &Builder{}
	for _, t := range st {
		x = b.Do(t.Forward, x)
	}
	return x, b.Err()
}

// NewPatchEmbed is Restormer's OverlapPatchEmbed: a 3x3 conv from in to dim
// channels; its state_dict prefix is the caller's scope plus "proj".
func NewPatchEmbed(s *Scope, in, dim int) *Conv2d {
	return NewConv2d(s.Sub("proj"), Conv2dConfig{In: in, Out: dim, Kernel: 3, Padding: 1})
}

// Resample is Restormer's Downsample (3x3 conv to C/2, PixelUnshuffle(2): C/2
// -> 2C at half size) or Upsample (3x3 conv to 2C, PixelShuffle(2): C/2 at
// twice the size). Its conv is `body.0`.
type Resample struct {
	Conv *Conv2d
	Down bool
}

// NewDownsample halves the size and doubles the channels of dim-channel input.
func NewDownsample(s *Scope, dim int) *Resample {
	return &Resample{Conv: NewConv2d(s.Sub("body.0"), Conv2dConfig{In: dim, Out: dim / 2, Kernel: 3, Padding: 1}), Down: true}
}

// NewUpsample doubles the size and halves the channels of dim-channel input.
func NewUpsample(s *Scope, dim int) *Resample {
	return &Resample{Conv: NewConv2d(s.Sub("body.0"), Conv2dConfig{In: dim, Out: 2 * dim, Kernel: 3, Padding: 1})}
}

// Forward resamples x.
func (r *Resample) Forward(x *G.Node) (*G.Node, error) {
	b := &Builder{}
	y := b.Do(r.Conv.Forward, x)
	if b.Err() != nil {
		return nil, b.Err()
	}
	if r.Down {
		return PixelUnshuffle(y, 2)
	}
	return PixelShuffle(y, 2)
}
