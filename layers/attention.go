package layers

import (
	"fmt"
	"math"
	"runtime"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// normEps is F.normalize's default eps: rows are divided by max(|row|, eps).
const normEps = 1e-12

// ChannelAttention is the fused core of Restormer's MDTA, after the qkv
// convolutions and before project_out. qkv (B, 3C, H, W) splits along
// channels into q, k, v, each seen as (B, heads, C/heads, H*W); q and k are
// L2-normalised along H*W, attn = softmax((q k^T) * temperature[head]) over
// the last axis, and the result attn v is returned as (B, C, H, W).
// temperature has shape (heads, 1, 1), as the PyTorch parameter.
// Attention is across channels, so its cost is linear in H*W.
func ChannelAttention(qkv, temperature *G.Node, heads int) (*G.Node, error) {
	b, c3, h, w, err := nchw("ChannelAttention", qkv)
	if err != nil {
		return nil, err
	}
	if err := checkFloat("ChannelAttention temperature", temperature); err != nil {
		return nil, err
	}
	if heads < 1 {
		return nil, fmt.Errorf("ChannelAttention: %d heads, want >= 1", heads)
	}
	if c3%3 != 0 {
		return nil, fmt.Errorf("ChannelAttention: qkv has %d channels, not a multiple of 3", c3)
	}
	if (c3/3)%heads != 0 {
		return nil, fmt.Errorf("ChannelAttention: %d channels not divisible by %d heads", c3/3, heads)
	}
	if ts := temperature.Shape(); !ts.Eq(tensor.Shape{heads, 1, 1}) {
		return nil, fmt.Errorf("ChannelAttention: temperature shape %v, want (%d, 1, 1)", ts, heads)
	}
	return op.Apply(attnKernel{attnDims{B: b, C: c3 / 3, H: h, W: w, Heads: heads}}, qkv, temperature)
}

// attnDims are the sizes of one channel attention.
type attnDims struct{ B, C, H, W, Heads int }

func (d attnDims) String() string {
	return fmt.Sprintf("B%d_C%d_H%d_W%d_heads%d", d.B, d.C, d.H, d.W, d.Heads)
}
func (d attnDims) qkvShape() tensor.Shape  { return tensor.Shape{d.B, 3 * d.C, d.H, d.W} }
func (d attnDims) outShape() tensor.Shape  { return tensor.Shape{d.B, d.C, d.H, d.W} }
func (d attnDims) tempShape() tensor.Shape { return tensor.Shape{d.Heads, 1, 1} }

// attnKernel maps (qkv, temperature) to attn v.
type attnKernel struct{ d attnDims }

func (k attnKernel) Name() string                          { return "channel_attention_" + k.d.String() }
func (k attnKernel) OutShape() tensor.Shape                { return k.d.outShape() }
func (k attnKernel) Forward32(o []float32, in [][]float32) { attnForward(k.d, o, in[0], in[1]) }
func (k attnKernel) Forward64(o []float64, in [][]float64) { attnForward(k.d, o, in[0], in[1]) }
func (k attnKernel) DiffWRT() []bool                       { return []bool{true, true} }
func (k attnKernel) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	// One kernel computes both gradients, which share all the recomputation;
	// two cheap copies split its flat output.
	b := &Builder{}
	both := b.N(op.Apply(attnGrad(k), in[0], in[1], dy))
	n := k.d.qkvShape().TotalSize()
	g := G.Nodes{
		b.N(op.Apply(flatPart{name: k.Name(), from: 0, shape: k.d.qkvShape()}, both)),
		b.N(op.Apply(flatPart{name: k.Name(), from: n, shape: k.d.tempShape()}, both)),
	}
	return g, b.Err()
}

// attnGrad maps (qkv, temperature, dy) to dqkv (flat) followed by
// dtemperature; it recomputes the forward.
type attnGrad attnKernel

func (k attnGrad) Name() string { return "d_channel_attention_" + k.d.String() }
func (k attnGrad) OutShape() tensor.Shape {
	return tensor.Shape{k.d.qkvShape().TotalSize() + k.d.Heads}
}
func (k attnGrad) Forward32(o []float32, in [][]float32) { attnBackward(k.d, o, in[0], in[1], in[2]) }
func (k attnGrad) Forward64(o []float64, in [][]float64) { attnBackward(k.d, o, in[0], in[1], in[2]) }

