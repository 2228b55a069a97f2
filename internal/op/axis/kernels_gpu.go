//go:build baryirgpu

package axis

// GPU launches (see internal/gpu): each queues the copies Forward32 makes.

import "github.com/x/baryir/internal/gpu"

func (k concat) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	from := 0
	for i, n := range k.sizes {
		d.ChannelCopy(o, in[i], k.outer, n, k.inner, k.total, from, true)
		from += n
	}
}

func (k slice) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.ChannelCopy(o, in[0], k.outer, k.n, k.inner, k.total, k.from, false)
}

func (k embed) LaunchGPU(d *gpu.Device, o gpu.Buf, in []gpu.Buf) {
	d.Fill(o, k.outer*k.total*k.inner, 0)
	d.ChannelCopy(o, in[0], k.outer, k.n, k.inner, k.total, k.from, true)
}
