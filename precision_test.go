package baryir

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// Precision names round-trip; bad names and values are errors.
func TestPrecisionNames(t *testing.T) {
	for _, p := range precisions() {
		q, err := ParsePrecision(p.String())
		require.NoError(t, err)
		require.Equal(t, p, q)
	}
	for s, want := range map[string]Precision{"": PrecisionFP32, "BF16": PrecisionBF16, " tf32 ": PrecisionTF32} {
		p, err := ParsePrecision(s)
		require.NoError(t, err, s)
		require.Equal(t, want, p, s)
	}
	_, err := ParsePrecision("fp16")
	require.ErrorContains(t, err, `unknown precision "fp16"`)
	require.Equal(t, "Precision(9)", Precision(9).String())
	require.ErrorContains(t, Precision(9).check(), "unknown precision")
}

// The CPU computes in float32 only: TF32 and BF16 there are errors that
// say so, from NewMachine, NewTrainer and NewRestorer;
// FP32 is accepted everywhere.
func TestPrecisionOnCPU(t *testing.T) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float32, G.WithShape(3), G.WithName("x"))
	y := G.Must(G.Square(x))
	for _, p := range []Precision{PrecisionTF32, PrecisionBF16} {
		_, err := NewMachine(g, MachineOptions{Precision: p, Keep: G.Nodes{y}})
		require.ErrorContains(t, err, "precision "+p.String()+" needs device gpu: the cpu machine computes in float32 only")
	}
	_, err := NewMachine(g, MachineOptions{Precision: Precision(7), Keep: G.Nodes{y}})
	require.ErrorContains(t, err, "unknown precision 7")
	m, err := NewMachine(g, MachineOptions{Precision: PrecisionFP32, Keep: G.Nodes{y}})
	require.NoError(t, err)
	require.Equal(t, PrecisionFP32, m.precision)
	require.NoError(t, m.Close())

	c := PaperTraining(Tiny())
	c.Precision = PrecisionBF16
	require.ErrorContains(t, c.validate(), "precision bf16 needs device gpu")
	c.Device = DeviceGPU
	if GPUAvailable {
		require.NoError(t, c.validate()) // whether the GPU and cuBLASLt exist is known when the machine is made
	} else {
		require.ErrorIs(t, c.validate(), ErrNoGPU)
	}

	net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 5), Tiny())
	require.NoError(t, err)
	sd, err := StateDictOf(net.Scope.Params())
	require.NoError(t, err)
	_, err = NewRestorer(Tiny(), sd, RestorerOptions{Precision: PrecisionTF32})
	require.ErrorContains(t, err, "precision tf32 needs device gpu")
	r, err := NewRestorer(Tiny(), sd, RestorerOptions{Precision: PrecisionFP32})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, PrecisionFP32, r.opts.Precision)
	if !GPUAvailable {
		_, err := NewMachine(g, MachineOptions{Device: DeviceGPU, Precision: PrecisionBF16, Keep: G.Nodes{y}})
		require.True(t, errors.Is(err, ErrNoGPU), "%v", err)
	}
}
