package main

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
)

// paperBench is one paper-scale row: the Paper preset (baryir.Paper(): dim
// 48, blocks 4,6,6,8, refinement 4) at the sizes users run, measuring one
// thing only (the others take minutes there and are left at zero / null).
type paperBench struct {
	// what is measured: "infer" (Restorer.Restore of one size x size
	// image, batch 1, in one tile so PyTorch's single pass compares) or
	// "step" (Trainer.StepOn with baryir.PaperTraining on a fixed batch).
	what        string
	batch, size int
}

// paperBenches are the paper-scale rows, by name (-configs).
func paperBenches() map[string]paperBench {
	return map[string]paperBench{
		"paper-infer-256": {what: "infer", batch: 1, size: 256},
		"paper-infer-512": {what: "infer", batch: 1, size: 512},
		"paper-step-128":  {what: "step", batch: 2, size: 128},
	}
}

// measurePaper times one paper-scale row in this process (the child).
// Weights are the network's seeded random initialisation: speed and memory
// do not depend on their values.
func measurePaper(p paperBench, reps int) (goResult, error) {
	var r goResult
	net := baryir.Paper()
	// The graph the FLOPs are counted on: the network's forward at the
	// row's batch and size.
	g := G.NewGraph()
	nw, err := net.Build(layers.NewScope(g, tensor.Float32, 1))
	if err != nil {
		return r, err
	}
	for _, p := range nw.Scope.Params() {
		r.Params += p.Node.Shape().TotalSize()
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(p.batch, 3, p.size, p.size), G.WithName("x"))
	if _, err := nw.Forward(x); err != nil {
		return r, err
	}
	r.FwdFLOPs = countFLOPs(g)

	switch p.what {
	case "infer":
		sd, err := baryir.StateDictOf(nw.Scope.Params())
		if err != nil {
			return r, err
		}
		nw, g = nil, nil // the Restorer keeps its own copy of the weights
		// Tiles of the image's size: one pass whatever the memory budget, as PyTorch's.
		res, err := baryir.NewRestorer(net, sd, baryir.RestorerOptions{Tile: p.size})
		if err != nil {
			return r, err
		}
		defer res.Close()
		sd = nil
		rng := rand.New(rand.NewPCG(1, 2))
		img := data.NewImage("random", p.size, p.size)
		for i := range img.Pix {
			img.Pix[i] = rng.Float32()
		}
		r.Measured = []string{"infer"}
		r.InferS, r.InferAll, err = timedWarm(1, reps, func() error { _, err := res.Restore(img); return err })
		return r, err
	case "step":
		nw, g = nil, nil
		tr, batch, err := stepTrainer(net, p.batch, p.size)
		if err != nil {
			return r, err
		}
		defer tr.Close()
		r.Measured = []string{"step"}
		r.StepS, r.StepAll, err = timedWarm(1, reps, func() error { _, err := tr.StepOn(batch); return err })
		return r, err
	}
	return r, fmt.Errorf("paper row measures %q, want infer or step", p.what)
}
