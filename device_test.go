package baryir

import (
	"errors"
	"strings"
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
	require.ErrorContains(t, c.validate(), `unknown device "tpu"`)
	for _, d := range []Device{"", DeviceCPU} {
		c.Device = d
		require.NoError(t, c.validate(), d.String())
	}
	// Without GPU support, DeviceGPU is refused before any graph is built.
	c.Device = DeviceGPU
	if GPUAvailable {
		require.NoError(t, c.validate())
	} else {
		require.ErrorIs(t, c.validate(), ErrNoGPU)
	}

	net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 5), Tiny())
	require.NoError(t, err)
	sd, err := StateDictOf(net.Scope.Params())
	require.NoError(t, err)
	r, err := NewRestorer(Tiny(), sd, RestorerOptions{})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, DeviceCPU, r.opts.Device)
	_, err = NewRestorer(Tiny(), sd, RestorerOptions{Device: "tpu"})
	require.ErrorContains(t, err, `unknown device "tpu"`)
	if GPUAvailable {
		return
	}
	_, err = NewRestorer(Tiny(), sd, RestorerOptions{Device: DeviceGPU})
	require.True(t, errors.Is(err, ErrNoGPU))
	c.Device = DeviceGPU
	c.Batch, c.Patch = 2, 16
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	require.NoError(t, err)
	s, err := data.NewSampler(src, c.Patch, 1)
	require.NoError(t, err)
	_, err = NewTrainer(c, s)
	require.True(t, errors.Is(err, ErrNoGPU), "%v", err)

	// The machine's error carries the package's prefix once.
	_, err = NewMachine(G.NewGraph(), MachineOptions{Device: DeviceGPU})
	require.ErrorIs(t, err, ErrNoGPU)
	require.Equal(t, 1, strings.Count(err.Error(), "baryir:"), err.Error())
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]Device{"cpu": DeviceCPU, "GPU": DeviceGPU, " Cpu ": DeviceCPU, "": DeviceCPU, "gPu": DeviceGPU} {
		d, err := ParseDevice(in)
		require.NoError(t, err, in)
		require.Equal(t, want, d, in)
	}
	_, err := ParseDevice("tpu")
	require.ErrorContains(t, err, `unknown device "tpu" (want cpu or gpu)`)
}

// NewMachine refuses Gorgonia's slices of axes longer than 256, which the
// graph can merge, naming the node, unless the caller opts in; the
// library's own slice is accepted.
func TestMachineRefusesAliasableSlices(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(300, 2), G.WithName("x"), G.WithInit(G.Zeroes()))
	bad := G.Must(G.Slice(x, G.S(256, 266)))
	good, err := layers.Slice(x, 0, 256, 266)
	require.NoError(t, err)
	_, err = NewMachine(g, MachineOptions{Keep: G.Nodes{bad}})
	require.ErrorContains(t, err, "layers.Slice")
	require.ErrorContains(t, err, bad.Name())
	m, err := NewMachine(g, MachineOptions{Keep: G.Nodes{bad}, AllowGorgoniaSlices: true})
	require.NoError(t, err)
	require.NoError(t, m.Close())

	g2 := G.NewGraph()
	x2 := G.NewMatrix(g2, tensor.Float32, G.WithShape(300, 2), G.WithName("x"), G.WithInit(G.Zeroes()))
	good, err = layers.Slice(x2, 0, 256, 266)
	require.NoError(t, err)
	m, err = NewMachine(g2, MachineOptions{Keep: G.Nodes{good}})
	require.NoError(t, err)
	require.NoError(t, m.RunAll())
	require.Equal(t, []int{10, 2}, []int(good.Shape()))
	require.NoError(t, m.Close())
}
