package baryir

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// BenchmarkPaperRestore times Restorer.Restore of one 256x256 image with
// the Paper preset (random weights), for profiling at the size users run:
//
//	go test -run '^$' -bench PaperRestore -benchtime 2x -cpuprofile cpu.out .
func BenchmarkPaperRestore(b *testing.B) {
	net, err := NewNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 3), Paper())
	if err != nil {
		b.Fatal(err)
	}
	sd, err := Save(net.Params())
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewRestorer(Paper(), sd)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const side = 256
	rng := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, 3*side*side)
	for i := range img {
		img[i] = rng.Float32()
	}
	if _, err := r.Restore(img, side, side); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := r.Restore(img, side, side); err != nil {
			b.Fatal(err)
		}
	}
}
