package baryir_test

import (
	"fmt"
	"math"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
)

// Training BaryIR: a sampler of degraded/clean patches (here the embedded
// photos under the three degradations of the paper), a TrainConfig (the
// paper's, shrunk to the Tiny network on small patches) and a Trainer. Each
// Step takes one step of the network, then one of the potentials, and
// returns the step's losses; Run takes many, with a log, checkpoints and a
// loss curve (RunOptions). StateDict is the trained network, for
// WriteWeights or NewRestorer.
func ExampleNewTrainer() {
	sources, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		panic(err)
	}
	cfg := baryir.PaperTraining(baryir.Tiny())
	cfg.Batch, cfg.Patch = 2, 16
	sampler, err := data.NewSampler(sources, cfg.Patch, cfg.Seed)
	if err != nil {
		panic(err)
	}
	tr, err := baryir.NewTrainer(cfg, sampler)
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	for range 2 {
		l, err := tr.Step()
		if err != nil {
			panic(err)
		}
		finite := !math.IsNaN(l.Generator) && !math.IsInf(l.Generator, 0) && !math.IsNaN(l.Potential)
		fmt.Printf("step %d: losses finite %v, L1 > 0 %v\n", tr.StepCount(), finite, l.L1 > 0)
	}
	weights, err := tr.StateDict()
	if err != nil {
		panic(err)
	}
	fmt.Println(len(weights) > 0)
	// Output:
	// step 1: losses finite true, L1 > 0 true
	// step 2: losses finite true, L1 > 0 true
	// true
}

// A hook of your own watches the run beside the built-in log, checkpoints,
// curve and progress line: here it prints each step's epoch and whether
// the L1 loss is finite.
func ExampleHook() {
	sources, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		panic(err)
	}
	cfg := baryir.PaperTraining(baryir.Tiny())
	cfg.Batch, cfg.Patch, cfg.Optimizer, cfg.LR = 2, 16, baryir.OptimizerAdam, 2e-3
	sampler, err := data.NewSampler(sources, cfg.Patch, cfg.Seed)
	if err != nil {
		panic(err)
	}
	tr, err := baryir.NewTrainer(cfg, sampler)
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	printer := baryir.Hook{
		OnStep: func(_ *baryir.Trainer, s baryir.Losses) error {
			fmt.Printf("step %d, epoch %d, L1 > 0: %v\n", s.Step, s.Epoch, s.L1 > 0)
			return nil
		},
		OnEnd: func(_ *baryir.Trainer, hist []baryir.Losses, err error) error {
			fmt.Printf("%d steps, error %v\n", len(hist), err)
			return nil
		},
	}
	if _, err := tr.Run(baryir.RunOptions{Steps: 3, Hooks: []baryir.Hook{printer}}); err != nil {
		panic(err)
	}
	// Output:
	// step 1, epoch 0, L1 > 0: true
	// step 2, epoch 0, L1 > 0: true
	// step 3, epoch 0, L1 > 0: true
	// 3 steps, error <nil>
}