// flatPart copies elements [from, from+size) of a flat input into shape.
type flatPart struct {
	name  string
	from  int
	shape tensor.Shape
}

func (k flatPart) Name() string {
	return fmt.Sprintf("part_%s_%d%v", k.name, k.from, k.shape)
}
func (k flatPart) OutShape() tensor.Shape                { return k.shape }
func (k flatPart) Forward32(o []float32, in [][]float32) { copy(o, in[0][k.from:]) }
func (k flatPart) Forward64(o []float64, in [][]float64) { copy(o, in[0][k.from:]) }

// attnHead is the recomputed forward state of one (image, head): the row
// norms of q and k clamped to eps, G = qn kn^T and A = softmax(t*G), both
// ch x ch. The normalised rows are never stored: the products are taken on
// the raw rows and rescaled, which saves two ch x N buffers and passes.
type attnHead[T op.Float] struct {
	qnorm, knorm, g, a []T
	// sums is qnorm, knorm and g together: while they hold sums over
	// pixels, the [qq | kk | qk] layout of sumsLen values.
	sums []T
}

func newAttnHead[T op.Float](ch int) *attnHead[T] {
	buf := make([]T, 2*ch+2*ch*ch)
	return &attnHead[T]{qnorm: buf[:ch], knorm: buf[ch : 2*ch], g: buf[2*ch : 2*ch+ch*ch], a: buf[2*ch+ch*ch:],
		sums: buf[:2*ch+ch*ch]}
}

// sumsLen is how many values the sums of one (image, head) pair take:
// ch squared norms of q rows, ch of k rows and ch x ch products.
func (d attnDims) sumsLen() int {
	ch := d.C / d.Heads
	return 2*ch + ch*ch
}

// addParts adds to dst, in order, the parts laid end to end in part, each
// as long as dst: partial sums added in a fixed order, so that the result
// does not depend on how the work was split across cores.
func addParts[T op.Float](dst, part []T, parts int) {
	for c := range parts {
		for j, v := range part[c*len(dst):][:len(dst)] {
			dst[j] += v
		}
	}
}

// offsets of the q, k and v rows of head h of image b in qkv.
func (d attnDims) qkvOffsets(b, h int) (q, k, v int) {
	n, ch := d.H*d.W, d.C/d.Heads
	base := b * 3 * d.C * n
	return base + h*ch*n, base + (d.C+h*ch)*n, base + (2*d.C+h*ch)*n
}

// rowNorms sets norm[i] = max(|row i of x|, eps), as F.normalize divides by.
func rowNorms[T op.Float](norm, x []T, n int) {
	for i := range norm {
		row := x[i*n : (i+1)*n]
		norm[i] = T(math.Max(math.Sqrt(float64(dot(row, row))), normEps))
	}
}

var blasImpl gonum.Implementation

// dot is the inner product of equal-length a and b (SIMD through gonum).
func dot[T op.Float](a, b []T) T {
	switch a := any(a).(type) {
	case []float32:
		return T(blasImpl.Sdot(len(a), a, 1, any(b).([]float32), 1))
	case []float64:
		return T(blasImpl.Ddot(len(a), a, 1, any(b).([]float64), 1))
	}
	panic("unreachable")
}

// axpy adds alpha*x to y (equal lengths).
func axpy[T op.Float](alpha T, x, y []T) {
	switch x := any(x).(type) {
	case []float32:
		blasImpl.Saxpy(len(x), float32(alpha), x, 1, any(y).([]float32), 1)
	case []float64:
		blasImpl.Daxpy(len(x), float64(alpha), x, 1, any(y).([]float64), 1)
	}
}

// compute fills s for head h of image b with temperature t.
func (s *attnHead[T]) compute(d attnDims, qkv []T, t T, b, h int) {
	n, ch := d.H*d.W, d.C/d.Heads
	qo, ko, _ := d.qkvOffsets(b, h)
	rowNorms(s.qnorm, qkv[qo:], n)
	rowNorms(s.knorm, qkv[ko:], n)
	op.Gemm(false, true, ch, ch, n, 1, qkv[qo:], n, qkv[ko:], n, 0, s.g, ch)
	s.softmax(t)
}

