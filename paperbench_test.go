package baryir

import (
	"math/rand/v2"
	"testing"

	"github.com/x/baryir/data"
)

// BenchmarkPaperTiledPSNR reports the PSNR between tiled restoration and
// one pass with the Paper preset's random weights: dB320 and dB480 with
// 256-pixel tiles overlapping by at least the default 32 in the default 3
// passes, on a 320x320 and a 480x480 mosaic of the embedded test photos,
// dB480_ov96 with 96 pixels of overlap. At 320 the two tiles of each axis
// share 192 pixels; at 480 they share 32, the least they may. It takes
// minutes, so it is a benchmark rather than a test:
//
//	go test -run '^$' -bench PaperTiledPSNR -benchtime 1x .
func BenchmarkPaperTiledPSNR(b *testing.B) {
	sd := randomWeights(b, Paper())
	whole := restorerFor(b, Paper(), sd, RestorerOptions{})
	tiled := restorerFor(b, Paper(), sd, RestorerOptions{Tile: 256})
	tiled96 := restorerFor(b, Paper(), sd, RestorerOptions{Tile: 256, Overlap: 96})
	var psnr320, psnr480, psnr96 float64
	for range b.N {
		psnr320, psnr480 = tiledPSNR(b, tiled, whole, 320), tiledPSNR(b, tiled, whole, 480)
		psnr96 = tiledPSNR(b, tiled96, whole, 480)
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

// tiledPSNR is the PSNR between tiled's restoration of a side x side
// mosaic (in its tiles and passes) and whole's, which must take one pass.
func tiledPSNR(tb testing.TB, tiled, whole *Restorer, side int) float64 {
	im := &data.Image{H: side, W: side, Pix: mosaic(tb, side)}
	tiles, passes, err := tiled.Tiles(side, side)
	if err != nil {
		tb.Fatal(err)
	}
	if n, _, err := whole.Tiles(side, side); err != nil || n != 1 {
		tb.Fatalf("%dx%d image: %d tiles, %v; want one pass", side, side, n, err)
	}
	a, err := tiled.Restore(im)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := whole.Restore(im)
	if err != nil {
		tb.Fatal(err)
	}
	psnr := pixPSNR(tb, b.Pix, a.Pix, side, side)
	o := tiled.opts
	tb.Logf("%s, random weights, %dx%d image in %d tiles of %d overlapping by %d, %d passes, vs one pass: %.1f dB",
		describe(tiled.arch), side, side, tiles, o.Tile, o.Overlap, passes, psnr)
	return psnr
}

// BenchmarkPaperRestore times Restorer.Restore of one 256x256 image with
// the Paper preset (random weights), for profiling at the size users run:
//
//	go test -run '^$' -bench PaperRestore -benchtime 2x -cpuprofile cpu.out .
func BenchmarkPaperRestore(b *testing.B) {
	r := randomRestorer(b, Paper(), RestorerOptions{})
	const side = 256
	rng := rand.New(rand.NewPCG(1, 2))
	img := data.NewImage("random", side, side)
	for i := range img.Pix {
		img.Pix[i] = rng.Float32()
	}
	if _, err := r.Restore(img); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := r.Restore(img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPaperTrainStep times Trainer.StepOn with the Paper preset on a
// fixed batch of 2 128x128 patches (PaperTraining), for profiling:
//
//	go test -run '^$' -bench PaperTrainStep -benchtime 2x -cpuprofile cpu.out .
func BenchmarkPaperTrainStep(b *testing.B) { benchSteps(b, Paper(), 2, 128) }
