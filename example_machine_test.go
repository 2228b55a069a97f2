package baryir_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/losses"
	"github.com/x/baryir/ot"
)

// A Machine runs any graph of our builders and plain Gorgonia ops; the
// device is an option (MachineOptions.Device: DeviceGPU on an NVIDIA GPU).
// Here: BaryNet's forward pass on a batch, reading the restored image and
// the bottleneck latents s, b = T(s) and r = s - b.
func ExampleMachine() {
	g := G.NewGraph()
	net, err := baryir.Tiny().Build(layers.NewScope(g, tensor.Float32, 1))
	if err != nil {
		panic(err)
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 3, 32, 32), G.WithName("x"))
	out, err := net.Forward(x)
	if err != nil {
		panic(err)
	}
	m, err := baryir.NewMachine(g, baryir.MachineOptions{Device: baryir.DeviceCPU, Keep: G.Nodes{out.Restored, out.Bary, out.Residual}})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	pix := make([]float32, 2*3*32*32)
	for i := range pix {
		pix[i] = float32(i%97) / 96
	}
	if err := m.Let(x, tensor.New(tensor.WithShape(2, 3, 32, 32), tensor.WithBacking(pix))); err != nil {
		panic(err)
	}
	if err := m.RunAll(); err != nil {
		panic(err)
	}
	for _, n := range []*G.Node{out.Restored, out.Bary, out.Residual} {
		v, _ := m.Value(n)
		fmt.Println(n.Shape(), v.Shape())
	}
	// Output:
	// (2, 3, 32, 32) (2, 3, 32, 32)
	// (2, 64, 4, 4) (2, 64, 4, 4)
	// (2, 64, 4, 4) (2, 64, 4, 4)
}

// The optimisers step parameters wherever the machine holds them: here a
// few Adam steps on the L1 loss of a 1x1 convolution, in a user's own loop.
func ExampleNewOptimizer() {
	g := G.NewGraph()
	s := layers.NewScope(g, tensor.Float32, 7)
	conv := layers.NewConv2d(s, layers.Conv2dConfig{In: 3, Out: 3, Kernel: 1, Bias: true})
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, 4, 4), G.WithName("x"), G.WithInit(G.RangedFrom(0)))
	y := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, 4, 4), G.WithName("y"), G.WithInit(G.Zeroes()))
	b := &layers.Builder{}
	loss := b.N(losses.L1(b.Do(conv.Forward, x), y))
	var params G.Nodes
	for _, p := range s.Params() {
		params = append(params, p.Node)
	}
	grads, err := G.Grad(loss, params...)
	if b.Err() != nil || err != nil {
		panic(fmt.Sprint(b.Err(), err))
	}
	m, err := baryir.NewMachine(g, baryir.MachineOptions{Keep: append(G.Nodes{loss}, grads...)})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	opt, err := baryir.NewOptimizer(baryir.OptimizerAdam, 0.1)
	if err != nil {
		panic(err)
	}
	var first, last float64
	for step := range 20 {
		if err := m.RunAll(); err != nil {
			panic(err)
		}
		l, _ := ot.Scalar(m, loss)
		if step == 0 {
			first = l
		}
		last = l
		if err := opt.Update(m, params, grads); err != nil {
			panic(err)
		}
	}
	st, _ := opt.State()
	fmt.Printf("L1 fell: %v; %d steps, %d state buffers\n", last < first/2, st.Steps, len(st.Buffers))
	// Output:
	// L1 fell: true; 20 steps, 4 state buffers
}
