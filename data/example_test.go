package data_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/x/baryir/data"
)

// Training batches from the embedded photos in the authors' three-degradation
// setting: 3 sources (all noise levels share "denoise").
func ExampleNewSampler() {
	sources, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		panic(err)
	}
	s, err := data.NewSampler(sources, 64, 1)
	if err != nil {
		panic(err)
	}
	b, err := s.Next(4)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.SourceNames())
	fmt.Println(len(b.Degraded) == b.B*3*b.P*b.P, len(b.Source))
	// Output:
	// [denoise derain dehaze]
	// true 4
}

// Per-source sample counts, from which the barycenter weights follow (see ot.Weights).
func ExampleSampler_Counts() {
	sources, _ := data.EmbeddedSources(data.FiveDegradations())
	s, _ := data.NewSampler(sources, 64, 1)
	n := len(data.EmbeddedTrain())
	fmt.Println(s.Counts()[0] == 3*n, s.Counts()[1] == n)
	// Output:
	// true true
}

// Degrade a photo with a seeded generator and score it.
func ExampleDegradation_Apply() {
	clean := data.EmbeddedTest()[0]
	noisy := data.Noise25.Apply(clean, rand.New(rand.NewPCG(1, 2)))
	p, _ := data.PSNR(clean, noisy)
	s, _ := data.SSIM(clean, noisy)
	fmt.Println(noisy.Name)
	fmt.Println(p > 19 && p < 22, s < 0.8)
	// Output:
	// embedded/test/bliznaca_0.png+noise25
	// true true
}

// Evaluation pairs from the embedded test photos, fixed by a seed.
func ExampleEmbeddedEval() {
	degraded, clean := data.EmbeddedEval(data.Haze, 7)
	var sum float64
	for i := range clean {
		p, _ := data.PSNR(clean[i], degraded[i])
		sum += p
	}
	fmt.Println(len(clean), sum/float64(len(clean)) < 20)
	// Output: 6 true
}

// Write a restored image as the (1,3,H,W) float32 .npy the PyTorch model
// takes and gives, and as an 8-bit PNG.
func ExampleSave() {
	dir, _ := os.MkdirTemp("", "baryir")
	defer os.RemoveAll(dir)
	im := data.EmbeddedTest()[0]
	for _, name := range []string{"out.npy", "out.png"} {
		if err := data.Save(filepath.Join(dir, name), im); err != nil {
			panic(err)
		}
	}
	back, _ := data.Load(filepath.Join(dir, "out.npy"))
	fmt.Println(back.H, back.W)
	// Output: 160 160
}

// Real benchmarks: point the readers at their folders.
func ExamplePairs() {
	pairs, err := data.Pairs("testdata/layouts/SOTS/outdoor/hazy", "testdata/layouts/SOTS/outdoor/gt")
	if err != nil {
		panic(err)
	}
	for _, p := range pairs {
		fmt.Println(filepath.Base(p.Degraded), "->", filepath.Base(p.Clean))
	}
	// Output:
	// 0001_0.8_0.2.jpg -> 0001.png
	// 0002_1_0.08.jpg -> 0002.png
}

// A labelled grid: a column per stage, a row per photo, scores under the
// restored tile. Blank cells (nil Image) keep the grid rectangular.
func ExampleGrid() {
	clean := data.EmbeddedTest()[0]
	noisy := data.Noise25.Apply(clean, rand.New(rand.NewPCG(1, 2)))
	psnr, _ := data.PSNR(clean, noisy)
	g := data.Grid{
		Title:   "Denoising",
		Columns: []string{"degraded", "clean"},
		Rows:    []string{"noise σ=25"},
		Tiles: [][]data.GridTile{{
			{Image: noisy, Caption: fmt.Sprintf("PSNR %.2f dB", psnr)},
			{Image: clean},
		}},
	}
	im, err := g.Render()
	if err != nil {
		panic(err)
	}
	b := im.Bounds()
	fmt.Println(b.Dx() > 2*clean.W, b.Dy() > clean.H)

	_, err = data.Grid{Columns: []string{"degraded"}, Tiles: g.Tiles}.Render()
	fmt.Println(err)
	// Output:
	// true true
	// data: grid has 1 column titles for 2 columns
}
