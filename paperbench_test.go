package baryir

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
)

// paperRestorer is a Restorer of the Paper preset with its seeded random
// initialisation as weights.
func paperRestorer(b testing.TB) *Restorer {
	net, err := NewNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 3), Paper())
	if err != nil {
		b.Fatal(err)
	}
	sd, err := StateDictOf(net.Params())
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewRestorer(Paper(), sd)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	return r
}

// BenchmarkPaperTiledPSNR reports the PSNR between tiled restoration and
// one pass with the Paper preset's random weights: dB320 and dB480 with
// the default tiles (256 pixels overlapping by at least 32, 3 passes) on a
// 320x320 and a 480x480 mosaic of the embedded test photos, dB480_ov96
// with 96 pixels of overlap. At 320 the two tiles of each axis share 192
// pixels; at 480 they share 32, the least they may. It takes minutes, so
// it is a benchmark rather than a test:
//
//	go test -run '^$' -bench PaperTiledPSNR -benchtime 1x .
func BenchmarkPaperTiledPSNR(b *testing.B) {
	r := paperRestorer(b)
	var psnr320, psnr480, psnr96 float64
	for range b.N {
		psnr320, psnr480 = tiledPSNR(b, r, 320), tiledPSNR(b, r, 480)
		r.Overlap = 96
		psnr96 = tiledPSNR(b, r, 480)
		r.Overlap = 32
	}
	b.ReportMetric(psnr320, "dB320")
	b.ReportMetric(psnr480, "dB480")
	b.ReportMetric(psnr96, "dB480_ov96")
}

// pixPSNR is data.PSNR of two (3, h, w) images in [0,1].
func pixPSNR(tb testing.TB, clean, restored []float32, h, w int) float64 {
	p, err := data.PSNR(&data.Image{H: h, W: w, Pix: clean}, &data.Image{H: h, W: w, Pix: restored})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// mosaic is a side x side image (side a multiple of 160) of the embedded
// 160x160 test photos, in turn.
func mosaic(tb testing.TB, side int) []float32 {
	const cell = 160
	img := make([]float32, 3*side*side)
	test := data.EmbeddedTest()
	for q := range (side / cell) * (side / cell) {
		crop, err := test[q%len(test)].Crop(0, 0, cell, cell)
		if err != nil {
			tb.Fatal(err)
		}
		y0, x0 := q/(side/cell)*cell, q%(side/cell)*cell
		for c := range 3 {
			for y := range cell {
				copy(img[(c*side+y0+y)*side+x0:][:cell], crop.Pix[(c*cell+y)*cell:][:cell])
			}
		}
	}
	return img
}

// tiledPSNR is the PSNR between r's tiled restoration (its Tile, Overlap
// and Passes) of a side x side mosaic and one pass over it.
func tiledPSNR(tb testing.TB, r *Restorer, side int) float64 {
	img := mosaic(tb, side)
	tiles, passes, err := r.Tiles(side, side)
	if err != nil {
		tb.Fatal(err)
	}
	tiled, err := r.Restore(img, side, side)
	if err != nil {
		tb.Fatal(err)
	}
	tile := r.Tile
	r.Tile = side
	whole, err := r.Restore(img, side, side)
	r.Tile = tile
	if err != nil {
		tb.Fatal(err)
	}
	psnr := pixPSNR(tb, whole, tiled, side, side)
	tb.Logf("%s, random weights, %dx%d image in %d tiles of %d overlapping by %d, %d passes, vs one pass: %.1f dB",
		describe(r.arch), side, side, tiles, r.Tile, r.Overlap, passes, psnr)
	return psnr
}

// BenchmarkPaperRestore times Restorer.Restore of one 256x256 image with
// the Paper preset (random weights), for profiling at the size users run:
//
//	go test -run '^$' -bench PaperRestore -benchtime 2x -cpuprofile cpu.out .
func BenchmarkPaperRestore(b *testing.B) {
	r := paperRestorer(b)
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

// BenchmarkPaperTrainStep times Trainer.StepOn with the Paper preset on a
// fixed batch of 2 128x128 patches (PaperTraining), for profiling:
//
//	go test -run '^$' -bench PaperTrainStep -benchtime 2x -cpuprofile cpu.out .
func BenchmarkPaperTrainStep(b *testing.B) { benchSteps(b, Paper(), 2, 128) }
