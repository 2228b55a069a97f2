package layers

// Channel attention pools over every pixel of its input: the norms of the q
// and k rows and their products q k^T are sums over pixels. Restored tile by
// tile, a large image would give each tile an attention of its own, and every
// pixel would differ from one pass over the image, not only those at seams.
// Sums over disjoint pixels add, so tiles can share the whole image's.

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// SharedAttention, given to a Scope (WithSharedAttention), changes every MDTA
// built in it: each also outputs the statistics its attention pools, summed
// over the input pixels of the Owned rectangle, and (unless Local) applies an
// attention set from outside, by Let on its Attn input, instead of its own.
//
// Tiled restoration runs a Local graph over every tile, each owning the
// pixels it alone restores; the sums of all tiles' statistics give each
// layer the attention of the whole image (SharedLayer.Attention), which
// the next pass over the tiles applies, and so on: each pass starts from
// the activations of the last, closer to the one-pass result.
type SharedAttention struct {
	// Local makes every attention use its own statistics (as plain MDTA),
	// for a first pass that only measures them.
	Local bool
	// Owned is a graph input of 4 values, y0, y1, x0, x1: the rectangle
	// [y0, y1) x [x0, x1) of input pixels whose statistics are summed. At
	// a level s times smaller, a pixel counts when its top-left input pixel
	// is inside, so that rectangles which partition the input partition
	// every level too.
	Owned *G.Node
	// Layers are the attentions, in the order they were built.
	Layers []*SharedLayer

	h, w int // the input's size
}

// NewSharedAttention makes the shared attention of a network whose input on
// g is h x w pixels.
func NewSharedAttention(g *G.ExprGraph, dtype tensor.Dtype, h, w int, local bool) *SharedAttention {
	return &SharedAttention{
		Local: local,
		Owned: G.NewTensor(g, dtype, 1, G.WithShape(4), G.WithName("shared_attention_owned")),
		h:     h, w: w,
	}
}

// Outputs are the nodes a machine must keep for the statistics to be read:
// every layer's Sums.
func (s *SharedAttention) Outputs() G.Nodes {
	out := make(G.Nodes, len(s.Layers))
	for i, l := range s.Layers {
		out[i] = l.Sums
	}
	return out
}

// SharedLayer is one MDTA under a SharedAttention.
type SharedLayer struct {
	B, Heads, Ch int     // images, heads and channels per head
	Temperature  *G.Node // the MDTA's (heads, 1, 1) parameter
	// Sums (B, heads, 2 Ch + Ch^2) are, per image and head, the squared norms
	// of the q rows, those of the k rows and the products q k^T (Ch x Ch,
	// row-major), over the owned pixels.
	Sums *G.Node
	// Attn (B, heads, Ch, Ch) is the attention applied to v; nil if Local.
	Attn *G.Node
}

// SumsSize is the number of values of Sums.
func (l *SharedLayer) SumsSize() int { return l.B * l.Heads * (2*l.Ch + l.Ch*l.Ch) }

// Attention is the attention, shaped as Attn, that statistics sums (Sums
// added over every pixel of an image) give: per image and head,
// softmax(temperature * q k^T / (|q| |k|^T)) row by row, the norms clamped to
// F.normalize's eps, as one pass over the image computes it. temperature is
// the layer's parameter value.
func (l *SharedLayer) Attention(sums []float64, temperature []float32) ([]float32, error) {
	if len(sums) != l.SumsSize() || len(temperature) != l.Heads {
		return nil, fmt.Errorf("shared attention: %d sums and %d temperatures, want %d and %d",
			len(sums), len(temperature), l.SumsSize(), l.Heads)
	}
	ch, per := l.Ch, 2*l.Ch+l.Ch*l.Ch
	out := make([]float32, l.B*l.Heads*ch*ch)
	for i := range l.B * l.Heads {
		part := sums[i*per : (i+1)*per]
		s := newAttnHead[float64](ch)
		for r := range ch {
			s.qnorm[r] = math.Max(math.Sqrt(part[r]), normEps)
			s.knorm[r] = math.Max(math.Sqrt(part[ch+r]), normEps)
		}
		copy(s.g, part[2*ch:])
		s.softmax(float64(temperature[i%l.Heads]))
		for j, v := range s.a {
			out[i*ch*ch+j] = float32(v)
		}
	}
	return out, nil
}

// attend builds the attention of one MDTA under s: qkv's statistics over
// the owned pixels, and attn v with its own or the outside attention.
func (s *SharedAttention) attend(qkv, temperature *G.Node, heads int) (*G.Node, error) {
	b := &Builder{}
	bs, c3, h, w, err := nchw("SharedAttention", qkv)
	if err != nil {
		return nil, err
	}
	if h == 0 || w == 0 || s.h%h != 0 || s.w%w != 0 || s.h/h != s.w/w {
		return nil, fmt.Errorf("SharedAttention: a %dx%d level of a %dx%d input", h, w, s.h, s.w)
	}
	if c3%3 != 0 || (c3/3)%heads != 0 {
		return nil, fmt.Errorf("SharedAttention: %d qkv channels for %d heads", c3, heads)
	}
	d := attnDims{B: bs, C: c3 / 3, H: h, W: w, Heads: heads}
	l := &SharedLayer{B: bs, Heads: heads, Ch: d.C / heads, Temperature: temperature}
	l.Sums = b.N(op.Apply(attnSumsKernel{d: d, scale: s.h / h}, qkv, s.Owned))
	var out *G.Node
	if s.Local {
		out = b.N(ChannelAttention(qkv, temperature, heads))
	} else {
		l.Attn = G.NewTensor(qkv.Graph(), qkv.Dtype(), 4, G.WithShape(bs, heads, l.Ch, l.Ch),
			G.WithName(fmt.Sprintf("shared_attention_%d", len(s.Layers))))
		out = b.N(op.Apply(attnApplyKernel{d}, qkv, l.Attn))
	}
	s.Layers = append(s.Layers, l)
	return out, b.Err()
}

