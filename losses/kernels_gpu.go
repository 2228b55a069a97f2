//go:build baryirgpu

package losses

// GPU launches of this package's kernels (see internal/gpu).

import "github.com/x/baryir/internal/gpu"

func (k l1Kernel) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.L1(o, in[0], in[1], max(k.shape.TotalSize(), 1))
}

func (k l1Grad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.L1Grad(o, in[0], in[1], in[2], max(k.shape.TotalSize(), 1), float32(k.sign))
}

func (k broKernel) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.BRO(o, in[0], in[1], k.b, k.f)
}

func (k broGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.BROGrad(o, in[0], in[1], in[2], k.bro.b, k.bro.f, k.wrt)
}

func (k ircKernel) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.IRC(o, in[0], in[1], k.b, k.f, k.tau)
}

func (k ircGrad) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.IRCGrad(o, in[0], in[1], in[2], k.b, k.f, k.tau)
}