// softmax turns s.g, the products of the raw q and k rows, into the
// normalised G (dividing by the row norms) and fills A = softmax(t*G).
func (s *attnHead[T]) softmax(t T) {
	ch := len(s.qnorm)
	for i := range ch {
		g, a := s.g[i*ch:(i+1)*ch], s.a[i*ch:(i+1)*ch]
		mx := math.Inf(-1)
		for j := range g {
			g[j] /= s.qnorm[i] * s.knorm[j]
			mx = math.Max(mx, float64(t*g[j]))
		}
		var sum float64
		for j, v := range g {
			e := math.Exp(float64(t*v) - mx)
			a[j] = T(e)
			sum += e
		}
		inv := T(1 / sum)
		for j := range a {
			a[j] *= inv
		}
	}
}

// attnChunkPixels is the smallest run of pixels one task of the forward
// attention handles when heads are split across cores.
const attnChunkPixels = 2048

// attnChunks is how many runs of pixels each (image, head) is cut into:
// one when there are enough (image, head) pairs for every core, else
// about four per core, each at least attnChunkPixels long.
func attnChunks(pairs, n int) int {
	procs := runtime.GOMAXPROCS(0)
	if pairs >= procs || procs == 1 {
		return 1
	}
	want := (4*procs + pairs - 1) / pairs
	return max(1, min(want, n/attnChunkPixels))
}

func attnForward[T op.Float](d attnDims, out, qkv, temp []T) {
	heads := headSums(d, qkv)
	op.ParallelFor(len(heads), func(i int) { heads[i].finish(temp[i%d.Heads]) })
	applyAttn(d, out, qkv, func(i int) []T { return heads[i].a })
}

// headSums returns, for every (image, head) pair, the sums over all pixels
// that the attention pools: in qnorm and knorm the squared norms of the q
// and k rows, in g the products q k^T (finish turns them into A). When
// there are fewer pairs than cores (the full-resolution levels of one
// image), the pixels are split into runs whose partial sums are added in a
// fixed order.
func headSums[T op.Float](d attnDims, qkv []T) []*attnHead[T] {
	n, ch := d.H*d.W, d.C/d.Heads
	pairs := d.B * d.Heads
	chunks := attnChunks(pairs, n)
	span := (n + chunks - 1) / chunks
	per := d.sumsLen() // one run's partial norms and products
	part := make([]T, pairs*chunks*per)
	op.ParallelFor(pairs*chunks, func(t int) {
		i, c := t/chunks, t%chunks
		b, h := i/d.Heads, i%d.Heads
		p0, p1 := c*span, min((c+1)*span, n)
		if p0 >= p1 {
			return
		}
		qo, ko, _ := d.qkvOffsets(b, h)
		pp := part[t*per : (t+1)*per]
		for r := range ch {
			q := qkv[qo+r*n+p0 : qo+r*n+p1]
			k := qkv[ko+r*n+p0 : ko+r*n+p1]
			pp[r], pp[ch+r] = dot(q, q), dot(k, k)
		}
		op.Gemm(false, true, ch, ch, p1-p0, 1, qkv[qo+p0:], n, qkv[ko+p0:], n, 0, pp[2*ch:], ch)
	})
	heads := make([]*attnHead[T], pairs)
	for i := range heads {
		heads[i] = newAttnHead[T](ch)
		addParts(heads[i].sums, part[i*chunks*per:], chunks)
	}
	return heads
}

// finish turns the sums of s into the clamped row norms and A =
// softmax(t * G), G the normalised products.
func (s *attnHead[T]) finish(t T) {
	for r := range s.qnorm {
		s.qnorm[r] = T(math.Max(math.Sqrt(float64(s.qnorm[r])), normEps))
		s.knorm[r] = T(math.Max(math.Sqrt(float64(s.knorm[r])), normEps))
	}
	s.softmax(t)
}

