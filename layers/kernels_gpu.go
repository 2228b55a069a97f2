//go:build baryirgpu

package layers

// GPU launches of this package's kernels (see internal/gpu): each method
// queues the CUDA kernels that compute the same output as Forward32.

import "github.com/x/baryir/internal/gpu"

func (g convGeom) gpu() gpu.Conv {
	return gpu.Conv{B: g.B, Cin: g.Cin, H: g.H, W: g.W, Cout: g.Cout, K: g.K, Stride: g.Stride, Pad: g.Pad,
		Groups: g.Groups, Ho: g.Ho, Wo: g.Wo}
}

func (k convFwd) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.ConvForward(k.g.gpu(), o, in[0], in[1])
}
func (k convGradX) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.ConvBackX(k.g.gpu(), o, in[0], in[1])
}
func (k convGradW) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.ConvBackW(k.g.gpu(), o, in[0], in[1])
}

func (k biasAdd) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.BiasAdd(o, in[0], in[1], k.shape[0], k.shape[1], k.shape[2]*k.shape[3])
}
func (k biasGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.ChannelSum(o, in[0], k.shape[0], k.shape[1], k.shape[2]*k.shape[3])
}

func (k scale) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.Scale(o, in[0], max(k.shape.TotalSize(), 1), float32(k.a))
}

func (k lnKernel) gpu() gpu.LayerNorm {
	return gpu.LayerNorm{B: k.shape[0], C: k.shape[1], HW: k.shape[2] * k.shape[3], BiasFree: k.biasFree}
}
func (k lnKernel) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	var bias gpu.Buf
	if !k.biasFree {
		bias = in[2]
	}
	d.LNForward(k.gpu(), o, in[0], in[1], bias)
}
func (k lnGradX) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.LNBackX(lnKernel(k).gpu(), o, in[0], in[1], in[2])
}
func (k lnGradW) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.LNBackW(lnKernel(k).gpu(), o, in[0], in[1])
}

func (k geluGate) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.GELUGate(o, in[0], k.shape[0], k.shape[1]/2, k.shape[2]*k.shape[3])
}
func (k geluGateGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.GELUGateGrad(o, in[0], in[1], k.shape[0], k.shape[1]/2, k.shape[2]*k.shape[3])
}

func (k shuffle) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.Shuffle(o, in[0], k.big[0], k.big[1], k.big[2], k.big[3], k.r, k.down)
}

func (a attnDims) gpu() gpu.Attention {
	return gpu.Attention{B: a.B, C: a.C, N: a.H * a.W, Heads: a.Heads}
}
func (k attnKernel) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.AttnForward(k.d.gpu(), o, in[0], in[1])
}
func (k attnGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	n := k.d.qkvShape().TotalSize()
	d.AttnBackward(k.d.gpu(), o, o.At(n), in[0], in[1], in[2])
}
func (k flatPart) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.Copy(o, in[0].At(k.from), max(k.shape.TotalSize(), 1))
}

func (k leaky) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.LeakyReLU(o, in[0], max(k.shape.TotalSize(), 1), float32(k.slope))
}
func (k leakyGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.LeakyReLUGrad(o, in[0], in[1], max(k.shape.TotalSize(), 1), float32(k.slope))
}

func (k linearFwd) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	beta := float32(0)
	if k.bias {
		d.Repeat(o, in[2], []int{k.n, k.out}, []int{1, k.out})
		beta = 1
	}
	// o (n x out) = x (n x in) * w^T
	d.Gemm(false, true, k.n, k.out, k.in, 1, in[0], k.in, in[1], k.in, beta, o, k.out, gpu.One)
}
func (g linearGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	k := g.f
	switch g.wrt {
	case 0: // dx = dy w
		d.Gemm(false, false, k.n, k.in, k.out, 1, in[1], k.out, in[0], k.in, 0, o, k.in, gpu.One)
	case 1: // dw = dy^T x
		d.Gemm(true, false, k.out, k.in, k.n, 1, in[1], k.out, in[0], k.in, 0, o, k.in, gpu.One)
	case 2:
		d.ReduceSum(o, in[0], 1, k.n, k.out, 1, 0)
	}
}

// GELU on the GPU is the GELU gate of [x, 1]: the gate kernels with their
// second half filled with ones, in a scratch buffer (x viewed as (1, 1, n)).
func (k geluKernel) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	n := max(k.shape.TotalSize(), 1)
	gate := geluWithOnes(d, in[0], n)
	d.GELUGate(o, gate, 1, 1, n)
	d.Free(gate)
}

func (k geluGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	n := max(k.shape.TotalSize(), 1)
	gate := geluWithOnes(d, in[0], n)
	dgate := d.Alloc(2 * n)
	d.GELUGateGrad(dgate, gate, in[1], 1, 1, n)
	d.ChannelCopy(o, dgate, 1, 1, n, 2, 0, false) // the first half: dy * GELU'(x)
	d.Free(gate)
	d.Free(dgate)
}

// geluWithOnes returns a new buffer holding x (n values) then n ones.
func geluWithOnes(d *gpu.Device, x gpu.Buf, n int) gpu.Buf {
	gate := d.Alloc(2 * n)
	d.Fill(gate, 2*n, 1)
	d.ChannelCopy(gate, x, 1, 1, n, 2, 0, true)
	return gate
}

// Pixel attention on the GPU, per image and head, as on the CPU: the scores
// q^T k (n x n, n = H*W) scaled and softmaxed by rows, then v attn^T.
func (k pixAttn) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	n, ch := k.d.H*k.d.W, k.d.C/k.d.Heads
	a, one := d.Alloc(n*n), pixOne(d)
	for i := range k.d.B * k.d.Heads {
		b, h := i/k.d.Heads, i%k.d.Heads
		qo, ko, vo := k.d.qkvOffsets(b, h)
		pixScoresGPU(d, k.d, a, one, in[0], qo, ko)
		d.Gemm(false, true, ch, n, n, 1, in[0].At(vo), n, a, n, 0, o.At((b*k.d.C+h*ch)*n), n, gpu.Batch{})
	}
	d.Free(a)
	d.Free(one)
}

