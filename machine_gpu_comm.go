//go:build baryirgpu

package baryir

import (
	G "gorgonia.org/gorgonia"
)

// allReduceGrads averages the gradients over the ranks where the GPU
// machine holds them: with a deviceComm (NCCL), in place on the device
// buffers, one all-reduce per gradient queued on the machine's stream;
// with a host communicator (MPI), through the host: download, all-reduce in
// buckets, upload.
func (b *gpuBackend) allReduceGrads(c Comm, bk *buckets, grads G.Nodes) error {
	if dc, ok := c.(deviceComm); ok {
		return b.d.InContext(func() error {
			for _, g := range grads {
				buf, ok := b.e.Buf(g)
				if !ok {
					return errorf("gradient %s is not kept on the GPU", g.Name())
				}
				if err := dc.AllReduceDevice(uintptr(buf.Ptr), g.Shape().TotalSize(), true); err != nil {
					return err
				}
			}
			return nil
		})
	}
	slices := make([][]float32, len(grads))
	for i, g := range grads {
		var err error
		if slices[i], err = b.e.Read(g); err != nil {
			return err
		}
	}
	if err := bk.AllReduce(slices, true); err != nil {
		return err
	}
	for i, g := range grads {
		buf, _ := b.e.Buf(g)
		if err := b.d.Upload(buf, slices[i]); err != nil {
			return err
		}
	}
	return nil
}