// applyAttn fills out with attn v for every (image, head) pair i, attn(i)
// being its ch x ch attention; when there are fewer pairs than cores, each
// pair's pixels are split into runs.
func applyAttn[T op.Float](d attnDims, out, qkv []T, attn func(i int) []T) {
	n, ch := d.H*d.W, d.C/d.Heads
	pairs := d.B * d.Heads
	chunks := attnChunks(pairs, n)
	span := (n + chunks - 1) / chunks
	op.ParallelFor(pairs*chunks, func(t int) {
		i, c := t/chunks, t%chunks
		p0, p1 := c*span, min((c+1)*span, n)
		if p0 >= p1 {
			return
		}
		_, _, vo := d.qkvOffsets(i/d.Heads, i%d.Heads)
		o := (i/d.Heads*d.C + i%d.Heads*ch) * n
		op.Gemm(false, false, ch, p1-p0, ch, 1, attn(i), ch, qkv[vo+p0:], n, 0, out[o+p0:], n)
	})
}

// attnBackward fills grad, dqkv then dtemperature, from the output gradient
// dy. With dA = dy v^T and dS = A*(dA - rowsum(A*dA)): dv = A^T dy,
// dqn = t dS kn, dkn = t dS^T qn and dt = sum(dS*G); a row r = x/|x| passes
// dx = (dr - r (r.dr))/|x| back (dr/eps where |x| < eps).
func attnBackward[T op.Float](d attnDims, grad, qkv, temp, dy []T) {
	n, ch := d.H*d.W, d.C/d.Heads
	dqkv, dtemp := grad[:len(qkv)], grad[len(qkv):]
	partial := make([]float64, d.B*d.Heads)
	op.ParallelFor(d.B*d.Heads, func(i int) {
		b, h := i/d.Heads, i%d.Heads
		t := temp[h]
		s := newAttnHead[T](ch)
		s.compute(d, qkv, t, b, h)
		qo, ko, vo := d.qkvOffsets(b, h)
		dyo := dy[(b*d.C+h*ch)*n:]
		ds, dsq := make([]T, ch*ch), make([]T, ch*ch)
		op.Gemm(false, true, ch, ch, n, 1, dyo, n, qkv[vo:], n, 0, ds, ch) // dA
		var dt float64
		for r := range ch {
			a, g, row := s.a[r*ch:(r+1)*ch], s.g[r*ch:(r+1)*ch], ds[r*ch:(r+1)*ch]
			ad := dot(a, row)
			for j, v := range row {
				row[j] = a[j] * (v - ad)
				dt += float64(row[j] * g[j])
			}
		}
		partial[i] = dt
		op.Gemm(true, false, ch, n, ch, 1, s.a, ch, dyo, n, 0, dqkv[vo:], n)
		// kn = k/knorm and qn = q/qnorm: fold the norms into copies of dS.
		for r := range ch {
			for j := range ch {
				dsq[r*ch+j] = ds[r*ch+j] / s.qnorm[r]
				ds[r*ch+j] /= s.knorm[j]
			}
		}
		op.Gemm(false, false, ch, n, ch, t, ds, ch, qkv[ko:], n, 0, dqkv[qo:], n)
		op.Gemm(true, false, ch, n, ch, t, dsq, ch, qkv[qo:], n, 0, dqkv[ko:], n)
		normalizeBack(dqkv[qo:], qkv[qo:], s.qnorm, n)
		normalizeBack(dqkv[ko:], qkv[ko:], s.knorm, n)
	})
	for h := range d.Heads {
		var sum float64
		for b := range d.B {
			sum += partial[b*d.Heads+h]
		}
		dtemp[h] = T(sum)
	}
}

// normalizeBack turns dr, the gradient wrt the rows of x/norm, into the
// gradient wrt the rows of x, in place: dx = (dr - x (x.dr)/norm^2)/norm,
// or dr/eps where the norm was clamped (there x/eps is linear in x).
func normalizeBack[T op.Float](dr, x, norm []T, n int) {
	for i, nm := range norm {
		g := dr[i*n : (i+1)*n]
		if nm > normEps {
			axpy(-dot(g, x[i*n:(i+1)*n])/(nm*nm), x[i*n:(i+1)*n], g)
		}
		inv := 1 / nm
		for j := range g {
			g[j] *= inv
		}
	}
}

// MACs counts the multiply-accumulates of q k^T and attn v (each
// B*heads*(C/heads)^2*H*W); norms and the softmax are not counted.
func (k attnKernel) MACs() int64 {
	d := k.d
	ch := d.C / d.Heads
	return 2 * int64(d.B) * int64(d.Heads) * int64(ch*ch) * int64(d.H*d.W)
}
