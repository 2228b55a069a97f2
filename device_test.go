package baryir

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
)

// The device option: unknown names fail, and in a build without GPU
// support DeviceGPU fails with ErrNoGPU (device_gpu_test.go checks the GPU
// paths in builds with -tags baryirgpu).
func TestDeviceOption(t *testing.T) {
	c := PaperTraining(Tiny())
	c.Device = "tpu"
	require.ErrorContains(t, c.Validate(), `unknown device "tpu"`)
	for _, d := range []Device{"", DeviceCPU, DeviceGPU} {
		c.Device = d
		require.NoError(t, c.Validate(), d.String())
	}

	net, err := NewNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 5), Tiny())
	require.NoError(t, err)
	sd, err := Save(net.Params())
	require.NoError(t, err)
	r, err := NewRestorer(Tiny(), sd)
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, DeviceCPU, r.Device())
	require.ErrorContains(t, r.SetDevice("tpu"), `unknown device "tpu"`)
	if GPUAvailable {
		return
	}
	require.True(t, errors.Is(r.SetDevice(DeviceGPU), ErrNoGPU))
	require.Equal(t, DeviceCPU, r.Device())
	c.Device = DeviceGPU
	c.Batch, c.Patch = 2, 16
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	require.NoError(t, err)
	s, err := data.NewSampler(src, c.Patch, 1)
	require.NoError(t, err)
	_, err = NewTrainer(c, s)
	require.True(t, errors.Is(err, ErrNoGPU), "%v", err)
}
