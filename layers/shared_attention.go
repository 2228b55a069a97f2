package layers

// Channel attention pools over every pixel of its input: the norms of the q
// and k rows and their products q k^T are sums over pixels. Restored tile by
// tile, a large image would give each tile an attention of its own, and every
// pixel would differ from one pass over the image, not only those at seams.
// Sums over disjoint pixels add, so tiles can share the whole image's.

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// SharedAttention, given to a Scope (WithSharedAttention), changes every MDTA
// built in it: each outputs the statistics its attention pools, summed over
// the input pixels of the Owned rectangle, and attends with statistics of
// its own weighted by Own plus a Prior set from outside:
//
//	S = Own * S(all pixels of the graph's input) + Prior,
//	A = softmax(temperature * S_qk / (|q| |k|^T)), |q| = max(sqrt(S_qq), eps),
//
// so Own 1 and a zero Prior is plain MDTA, and Own 0 with Prior the sums of
// every tile of an image applies the whole image's attention.
//
// Tiled restoration runs every tile with Own 1, each owning the pixels it
// alone restores; the sums of all tiles' statistics are the next pass's
// Prior (Own 0), and so on: each pass starts from the activations of the
// last, closer to the one-pass result.
type SharedAttention struct {
	// Owned is a graph input of 4 values, y0, y1, x0, x1: the rectangle
	// [y0, y1) x [x0, x1) of input pixels whose statistics are summed. At
	// a level s times smaller, a pixel counts when its top-left input pixel
	// is inside, so that rectangles which partition the input partition
	// every level too.
	Owned *G.Node
	// Own is a graph input of 1 value: the weight of the graph's own
	// statistics in its attention.
	Own *G.Node
	// Layers are the attentions, in the order they were built.
	Layers []*SharedLayer

	h, w int // the input's size
}

// NewSharedAttention makes the shared attention of a network whose input on
// g is h x w pixels.
func NewSharedAttention(g *G.ExprGraph, dtype tensor.Dtype, h, w int) *SharedAttention {
	return &SharedAttention{
		Owned: G.NewTensor(g, dtype, 1, G.WithShape(4), G.WithName("shared_attention_owned")),
		Own:   G.NewTensor(g, dtype, 1, G.WithShape(1), G.WithName("shared_attention_own")),
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
	// Sums (B, heads, 2 ch + ch^2), ch the channels per head, are per image
	// and head the squared norms of the q rows, those of the k rows and the
	// products q k^T (ch x ch, row-major), over the owned pixels.
	Sums *G.Node
	// Prior, shaped as Sums, is an input: the statistics added to the
	// graph's own.
	Prior *G.Node
}

// attend builds the attention of one MDTA under s: qkv's statistics over
// the owned pixels, and attn v with the pooled statistics.
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
	if ts := temperature.Shape(); !ts.Eq(tensor.Shape{heads, 1, 1}) {
		return nil, fmt.Errorf("SharedAttention: temperature shape %v, want (%d, 1, 1)", ts, heads)
	}
	d := attnDims{B: bs, C: c3 / 3, H: h, W: w, Heads: heads}
	sums := attnSumsKernel{d: d, scale: s.h / h}
	l := &SharedLayer{
		Sums: b.N(op.Apply(sums, qkv, s.Owned)),
		Prior: G.NewTensor(qkv.Graph(), qkv.Dtype(), 3, G.WithShape(sums.OutShape()...),
			G.WithName(fmt.Sprintf("shared_attention_prior_%d", len(s.Layers)))),
	}
	s.Layers = append(s.Layers, l)
	// Sums is an input only so that it runs first: nothing else reads it, so
	// a machine could leave it to the end, keeping every layer's qkv alive.
	return b.N(op.Apply(attnPooledKernel{d}, qkv, temperature, l.Prior, s.Own, l.Sums)), b.Err()
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
	return tensor.Shape{k.d.B, k.d.Heads, k.d.sumsLen()}
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
	per, pairs, cols := d.sumsLen(), d.B*d.Heads, x1-x0
	bands := min(attnChunks(pairs, (y1-y0)*cols), y1-y0)
	span := (y1 - y0 + bands - 1) / bands
	part := make([]T, pairs*bands*per)
	op.ParallelFor(pairs*bands, func(t int) {
		i, c := t/bands, t%bands
		qo, ko, _ := d.qkvOffsets(i/d.Heads, i%d.Heads)
		pp := part[t*per : (t+1)*per]
		rows := max(1, attnSumsPixels/cols)
		q, k := op.Scratch[T](ch*rows*cols), op.Scratch[T](ch*rows*cols)
		defer op.Release(q)
		defer op.Release(k)
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
		addParts(out[i*per:(i+1)*per], part[i*bands*per:], bands)
	}
}

// attnPooledKernel maps (qkv, temperature, prior, own, sums) to attn v, the
// attention made from own times qkv's statistics plus prior; sums, the
// layer's owned statistics, is not read (see attend).
type attnPooledKernel struct{ d attnDims }

func (k attnPooledKernel) Name() string           { return "channel_attention_pooled_" + k.d.String() }
func (k attnPooledKernel) OutShape() tensor.Shape { return k.d.outShape() }
func (k attnPooledKernel) OverwritesOutput() bool { return true }
func (k attnPooledKernel) Forward32(o []float32, in [][]float32) {
	attnPooled(k.d, o, in[0], in[1], in[2], in[3][0])
}
func (k attnPooledKernel) Forward64(o []float64, in [][]float64) {
	attnPooled(k.d, o, in[0], in[1], in[2], in[3][0])
}

// MACs counts q k^T and attn v, as ChannelAttention's.
func (k attnPooledKernel) MACs() int64 { return attnKernel(k).MACs() }

func attnPooled[T op.Float](d attnDims, out, qkv, temp, prior []T, own T) {
	ch, per := d.C/d.Heads, d.sumsLen()
	var heads []*attnHead[T]
	if own != 0 {
		heads = headSums(d, qkv)
	} else {
		heads = make([]*attnHead[T], d.B*d.Heads)
		for i := range heads {
			heads[i] = newAttnHead[T](ch)
		}
	}
	op.ParallelFor(len(heads), func(i int) {
		s := heads[i]
		for j, p := range prior[i*per:][:per] {
			s.sums[j] = own*s.sums[j] + p
		}
		s.finish(temp[i%d.Heads])
	})
	applyAttn(d, out, qkv, func(i int) []T { return heads[i].a })
}