// The gradient, as pixAttnBackward: dv = dO A, dA = dO^T v, dS = A*(dA -
// rowsum(A*dA)), dq = scale k dS^T, dk = scale q dS.
func (k pixAttnGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	n, ch := k.d.H*k.d.W, k.d.C/k.d.Heads
	scale := float32(k.d.scale())
	a, ds, rows, one := d.Alloc(n*n), d.Alloc(n*n), d.Alloc(n), pixOne(d)
	qkv, dy := in[0], in[1]
	for i := range k.d.B * k.d.Heads {
		b, h := i/k.d.Heads, i%k.d.Heads
		qo, ko, vo := k.d.qkvOffsets(b, h)
		pixScoresGPU(d, k.d, a, one, qkv, qo, ko)
		dO := dy.At((b*k.d.C + h*ch) * n)
		d.Gemm(false, false, ch, n, n, 1, dO, n, a, n, 0, o.At(vo), n, gpu.Batch{})
		d.Gemm(true, false, n, n, ch, 1, dO, n, qkv.At(vo), n, 0, ds, n, gpu.Batch{})
		d.RowSoftmaxBack(ds, rows, a, one, n, n)
		d.Gemm(false, true, ch, n, n, scale, qkv.At(ko), n, ds, n, 0, o.At(qo), n, gpu.Batch{})
		d.Gemm(false, false, ch, n, n, scale, qkv.At(qo), n, ds, n, 0, o.At(ko), n, gpu.Batch{})
	}
	for _, buf := range []gpu.Buf{a, ds, rows, one} {
		d.Free(buf)
	}
}

// pixScoresGPU fills a with softmax(scale q^T k) by rows for the head whose
// q and k start at qo and ko in qkv.
func pixScoresGPU(d *gpu.Device, dims attnDims, a, one, qkv gpu.Buf, qo, ko int) {
	n, ch := dims.H*dims.W, dims.C/dims.Heads
	d.Gemm(true, false, n, n, ch, float32(dims.scale()), qkv.At(qo), n, qkv.At(ko), n, 0, a, n, gpu.Batch{})
	d.RowSoftmax(a, a, one, n, n)
}

// pixOne is a one-element buffer holding 1: the softmax kernels' temperature.
func pixOne(d *gpu.Device) gpu.Buf {
	one := d.Alloc(1)
	d.Fill(one, 1, 1)
	return one
}

// Bilinear resizing on the GPU is its two matrix products, as on the CPU:
// t = x rx^T for all images at once, then y_i = ry t_i (ry shared).
func (k resize) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	x, ry, rx := in[0], in[1], in[2]
	t := d.Alloc(k.n * k.hi * k.wo)
	d.Gemm(false, true, k.n*k.hi, k.wo, k.wi, 1, x, k.wi, rx, k.wi, 0, t, k.wo, gpu.One)
	d.Gemm(false, false, k.ho, k.wo, k.hi, 1, ry, k.hi, t, k.wo, 0, o, k.wo, gpu.Strided(k.n, 0, k.hi*k.wo, k.ho*k.wo))
	d.Free(t)
}

// The gradient: t_i = ry^T dy_i (ry shared), then dx = t rx.
func (k resizeGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	dy, ry, rx := in[0], in[1], in[2]
	t := d.Alloc(k.n * k.hi * k.wo)
	d.Gemm(true, false, k.hi, k.wo, k.ho, 1, ry, k.hi, dy, k.wo, 0, t, k.wo, gpu.Strided(k.n, 0, k.ho*k.wo, k.hi*k.wo))
	d.Gemm(false, false, k.n*k.hi, k.wi, k.wo, 1, t, k.wo, rx, k.wi, 0, o, k.wi, gpu.One)
	d.Free(t)
}

func (k spatialMean) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.ReduceSum(o, in[0], k.b*k.c, k.hw(), 1, 1/float32(k.hw()), 0)
}
func (k spatialMeanGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	m := spatialMean(k)
	n := m.b * m.c * m.hw()
	d.Repeat(o, in[0], []int{m.b * m.c, m.hw()}, []int{m.b * m.c, 1})
	d.Scale(o, o, n, 1/float32(m.hw()))
}

// The prompt mixture is one product w P, its gradients dy P^T and w^T dy.
func (k promptMix) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.Gemm(false, false, k.b, k.n(), k.l, 1, in[0], k.l, in[1], k.n(), 0, o, k.n(), gpu.One)
}
func (g promptMixGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	k := g.f
	if g.wrt == 0 {
		d.Gemm(false, true, k.b, k.l, k.n(), 1, in[1], k.n(), in[0], k.n(), 0, o, k.l, gpu.One)
		return
	}
	d.Gemm(true, false, k.l, k.n(), k.b, 1, in[0], k.l, in[1], k.n(), 0, o, k.n(), gpu.One)
}

// The prompt weights' softmax is the attention's row softmax, with a
// temperature of one.
func (k rowSoftmax) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	one := pixOne(d)
	d.RowSoftmax(o, in[0], one, k.rows, k.n)
	d.Free(one)
}
func (k rowSoftmaxGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	one, scratch := pixOne(d), d.Alloc(k.rows)
	d.Copy(o, in[1], k.rows*k.n)
	d.RowSoftmaxBack(o, scratch, in[0], one, k.rows, k.n)
	d.Free(one)
	d.Free(scratch)
}
