package losses_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
	"github.com/x/baryir/losses"
)

// Per-sample IRC and BRO of a batch of three samples from two sources, and
// their batch means.
func Example() {
	g := G.NewGraph()
	mat := func(name string, v ...float64) *G.Node {
		return G.NewTensor(g, tensor.Float64, 2, G.WithShape(3, 2), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking(v))))
	}
	r := mat("r", 1, 0, 1, 0.1, 1, 0.3)
	b := mat("b", 0, 1, 0, 1, 1, 0)
	// The samples' sources: an input node, set anew for every batch.
	ids := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("ids"),
		G.WithValue(tensor.New(tensor.WithBacking([]float64{0, 0, 1}))))

	bld := &layers.Builder{}
	irc := bld.N(losses.IRC(r, ids, losses.DefaultTau))
	bro := bld.N(losses.BRO(b, r))
	loss := bld.N(G.Mean(bld.Add(irc, bro)))
	// The tape machine may reuse the buffers of irc and bro in place once
	// the loss no longer needs them, so intermediate values are read out.
	var ircV, broV G.Value
	G.Read(irc, &ircV)
	G.Read(bro, &broV)
	if bld.Err() != nil {
		fmt.Println(bld.Err())
		return
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("IRC %.4f\nBRO %.4f\nloss %.4f\n", ircV.Data(), broV.Data(), loss.Value().Data())
	// Output:
	// IRC [0.2495 0.3353 0.8403]
	// BRO [0.0925 0.0925 2.9075]
	// loss 1.5059
}
