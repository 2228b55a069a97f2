//go:build baryirgpu

package baryir

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/gpu"
	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/ot"
)

// openGPU is the process's GPU, device 0, that every machine shares.
func openGPU() (*gpu.Device, error) { return gpu.Shared() }

// gpuName is the name of the GPU that DeviceGPU uses, opening it if needed.
func gpuName() (string, error) {
	d, err := openGPU()
	if err != nil {
		return "", err
	}
	return d.Name(), nil
}

// gpuBackend runs the graph with internal/gpu's executor: compiled once for
// the kept nodes, inputs with values uploaded at compile time.
type gpuBackend struct {
	d *gpu.Device
	e *gpu.Executor
}

func newGPUBackend(g *G.ExprGraph, c MachineOptions) (backend, error) {
	d, err := openGPU()
	if err != nil {
		return nil, err
	}
	prec, err := gpuPrecision(c.Precision)
	if err != nil {
		return nil, err
	}
	e, err := gpu.Compile(d, g, gpu.Options{HostFallback: c.HostFallback, Precision: prec}, c.Keep...)
	if err != nil {
		return nil, err
	}
	return &gpuBackend{d: d, e: e}, nil
}

// gpuPrecision is the executor's name for p.
func gpuPrecision(p Precision) (gpu.Precision, error) {
	switch p {
	case PrecisionFP32:
		return gpu.FP32, nil
	case PrecisionTF32:
		return gpu.TF32, nil
	case PrecisionBF16:
		return gpu.BF16, nil
	}
	return 0, p.check()
}

func (b *gpuBackend) Phase(roots ...*G.Node) (ot.Phase, error) { return b.e.Phase(roots...) }

func (b *gpuBackend) Value(n *G.Node) (G.Value, error) {
	data, err := b.e.Read(n)
	if err != nil {
		return nil, err
	}
	if n.Shape().IsScalar() {
		return G.NewF32(data[0]), nil
	}
	return tensor.New(tensor.WithShape(n.Shape().Clone()...), tensor.WithBacking(data)), nil
}

func (b *gpuBackend) Let(n *G.Node, v G.Value) error { return b.e.Let(n, v) }
func (b *gpuBackend) pull(n *G.Node) error           { return b.e.ReadInto(n) }

func (b *gpuBackend) push(n *G.Node) error {
	if _, held := b.e.Buf(n); !held {
		return nil // not in the compiled graph
	}
	data, err := op.Data[float32](n.Value())
	if err != nil {
		return errorf("%s: %w", n.Name(), err)
	}
	return b.e.LetData(n, data)
}

func (b *gpuBackend) hostOps() []string { return b.e.HostOps }

func (b *gpuBackend) close() error {
	b.e.Close()
	return b.d.Err()
}

func (b *gpuBackend) optimizer(s optimSpec) (optimEngine, error) {
	if s.adam {
		return &gpuOptim{e: b.e, adam: &gpu.Adam{}}, nil
	}
	return &gpuOptim{e: b.e, rms: &gpu.RMSProp{TorchEps: true}}, nil
}

// gpuOptim is internal/gpu's RMSProp or Adam on one executor's buffers.
type gpuOptim struct {
	e    *gpu.Executor
	rms  *gpu.RMSProp
	adam *gpu.Adam
}

func (o *gpuOptim) step(params, grads G.Nodes, s optimSpec) error {
	if o.adam != nil {
		o.adam.LR, o.adam.Beta1, o.adam.Beta2, o.adam.Eps = s.lr, s.a, s.b, s.eps
		return o.adam.Step(o.e, params, grads)
	}
	o.rms.LR, o.rms.Decay, o.rms.Eps = s.lr, s.a, s.eps
	return o.rms.Step(o.e, params, grads)
}

func (o *gpuOptim) state(params G.Nodes) ([][]float64, error) {
	var bufs [][]float32
	var err error
	if o.adam != nil {
		bufs, _, err = o.adam.State(o.e, params)
	} else {
		bufs, err = o.rms.State(o.e, params)
	}
	if err != nil || bufs == nil {
		return nil, err
	}
	wide := make([][]float64, len(bufs))
	for i, b := range bufs {
		wide[i] = make([]float64, len(b))
		for j, v := range b {
			wide[i][j] = float64(v)
		}
	}
	return wide, nil
}

func (o *gpuOptim) setState(params G.Nodes, wide [][]float64, steps int) error {
	var bufs [][]float32
	if wide != nil {
		bufs = make([][]float32, len(wide))
		for i, w := range wide {
			bufs[i] = make([]float32, len(w))
			for j, v := range w {
				bufs[i][j] = float32(v)
			}
		}
	}
	if o.adam != nil {
		return o.adam.SetState(o.e, params, bufs, steps)
	}
	return o.rms.SetState(o.e, params, bufs)
}

func (o *gpuOptim) free() {
	if o.adam != nil {
		o.adam.Free(o.e)
	} else {
		o.rms.Free(o.e)
	}
}
