//go:build baryirgpu

package baryir

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// halfJob is rank 0 of a job of two whose other rank contributes 1 to every
// element of a buffer longer than one element, so that a mean all-reduce
// maps v to (v+1)/2, and 0 to a one-element buffer (the layout check's
// verdict, which then passes).
type halfJob struct{ localComm }

func (halfJob) Size() int { return 2 }

func (halfJob) AllReduce(buf []float32) error {
	if len(buf) > 1 {
		for i := range buf {
			buf[i]++
		}
	}
	return nil
}

func (halfJob) Broadcast([]float32, int) error { return nil }

// The GPU machine's gradients go through the host communicator and back:
// with a job whose mean shifts every gradient, GPU and CPU trainers still
// agree, which they would not if the GPU stepped on its local gradients.
func TestGPUDataParallelMatchesCPU(t *testing.T) {
	for _, arch := range []family{familyBaryNet, familyRestormer} {
		t.Run(string(arch), func(t *testing.T) {
			var params [2][]float32
			for i, dev := range []Device{DeviceCPU, DeviceGPU} {
				tr, err := shardTraining(t, arch, halfJob{}, func(c *TrainConfig) { c.Device = dev })
				require.NoError(t, err)
				_, err = tr.Run(RunOptions{Steps: 2})
				require.NoError(t, err)
				params[i] = paramValues(t, tr)
			}
			e := relErr32(params[1], params[0])
			gpuReport(t, "data parallel %s, 2 steps with a shifted mean, GPU vs CPU parameters: relative error %.2e", arch, e)
			require.Less(t, e, gpuTol)
		})
	}
}
