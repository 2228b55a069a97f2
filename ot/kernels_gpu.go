//go:build baryirgpu

package ot

// GPU launches of the per-sample cost (see internal/gpu), composed of the
// executor's elementwise, repeat and reduction kernels.

import "github.com/x/baryir/internal/gpu"

// LaunchGPU of the stop-gradient is a copy.
func (k detach) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.Copy(o, in[0], max(k.shape.TotalSize(), 1))
}

// sampleCosts writes each sample's cost c(x_i, y_i) to c (n elements).
func (k costKernel) sampleCosts(d *gpu.Device, c, x, y gpu.Buf) {
	nd := k.n * k.d
	sq := d.Alloc(nd)
	d.Binary(sq, x, y, nd, nd, nd, gpu.OpSub)
	d.Unary(sq, sq, nd, gpu.OpSquare)
	if k.cost == HalfSquared {
		d.ReduceSum(c, sq, k.n, k.d, 1, 0.5, 0)
	} else {
		d.ReduceSum(c, sq, k.n, k.d, 1, float32(1/float64(k.d)), 0)
		eps := d.Alloc(1)
		d.Fill(eps, 1, rmsEps)
		d.Binary(c, c, eps, k.n, k.n, 1, gpu.OpAdd)
		d.Unary(c, c, k.n, gpu.OpSqrt)
		d.Free(eps)
	}
	d.Free(sq)
}

func (k costKernel) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	k.sampleCosts(d, o, in[0], in[1])
}

// LaunchGPU computes sign * f_i * (x - y) per sample i, with f_i = dOut_i
// (half-squared) or dOut_i / (d c_i) (RMS).
func (g costGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	k := g.k
	nd := k.n * k.d
	x, y, dOut := in[0], in[1], in[2]
	f := d.Alloc(k.n)
	if k.cost == RMS {
		k.sampleCosts(d, f, x, y)
		d.Binary(f, dOut, f, k.n, k.n, k.n, gpu.OpDiv)
		d.Scale(f, f, k.n, float32(g.sign/float64(k.d)))
	} else {
		d.Scale(f, dOut, k.n, float32(g.sign))
	}
	rep := d.Alloc(nd)
	d.Repeat(rep, f, []int{k.n, k.d}, []int{k.n, 1})
	d.Binary(o, x, y, nd, nd, nd, gpu.OpSub)
	d.Binary(o, o, rep, nd, nd, nd, gpu.OpMul)
	d.Free(rep)
	d.Free(f)
}
