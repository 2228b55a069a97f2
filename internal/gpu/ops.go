//go:build baryirgpu

package gpu

import (
	"fmt"
	"math"
)

// Composite device operations. Kernels of the layers and losses packages call
// these from their LaunchGPU methods (files *_gpu.go next to them). All queue
// work on the device's one stream and return at once.

// Batch describes a batched matrix product: Count = Outer*Inner products,
// product z = zo*Inner + zi at offsets zo*?o + zi*?i (elements) of A, B, C.
type Batch struct {
	Outer, Inner   int
	AOuter, AInner int
	BOuter, BInner int
	COuter, CInner int
}

// chunks splits total items into pieces of at least minChunk so that
// blocks*pieces covers a few waves of the GPU; it returns the piece count and size.
func (d *Device) chunks(blocks, total, minChunk int) (n, size int) {
	want := max(1, (4*max(d.sms, 1)+blocks-1)/blocks)
	size = max(minChunk, (total+want-1)/want)
	return (total + size - 1) / size, size
}

// One is a single product.
var One = Batch{Outer: 1, Inner: 1}

// Strided is Count products at uniform strides.
func Strided(count, sa, sb, sc int) Batch {
	return Batch{Outer: 1, Inner: count, AInner: sa, BInner: sb, CInner: sc}
}

func (b Batch) count() int { return max(b.Outer, 1) * max(b.Inner, 1) }

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, op(A)
// MxK and op(B) KxN, for each product of the batch, at the device's
// precision (Precision): FP32 with the in-house SGEMM kernels, TF32 or BF16
// with cuBLASLt's tensor-core products (blas.go). It is what the layers'
// convolutions, Linear and channel attention call; code whose products must
// stay float32 (the losses, the plain Gorgonia matrix products of the OT
// terms) calls GemmFP32.
func (d *Device) Gemm(ta, tb bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int, bt Batch) {
	if d.prec != FP32 && k > 0 {
		d.ltGemm(d.prec, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bt)
		return
	}
	d.GemmFP32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bt)
}

// GemmFP32 is Gemm in float32 whatever the device's precision. When the
// output is small and K long it splits K across blocks and sums the parts.
func (d *Device) GemmFP32(ta, tb bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int, bt Batch) {
	if bt.Outer < 1 {
		bt.Outer = 1
	}
	if bt.Inner < 1 {
		bt.Inner = 1
	}
	v := d.pickGemm(m, n, bt.count())
	tiles := ((m + v.bm - 1) / v.bm) * ((n + v.bn - 1) / v.bn) * bt.count()
	// Split K when there are few output tiles and a long reduction.
	split := 1
	target := 2 * max(d.sms, 1)
	for tiles*split < target && k/(split*2) >= 256 && k%(split*2) == 0 {
		split *= 2
	}
	if split == 1 {
		d.gemm(v, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bt, 1, 0, 0, 0)
		return
	}
	// Partial products part[z*split + s] (dense m x n) over K chunks of kc.
	kc := k / split
	cnt := bt.count()
	part := d.Alloc(cnt * split * m * n)
	aStep, bStep := kc, kc*ldb
	if ta {
		aStep = kc * lda
	}
	if tb {
		bStep = kc
	}
	pb := Batch{Outer: bt.Outer, Inner: bt.Inner, AOuter: bt.AOuter, AInner: bt.AInner, BOuter: bt.BOuter, BInner: bt.BInner,
		COuter: bt.Inner * split * m * n, CInner: split * m * n}
	d.gemm(v, ta, tb, m, n, kc, 1, a, lda, b, ldb, 0, part, n, pb, split, aStep, bStep, m*n)
	threads := 32 * ((min(split, 1024) + 31) / 32)
	dense := (bt.Outer == 1 || bt.COuter == bt.Inner*m*n) && (bt.Inner == 1 || bt.CInner == m*n)
	if ldc == n && dense {
		// C is dense over the batch: one reduction.
		d.ReduceSum(c, part, cnt, split, m*n, alpha, beta)
	} else {
		for zo := 0; zo < bt.Outer; zo++ {
			for zi := 0; zi < bt.Inner; zi++ {
				z := zo*bt.Inner + zi
				pc := c.At(zo*bt.COuter + zi*bt.CInner)
				for r := 0; r < m; r++ {
					d.launch("reduce_sum_f32", [3]int{n, 1, 1}, threads, 0,
						pc.At(r*ldc), part.At(z*split*m*n+r*n), 1, split, m*n, alpha, beta)
				}
			}
		}
	}
	d.Free(part)
}

