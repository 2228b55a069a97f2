package baryir

import (
	"testing"

	"github.com/x/baryir/data"
)

// BenchmarkTrainStep times Trainer.StepOn (network step and potentials'
// step) on one fixed batch of 4 64x64 patches, for profiling:
//
//	go test -run '^$' -bench TrainStep/tiny -cpuprofile cpu.out .
func BenchmarkTrainStep(b *testing.B) {
	mid := Tiny()
	mid.Dim, mid.Blocks = 16, [4]int{2, 2, 2, 2}
	for _, c := range []struct {
		name string
		net  Config
	}{{"tiny", Tiny()}, {"mid", mid}} {
		b.Run(c.name, func(b *testing.B) { benchSteps(b, c.net, 4, 64) })
	}
}

// benchSteps times Trainer.StepOn (PaperTraining of net) on one fixed
// batch of batch size x size patches, after one untimed step.
func benchSteps(b *testing.B, net Config, batch, size int) {
	cfg := PaperTraining(net)
	cfg.Batch, cfg.Patch, cfg.Seed = batch, size, 1
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		b.Fatal(err)
	}
	s, err := data.NewSampler(src, cfg.Patch, cfg.Seed)
	if err != nil {
		b.Fatal(err)
	}
	fixed, err := s.Next(cfg.Batch)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer(cfg, s)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.StepOn(fixed); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := tr.StepOn(fixed); err != nil {
			b.Fatal(err)
		}
	}
}