// attnSumsKernel maps (qkv, owned) to the statistics of the owned pixels of
// a level scale times smaller than the input.
type attnSumsKernel struct {
	d     attnDims
	scale int
}

func (k attnSumsKernel) Name() string {
	return fmt.Sprintf("channel_attention_sums_%s_s%d", k.d, k.scale)
}
func (k attnSumsKernel) OutShape() tensor.Shape {
	ch := k.d.C / k.d.Heads
	return tensor.Shape{k.d.B, k.d.Heads, 2*ch + ch*ch}
}
func (k attnSumsKernel) OverwritesOutput() bool { return true }
func (k attnSumsKernel) Forward32(o []float32, in [][]float32) {
	attnSums(k.d, k.scale, o, in[0], in[1])
}
func (k attnSumsKernel) Forward64(o []float64, in [][]float64) {
	attnSums(k.d, k.scale, o, in[0], in[1])
}

// attnSumsPixels is how many owned pixels one product q k^T takes at once
// (the owned pixels are copied together first).
const attnSumsPixels = 4096

// attnSums fills out with the statistics of the pixels of the rectangle
// owned (in input pixels) at a level scale times smaller. Bands of rows are
// summed on their own, then added in a fixed order, so the sums do not
// depend on the number of cores.
func attnSums[T op.Float](d attnDims, scale int, out, qkv, owned []T) {
	ceil := func(v T, n int) int { return min(max((int(v)+scale-1)/scale, 0), n) }
	y0, y1 := ceil(owned[0], d.H), ceil(owned[1], d.H)
	x0, x1 := ceil(owned[2], d.W), ceil(owned[3], d.W)
	clear(out)
	if y1 <= y0 || x1 <= x0 {
		return
	}
	n, ch := d.H*d.W, d.C/d.Heads
	per, pairs, cols := 2*ch+ch*ch, d.B*d.Heads, x1-x0
	bands := min(attnChunks(pairs, (y1-y0)*cols), y1-y0)
	span := (y1 - y0 + bands - 1) / bands
	part := make([]T, pairs*bands*per)
	op.ParallelFor(pairs*bands, func(t int) {
		i, c := t/bands, t%bands
		qo, ko, _ := d.qkvOffsets(i/d.Heads, i%d.Heads)
		pp := part[t*per : (t+1)*per]
		rows := max(1, attnSumsPixels/cols)
		q, k := make([]T, ch*rows*cols), make([]T, ch*rows*cols)
		for r0 := y0 + c*span; r0 < min(y0+(c+1)*span, y1); r0 += rows {
			r1 := min(r0+rows, y0+(c+1)*span, y1)
			m := (r1 - r0) * cols
			for r := range ch {
				for y := r0; y < r1; y++ {
					copy(q[r*m+(y-r0)*cols:][:cols], qkv[qo+r*n+y*d.W+x0:])
					copy(k[r*m+(y-r0)*cols:][:cols], qkv[ko+r*n+y*d.W+x0:])
				}
				pp[r] += dot(q[r*m:(r+1)*m], q[r*m:(r+1)*m])
				pp[ch+r] += dot(k[r*m:(r+1)*m], k[r*m:(r+1)*m])
			}
			op.Gemm(false, true, ch, ch, m, 1, q, m, k, m, 1, pp[2*ch:], ch)
		}
	})
	for i := range pairs {
		o := out[i*per : (i+1)*per]
		for c := range bands {
			for j, v := range part[(i*bands+c)*per:][:per] {
				o[j] += v
			}
		}
	}
}

// attnApplyKernel maps (qkv, attn) to attn v, as ChannelAttention does with
// its own attention.
type attnApplyKernel struct{ d attnDims }

func (k attnApplyKernel) Name() string           { return "channel_attention_apply_" + k.d.String() }
func (k attnApplyKernel) OutShape() tensor.Shape { return k.d.outShape() }
func (k attnApplyKernel) OverwritesOutput() bool { return true }
func (k attnApplyKernel) Forward32(o []float32, in [][]float32) {
	applyAttn(k.d, o, in[0], func(i int) []float32 { return attnOf(k.d, in[1], i) })
}
func (k attnApplyKernel) Forward64(o []float64, in [][]float64) {
	applyAttn(k.d, o, in[0], func(i int) []float64 { return attnOf(k.d, in[1], i) })
}

// MACs counts attn v: B*heads*(C/heads)^2*H*W.
func (k attnApplyKernel) MACs() int64 { return attnKernel(k).MACs() / 2 }

// attnOf is the ch x ch attention of (image, head) pair i in a (B, heads, ch, ch) tensor.
func attnOf[T op.Float](d attnDims, a []T, i int) []T {
	ch := d.C / d.Heads
	return a[i*ch*ch : (i+1)*ch*ch]
}