// gemmKernel is one SGEMM variant: BM x BN output tiles per block of 256 threads.
type gemmKernel struct {
	name   string
	bm, bn int
	eff    float64 // relative throughput per block-tile element
	perSM  int     // resident blocks per multiprocessor
}

var gemmKernels = []gemmKernel{
	{"sgemm128x128_f32", 128, 128, 1.0, 2},
	{"sgemm64x128_f32", 64, 128, 0.8, 3},
	{"sgemm128x64_f32", 128, 64, 0.8, 3},
	{"sgemm_f32", 64, 64, 0.55, 4},
}

// ForceGemm makes every matrix product use the SGEMM variant of that name
// ("" restores the choice per shape); the tests run each variant this way.
func (d *Device) ForceGemm(name string) error {
	if name == "" {
		d.gemmVariant = ""
		return nil
	}
	for _, v := range gemmKernels {
		if v.name == name {
			d.gemmVariant = name
			return nil
		}
	}
	return fmt.Errorf("gpu: no SGEMM variant %q", name)
}

// GemmVariants lists the SGEMM variants' names.
func GemmVariants() []string {
	names := make([]string, len(gemmKernels))
	for i, v := range gemmKernels {
		names[i] = v.name
	}
	return names
}

// pickGemm estimates each variant's time as waves of resident blocks times
// the work of a padded tile over its efficiency, and takes the fastest.
func (d *Device) pickGemm(m, n, count int) gemmKernel {
	best, bestT := gemmKernels[len(gemmKernels)-1], math.Inf(1)
	for _, v := range gemmKernels {
		if d.gemmVariant != "" {
			if v.name == d.gemmVariant {
				return v
			}
			continue
		}
		tiles := ((m + v.bm - 1) / v.bm) * ((n + v.bn - 1) / v.bn) * count
		slots := max(d.sms, 1) * v.perSM
		waves := (tiles + slots - 1) / slots
		t := float64(waves) * float64(min(tiles, slots)) / float64(slots) * float64(v.bm*v.bn) / v.eff
		if waves > 1 {
			t = float64(tiles) / float64(slots) * float64(v.bm*v.bn) / v.eff
		}
		if t < bestT {
			best, bestT = v, t
		}
	}
	return best
}

