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
