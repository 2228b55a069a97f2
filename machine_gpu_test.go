//go:build baryirgpu

package baryir_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
)

// userGraph is a user's graph of ops BaryNet does not use: matrix and
// matrix-vector products, a broadcast bias add, tanh, exp, log, sigmoid,
// softmax and means over axes, with the gradients of its loss.
func userGraph(t *testing.T) (g *G.ExprGraph, x *G.Node, read, params, grads G.Nodes) {
	g = G.NewGraph()
	val := func(phase float64, shape ...int) tensor.Tensor {
		d := make([]float32, tensor.Shape(shape).TotalSize())
		for i := range d {
			d[i] = float32(math.Sin(float64(i)*1.3+phase)) * 0.7
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	x = G.NewMatrix(g, tensor.Float32, G.WithShape(4, 6), G.WithName("x"))
	w := G.NewMatrix(g, tensor.Float32, G.WithShape(6, 5), G.WithName("w"), G.WithValue(val(0, 6, 5)))
	b := G.NewVector(g, tensor.Float32, G.WithShape(5), G.WithName("b"), G.WithValue(val(1, 5)))
	v := G.NewVector(g, tensor.Float32, G.WithShape(5), G.WithName("v"), G.WithValue(val(2, 5)))
	z := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w)), b, nil, []byte{0}))
	act := G.Must(G.Tanh(z))
	l := G.Must(G.Log(G.Must(G.Add(G.Must(G.Exp(act)), G.NewConstant(float32(1))))))
	sm := G.Must(G.SoftMax(z))
	sig := G.Must(G.Sigmoid(z))
	rows := G.Must(G.Mean(G.Must(G.Add(G.Must(G.Add(l, sig)), sm)), 1))
	mv := G.Must(G.Mul(act, v))
	loss := G.Must(G.Mean(G.Must(G.HadamardProd(rows, mv))))
	params = G.Nodes{w, b, v}
	grads, err := G.Grad(loss, params...)
	require.NoError(t, err)
	return g, x, append(G.Nodes{loss, sm, rows, mv}, grads...), params, grads
}

// The same user graph gives the same values and gradients on the GPU
// machine as on the CPU one (relative error <= 1e-5 per tensor).
func TestMachineUserGraphGPU(t *testing.T) {
	run := func(d baryir.Device) [][]float32 {
		g, x, read, _, _ := userGraph(t)
		m, err := baryir.NewMachine(g, baryir.MachineOptions{Device: d, Keep: read})
		require.NoError(t, err)
		defer m.Close()
		in := make([]float32, 24)
		for i := range in {
			in[i] = float32(i%7)/3 - 1
		}
		require.NoError(t, m.Let(x, tensor.New(tensor.WithShape(4, 6), tensor.WithBacking(in))))
		require.NoError(t, m.RunAll())
		var out [][]float32
		for _, n := range read {
			v, err := m.Value(n)
			require.NoError(t, err)
			switch d := v.Data().(type) {
			case float32:
				out = append(out, []float32{d})
			case []float32:
				out = append(out, append([]float32(nil), d...))
			}
		}
		return out
	}
	cpu, gpu := run(baryir.DeviceCPU), run(baryir.DeviceGPU)
	require.Len(t, gpu, len(cpu))
	names := []string{"loss", "softmax", "row means", "matrix-vector", "grad w", "grad b", "grad v (outer product)"}
	for i := range cpu {
		var num, den float64
		for j := range cpu[i] {
			num += float64(gpu[i][j]-cpu[i][j]) * float64(gpu[i][j]-cpu[i][j])
			den += float64(cpu[i][j]) * float64(cpu[i][j])
		}
		rel := math.Sqrt(num / math.Max(den, 1e-30))
		t.Logf("%-14s GPU vs CPU relative error %.2e", names[i], rel)
		if !(rel <= 1e-5) {
			t.Errorf("%s: GPU %v, CPU %v", names[i], gpu[i], cpu[i])
		}
	}
}

// Without host fallback, an op with no GPU kernel is an error that names it.
func TestMachineNamesHostOps(t *testing.T) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float32, G.WithShape(5), G.WithName("x"))
	y := G.Must(G.LogSoftMax(x))
	_, err := baryir.NewMachine(g, baryir.MachineOptions{Device: baryir.DeviceGPU, Keep: G.Nodes{y}})
	require.ErrorContains(t, err, "Softmax")
	m, err := baryir.NewMachine(g, baryir.MachineOptions{Device: baryir.DeviceGPU, Keep: G.Nodes{y}, HostFallback: true})
	require.NoError(t, err)
	defer m.Close()
	require.NotEmpty(t, baryir.MachineHostOps(m))
}