func (d *Device) gemm(v gemmKernel, ta, tb bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int, bt Batch, split, sas, sbs, scs int) {
	grid := [3]int{(n + v.bn - 1) / v.bn, (m + v.bm - 1) / v.bm, bt.count() * split}
	d.launch(v.name, grid, 256, 0, a, b, c, m, n, k, lda, ldb, ldc, b2i(ta), b2i(tb), alpha, beta, bt.Inner,
		i64(bt.AOuter), i64(bt.AInner), i64(bt.BOuter), i64(bt.BInner), i64(bt.COuter), i64(bt.CInner),
		split, i64(sas), i64(sbs), i64(scs))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Fill sets n elements of b to v.
func (d *Device) Fill(b Buf, n int, v float32) { d.elems("fill_f32", n, b, i64(n), v) }

// Binary ops for Binary.
const (
	OpAdd = iota
	OpSub
	OpMul
	OpDiv
)

// Binary computes out = a op b elementwise over n; an operand of one element broadcasts.
func (d *Device) Binary(out, a, b Buf, n, na, nb, op int) {
	d.elems("binary_f32", n, out, a, b, i64(n), i64(na), i64(nb), op)
}

// Unary ops for Unary.
const (
	OpNeg = iota
	OpAbs
	OpSquare
	OpSqrt
	OpExp
	OpLog
	OpTanh
	OpSigmoid
	OpInverse
	OpSign
	OpCube
	OpReLU
)

// Unary computes out = f(a) elementwise.
func (d *Device) Unary(out, a Buf, n, op int) { d.elems("unary_f32", n, out, a, i64(n), op) }

// Scale computes out = s*a.
func (d *Device) Scale(out, a Buf, n int, s float32) { d.elems("scale_f32", n, out, a, i64(n), s) }

// LeakyReLU and its gradient.
func (d *Device) LeakyReLU(out, x Buf, n int, slope float32) {
	d.elems("leaky_f32", n, out, x, i64(n), slope)
}

// LeakyReLUGrad computes dx from x and dy.
func (d *Device) LeakyReLUGrad(dx, x, dy Buf, n int, slope float32) {
	d.elems("leaky_grad_f32", n, dx, x, dy, i64(n), slope)
}

// Repeat broadcasts in (shape is) to out (shape os) as np.repeat over each
// axis whose size grows; shapes have at most 4 axes and equal rank, or in is
// one element.
func (d *Device) Repeat(out, in Buf, os, is []int) {
	n := prod(os)
	o4, i4 := pad4(os), pad4(is)
	if prod(is) == 1 {
		i4 = [4]int{1, 1, 1, 1}
	}
	d.elems("repeat_f32", n, out, in, i64(n), o4[0], o4[1], o4[2], o4[3], i4[0], i4[1], i4[2], i4[3])
}

func pad4(s []int) [4]int {
	r := [4]int{1, 1, 1, 1}
	copy(r[4-len(s):], s)
	return r
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// ReduceSum computes out[o, j] = scale*sum_r in[o, r, j] + beta*out[o, j] for in (outer, red, inner).
func (d *Device) ReduceSum(out, in Buf, outer, red, inner int, scale, beta float32) {
	if outer*inner >= 2048 && red <= 8192 {
		d.elems("reduce_mid_f32", outer*inner, out, in, outer, red, inner, scale, beta)
		return
	}
	threads := 32 * ((min(red, 1024) + 31) / 32)
	if threads > 256 && outer*inner > 1024 {
		threads = 256
	}
	d.launch("reduce_sum_f32", [3]int{outer * inner, 1, 1}, threads, 0, out, in, outer, red, inner, scale, beta)
}

// ChannelSum computes out[c] = sum over b and pixels of x (B, C, HW).
func (d *Device) ChannelSum(out, x Buf, b, c, hw int) {
	nc, chunk := d.chunks(c, b*hw, 2048)
	part := d.Alloc(nc * c)
	d.launch("channel_sum_f32", [3]int{c, nc, 1}, 256, 0, part, x, b, c, hw, chunk)
	d.ReduceSum(out, part, 1, nc, c, 1, 0)
	d.Free(part)
}

// BiasAdd computes out = x + bias[c] for x (B, C, HW).
func (d *Device) BiasAdd(out, x, bias Buf, b, c, hw int) {
	n := b * c * hw
	d.elems("bias_add_f32", n, out, x, bias, c, hw, i64(n))
}

// ChannelCopy copies src (B, n, HW) to channels [from, from+n) of dst (B,
// total, HW) when toBig, or those channels of src to dst otherwise.
func (d *Device) ChannelCopy(dst, src Buf, b, n, hw, total, from int, toBig bool) {
	d.elems("channel_copy_f32", b*n*hw, dst, src, b, n, hw, total, from, b2i(toBig))
}

// Shuffle is PixelUnshuffle (down) or PixelShuffle between big (B, C, H, W)
// and small (B, C*r*r, H/r, W/r).
func (d *Device) Shuffle(out, in Buf, b, c, h, w, r int, down bool) {
	d.elems("shuffle_f32", b*c*h*w, out, in, b, c, h, w, r, b2i(down))
}

// Conv describes a 2-D convolution of x (B, Cin, H, W) with w (Cout, Cin/G, K, K).
type Conv struct {
	B, Cin, H, W, Cout, K, Stride, Pad, Groups, Ho, Wo int
}

func (g Conv) depthwise() bool { return g.Groups == g.Cin && g.Groups == g.Cout }
func (g Conv) pointwise() bool { return g.K == 1 && g.Stride == 1 && g.Pad == 0 }

// im2col fills a scratch buffer (B, Cin*K*K, Ho*Wo) unless the conv is pointwise.
func (d *Device) im2col(g Conv, x Buf) (Buf, bool) {
	if g.pointwise() {
		return x, false
	}
	col := d.Alloc(g.B * g.Cin * g.K * g.K * g.Ho * g.Wo)
	n := g.B * g.Cin * g.K * g.K * g.Ho * g.Wo
	d.elems("im2col_f32", n, col, x, g.B, g.Cin, g.H, g.W, g.K, g.Stride, g.Pad, g.Groups, g.Ho, g.Wo)
	return col, true
}

// ConvForward computes y = conv(x, w).
func (d *Device) ConvForward(g Conv, y, x, w Buf) {
	if g.depthwise() {
		d.launch("dw_fwd_f32", [3]int{(g.Ho*g.Wo + 255) / 256, min(g.B*g.Cin, 65535), 1}, 256, 0, y, x, w, g.B, g.Cin, g.H, g.W, g.K, g.Stride, g.Pad, g.Ho, g.Wo)
		return
	}
	col, tmp := d.im2col(g, x)
	cpg, opg, ohw := g.Cin/g.Groups, g.Cout/g.Groups, g.Ho*g.Wo
	ck := cpg * g.K * g.K
	// y[b, gr] (opg x ohw) = w[gr] (opg x ck) * col[b, gr] (ck x ohw)
	d.Gemm(false, false, opg, ohw, ck, 1, w, ck, col, ohw, 0, y, ohw, Batch{
		Outer: g.B, Inner: g.Groups,
		AOuter: 0, AInner: opg * ck,
		BOuter: g.Groups * ck * ohw, BInner: ck * ohw,
		COuter: g.Cout * ohw, CInner: opg * ohw,
	})
	if tmp {
		d.Free(col)
	}
}

// ConvBackX computes dx from w and dy.
func (d *Device) ConvBackX(g Conv, dx, w, dy Buf) {
	if g.depthwise() {
		d.launch("dw_bx_f32", [3]int{(g.H*g.W + 255) / 256, min(g.B*g.Cin, 65535), 1}, 256, 0, dx, w, dy, g.B, g.Cin, g.H, g.W, g.K, g.Stride, g.Pad, g.Ho, g.Wo)
		return
	}
	cpg, opg, ohw := g.Cin/g.Groups, g.Cout/g.Groups, g.Ho*g.Wo
	ck := cpg * g.K * g.K
	target := dx
	if !g.pointwise() {
		target = d.Alloc(g.B * g.Cin * g.K * g.K * ohw)
	}
	// col[b, gr] (ck x ohw) = w[gr]^T (ck x opg) * dy[b, gr] (opg x ohw)
	d.Gemm(true, false, ck, ohw, opg, 1, w, ck, dy, ohw, 0, target, ohw, Batch{
		Outer: g.B, Inner: g.Groups,
		AOuter: 0, AInner: opg * ck,
		BOuter: g.Cout * ohw, BInner: opg * ohw,
		COuter: g.Groups * ck * ohw, CInner: ck * ohw,
	})
	if !g.pointwise() {
		d.elems("col2im_f32", g.B*g.Cin*g.H*g.W, dx, target, g.B, g.Cin, g.H, g.W, g.K, g.Stride, g.Pad, g.Ho, g.Wo)
		d.Free(target)
	}
}

// ConvBackW computes dw from x and dy.
func (d *Device) ConvBackW(g Conv, dw, x, dy Buf) {
	if g.depthwise() {
		kk := g.K * g.K
		nc, chunk := d.chunks(g.Cin, g.B*g.Ho*g.Wo, 2048)
		part := d.Alloc(nc * g.Cin * kk)
		d.launch("dw_bw_f32", [3]int{g.Cin, nc, (kk + 8) / 9}, 256, 0, part, x, dy, g.B, g.Cin, g.H, g.W, g.K, g.Stride, g.Pad, g.Ho, g.Wo, chunk)
		d.ReduceSum(dw, part, 1, nc, g.Cin*kk, 1, 0)
		d.Free(part)
		return
	}
	col, tmp := d.im2col(g, x)
	cpg, opg, ohw := g.Cin/g.Groups, g.Cout/g.Groups, g.Ho*g.Wo
	ck := cpg * g.K * g.K
	// dw[gr] (opg x ck) = sum_b dy[b, gr] (opg x ohw) * col[b, gr]^T (ohw x ck).
	// Per group: the batch sum is a K-split over b: partials then a reduction.
	part := d.Alloc(g.B * opg * ck)
	for gr := 0; gr < g.Groups; gr++ {
		d.Gemm(false, true, opg, ck, ohw, 1, dy.At(gr*opg*ohw), ohw, col.At(gr*ck*ohw), ohw, 0, part, ck,
			Batch{Outer: 1, Inner: g.B, AInner: g.Cout * ohw, BInner: g.Groups * ck * ohw, CInner: opg * ck})
		d.ReduceSum(dw.At(gr*opg*ck), part, 1, g.B, opg*ck, 1, 0)
	}
	d.Free(part)
	if tmp {
		d.Free(col)
	}
}

// LayerNorm is Restormer's channel LayerNorm over x (B, C, HW).
type LayerNorm struct {
	B, C, HW int
	BiasFree bool
}

// LNForward computes y; bias is ignored when BiasFree.
func (d *Device) LNForward(l LayerNorm, y, x, w, bias Buf) {
	if l.BiasFree {
		bias = w
	}
	d.elems("ln_fwd_f32", l.B*l.HW, y, x, w, bias, l.B, l.C, l.HW, b2i(l.BiasFree))
}

// LNBackX computes dx from x, w and dy.
func (d *Device) LNBackX(l LayerNorm, dx, x, w, dy Buf) {
	d.elems("ln_bx_f32", l.B*l.HW, dx, x, w, dy, l.B, l.C, l.HW, b2i(l.BiasFree))
}

// LNBackW computes dw from x and dy.
func (d *Device) LNBackW(l LayerNorm, dw, x, dy Buf) {
	mu, rstd := d.Alloc(l.B*l.HW), d.Alloc(l.B*l.HW)
	d.elems("ln_stats_f32", l.B*l.HW, mu, rstd, x, l.B, l.C, l.HW)
	nc, chunk := d.chunks(l.C, l.B*l.HW, 2048)
	part := d.Alloc(nc * l.C)
	d.launch("ln_bw_f32", [3]int{l.C, nc, 1}, 256, 0, part, x, dy, mu, rstd, l.B, l.C, l.HW, b2i(l.BiasFree), chunk)
	d.ReduceSum(dw, part, 1, nc, l.C, 1, 0)
	d.Free(part)
	d.Free(mu)
	d.Free(rstd)
}

// GELUGate computes GELU(x1)*x2 for x (B, 2h, HW).
func (d *Device) GELUGate(out, x Buf, b, h, hw int) {
	d.elems("gelu_gate_f32", b*h*hw, out, x, b, h, hw)
}

// GELUGateGrad computes dx from x and dy.
func (d *Device) GELUGateGrad(dx, x, dy Buf, b, h, hw int) {
	d.elems("gelu_gate_grad_f32", b*h*hw, dx, x, dy, b, h, hw)
}

// Attention is Restormer's channel attention on qkv (B, 3C, H*W) with Heads heads.
type Attention struct {
	B, C, N, Heads int
}

type attnState struct {
	qn, kn, qnorm, knorm, g, a Buf
}

func (d *Device) attnForwardState(at Attention, qkv, temp Buf) attnState {
	ch := at.C / at.Heads
	bh := at.B * at.Heads
	s := attnState{
		qn: d.Alloc(at.B * at.C * at.N), kn: d.Alloc(at.B * at.C * at.N),
		qnorm: d.Alloc(at.B * at.C), knorm: d.Alloc(at.B * at.C),
		g: d.Alloc(bh * ch * ch), a: d.Alloc(bh * ch * ch),
	}
	threads := 32 * ((min(at.N, 512) + 31) / 32)
	d.launch("attn_rownorm_f32", [3]int{at.B * at.C, 1, 1}, threads, 0, s.qn, s.qnorm, qkv, at.C, at.N, 0)
	d.launch("attn_rownorm_f32", [3]int{at.B * at.C, 1, 1}, threads, 0, s.kn, s.knorm, qkv, at.C, at.N, 1)
	// G = qn kn^T per (b, head).
	d.Gemm(false, true, ch, ch, at.N, 1, s.qn, at.N, s.kn, at.N, 0, s.g, ch, Strided(bh, ch*at.N, ch*at.N, ch*ch))
	rows := bh * ch
	d.launch("attn_softmax_f32", [3]int{(rows + 127) / 128, 1, 1}, 128, 0, s.a, s.g, temp, at.Heads, ch, rows)
	return s
}

func (d *Device) freeState(s attnState) {
	for _, b := range []Buf{s.qn, s.kn, s.qnorm, s.knorm, s.g, s.a} {
		d.Free(b)
	}
}

// vBatch addresses the v (or q/k at part 0/1) rows of each (b, head) in a (B, 3C, N) tensor.
func (at Attention) qkvBatch(part int) (off int, outer, inner int) {
	ch := at.C / at.Heads
	return part * at.C * at.N, 3 * at.C * at.N, ch * at.N
}

// AttnForward computes out (B, C, N) = softmax(t*qn kn^T) v per head.
func (d *Device) AttnForward(at Attention, out, qkv, temp Buf) {
	ch := at.C / at.Heads
	s := d.attnForwardState(at, qkv, temp)
	voff, vo, vi := at.qkvBatch(2)
	d.Gemm(false, false, ch, at.N, ch, 1, s.a, ch, qkv.At(voff), at.N, 0, out, at.N, Batch{
		Outer: at.B, Inner: at.Heads,
		AOuter: at.Heads * ch * ch, AInner: ch * ch,
		BOuter: vo, BInner: vi,
		COuter: at.C * at.N, CInner: ch * at.N,
	})
	d.freeState(s)
}

// AttnBackward computes dqkv and/or dtemp (either may be a zero Buf) from qkv, temp and dy.
func (d *Device) AttnBackward(at Attention, dqkv, dtemp, qkv, temp, dy Buf) {
	ch := at.C / at.Heads
	bh := at.B * at.Heads
	s := d.attnForwardState(at, qkv, temp)
	voff, vo, vi := at.qkvBatch(2)
	dyB := Batch{Outer: at.B, Inner: at.Heads, AOuter: at.C * at.N, AInner: ch * at.N,
		BOuter: vo, BInner: vi, COuter: at.Heads * ch * ch, CInner: ch * ch}
	// dA = dy v^T
	ds := d.Alloc(bh * ch * ch)
	d.Gemm(false, true, ch, ch, at.N, 1, dy, at.N, qkv.At(voff), at.N, 0, ds, ch, dyB)
	rows := bh * ch
	rowdt := d.Alloc(rows)
	d.launch("attn_dsoftmax_f32", [3]int{(rows + 127) / 128, 1, 1}, 128, 0, ds, rowdt, s.a, s.g, temp, at.Heads, ch, rows)
	if dtemp.Ptr != 0 {
		d.launch("attn_dtemp_f32", [3]int{at.Heads, 1, 1}, 256, 0, dtemp, rowdt, at.B, at.Heads, ch)
	}
	if dqkv.Ptr != 0 {
		abatch := func(part int) Batch {
			_, o, i := at.qkvBatch(part)
			return Batch{Outer: at.B, Inner: at.Heads, AOuter: at.Heads * ch * ch, AInner: ch * ch,
				BOuter: at.C * at.N, BInner: ch * at.N, COuter: o, CInner: i}
		}
		// dv = A^T dy
		d.Gemm(true, false, ch, at.N, ch, 1, s.a, ch, dy, at.N, 0, dqkv.At(voff), at.N, abatch(2))
		// dqn = (t dS) kn ; dkn = (t dS)^T qn   (kn, qn are dense (B, C, N) = per (b, head) at C*N, ch*N)
		d.Gemm(false, false, ch, at.N, ch, 1, ds, ch, s.kn, at.N, 0, dqkv, at.N, abatch(0))
		d.Gemm(true, false, ch, at.N, ch, 1, ds, ch, s.qn, at.N, 0, dqkv.At(at.C*at.N), at.N, abatch(1))
		threads := 32 * ((min(at.N, 512) + 31) / 32)
		d.launch("attn_rownorm_back_f32", [3]int{at.B * at.C, 1, 1}, threads, 0, dqkv, s.qn, s.qnorm, at.C, at.N, 0)
		d.launch("attn_rownorm_back_f32", [3]int{at.B * at.C, 1, 1}, threads, 0, dqkv, s.kn, s.knorm, at.C, at.N, 1)
	}
	d.Free(ds)
	d.Free(rowdt)
	d.freeState(s)
}

// L1 computes out[0] = mean |x - y| over n elements.
func (d *Device) L1(out, x, y Buf, n int) {
	tmp := d.Alloc(n)
	d.elems("absdiff_f32", n, tmp, x, y, i64(n))
	d.ReduceSum(out, tmp, 1, n, 1, float32(1/float64(n)), 0)
	d.Free(tmp)
}

// L1Grad computes sign*dl[0]/n*sign(x - y).
func (d *Device) L1Grad(out, x, y, dl Buf, n int, sign float32) {
	d.elems("l1_grad_f32", n, out, x, y, dl, i64(n), sign)
}

// RowSoftmax writes the softmax of each of rows rows of n values of in to
// out, scaled first by the one-element buffer temp (the attention kernel's,
// with one head).
func (d *Device) RowSoftmax(out, in, temp Buf, rows, n int) {
	d.launch("attn_softmax_f32", [3]int{(rows + 127) / 128, 1, 1}, 128, 0, out, in, temp, 1, n, rows)
}

// RowSoftmaxBack turns dy, held in dx, into the input gradient of
// RowSoftmax with output y: dx = temp * y * (dy - sum_j y_j dy_j) per row.
// scratch holds rows values.
func (d *Device) RowSoftmaxBack(dx, scratch, y, temp Buf, rows, n int) {
	d.launch("attn_dsoftmax_f32", [3]int{(rows + 127) / 128, 1, 1}, 128, 0, dx, scratch, y, y, temp, 1, n, rows)
}
