package baryir

import (
	"image"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
)

// Tiled restoration against one pass over the whole image: the smooth
// blending window keeps them close (the networks' receptive field still
// differs near tile edges, so they are not equal).
func TestTilesBlendSmoothly(t *testing.T) {
	sd := randomWeights(t, Tiny())
	im, err := data.EmbeddedTest()[0].Crop(0, 0, 72, 100)
	require.NoError(t, err)

	whole, err := restorerFor(t, Tiny(), sd, RestorerOptions{}).Restore(im)
	require.NoError(t, err)
	tiled, err := restorerFor(t, Tiny(), sd, RestorerOptions{Tile: 48, Overlap: 16}).Restore(im)
	require.NoError(t, err)
	psnr := pixPSNR(t, whole.Pix, tiled.Pix, im.H, im.W)
	t.Logf("Tiny, random weights, 72x100 image, 48-pixel tiles overlapping by 16 vs one pass: %.1f dB", psnr)
	// A flat average of the tiles gives 36.1 dB on this image, the ramp 40.4.
	require.Greater(t, psnr, 38.0)
}

// With 256-pixel tiles overlapping by at least the default 32, in the
// default 3 passes, Tiny's tiled restoration stays close to one pass. On a 320x320
// image, whose tiles share 192 pixels, 65.2 dB was measured, where tiles
// that each keep their own attention (1 pass) give 47.9 dB: channel
// attention pools over the whole tile, so it differs everywhere. On a
// 480x480 image the tiles share 32 pixels, and the convolutions' reach
// past a tile's edge bounds it: 53.6 dB (43.3 in one pass).
func TestDefaultTilesTiny(t *testing.T) {
	sd := randomWeights(t, Tiny())
	whole := restorerFor(t, Tiny(), sd, RestorerOptions{})
	tiled := restorerFor(t, Tiny(), sd, RestorerOptions{Tile: 256})
	require.Greater(t, tiledPSNR(t, tiled, whole, 320), 60.0)
	require.Greater(t, tiledPSNR(t, tiled, whole, 480), 50.0)
}

// The window is 1 inside and ramps across the border in the middle of an
// overlap, over Overlap pixels or what the tiles share; neighbours' weights
// add to 1.
func TestBlendWindow(t *testing.T) {
	// Tiles of 8 at 0 and 4 of 12 pixels, sharing 4, with the border at 6
	// (given here: ownedSpans keeps borders on multiples of 8).
	starts, borders := []int{0, 4}, []int{0, 6, 12}
	require.Equal(t, []float32{1, 1, 1, 1, 1, 0.75, 0.25, 0}, blendWindow(starts, borders, 0, 8, 2))
	require.Equal(t, []float32{0, 0.25, 0.75, 1, 1, 1, 1, 1}, blendWindow(starts, borders, 1, 8, 2))
	// An overlap wider than the tiles share is cut to what they share (2 on either side of 6).
	require.Equal(t, []float32{1, 1, 1, 1, 0.875, 0.625, 0.375, 0.125}, blendWindow(starts, borders, 0, 8, 8))
	// No overlap: a step at the border.
	require.Equal(t, []float32{1, 1, 1, 1, 1, 1, 0, 0}, blendWindow(starts, borders, 0, 8, 0))
	require.Equal(t, []float32{1, 1, 1, 1}, blendWindow([]int{0}, []int{0, 4}, 0, 4, 2))
	// Tiles flush with an edge (default tiling of 320 pixels) share 192
	// pixels; the window ramps over 32 of them around the border at 160.
	ys := tileStarts(320, 256, 32)
	w0, w1 := blendWindow(ys, ownedSpans(ys, 256, 320), 0, 256, 32), blendWindow(ys, ownedSpans(ys, 256, 320), 1, 256, 32)
	require.Equal(t, []int{0, 64}, ys)
	for y := range 320 {
		var sum float32
		if y < 256 {
			sum += w0[y]
		}
		if y >= 64 {
			sum += w1[y-64]
		}
		require.InDelta(t, 1, sum, 1e-6, "row %d", y)
	}
	require.Equal(t, float32(1), w0[143])
	require.Equal(t, float32(0), w0[176])
}

// A Restorer is safe for concurrent use: four goroutines on a cold
// restorer (no runner for the tile size yet) and on a warm one get the
// sequential result. Run with -race to check for data races.
func TestRestorerConcurrent(t *testing.T) {
	r := randomRestorer(t, Tiny(), RestorerOptions{Tile: 32, Overlap: 8})
	im, err := data.EmbeddedTest()[1].Crop(0, 0, 40, 48)
	require.NoError(t, err)
	for _, phase := range []string{"cold", "warm"} {
		outs := make([]*data.Image, 4)
		errs := make(chan error, len(outs))
		for i := range outs {
			go func() {
				var err error
				outs[i], err = r.Restore(im)
				errs <- err
			}()
		}
		for range outs {
			require.NoError(t, <-errs, phase)
		}
		want, err := r.Restore(im)
		require.NoError(t, err)
		for i := range outs {
			require.Equal(t, want, outs[i], "%s goroutine %d", phase, i)
		}
	}
}

// OnTile is called once per tile, in order, with the total
// Tiles reports, and gives Restore's result.
func TestOnTileCalledPerTile(t *testing.T) {
	sd := randomWeights(t, Tiny())
	r := restorerFor(t, Tiny(), sd, RestorerOptions{Tile: 32, Overlap: 8})
	im, err := data.EmbeddedTest()[1].Crop(0, 0, 60, 75) // pads to 64x80: 3 x 3 tiles
	require.NoError(t, err)
	tiles, passes, err := r.Tiles(im.H, im.W)
	require.NoError(t, err)
	require.Equal(t, [2]int{9, 3}, [2]int{tiles, passes})
	n := tiles * passes
	var calls [][2]int
	got, err := restoreCalling(r, im, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	require.NoError(t, err)
	require.Len(t, calls, n)
	for i, c := range calls {
		require.Equal(t, [2]int{i + 1, n}, c)
	}
	want, err := r.Restore(im)
	require.NoError(t, err)
	require.Equal(t, want, got)

	_, _, err = r.Tiles(4, 100)
	require.ErrorContains(t, err, "at least 8x8")
	for _, c := range []struct {
		opts RestorerOptions
		want string
	}{
		{RestorerOptions{Tile: 30}, "tile 30: want 0 or a positive multiple of 8"},
		{RestorerOptions{Tile: 32, Overlap: 32}, "overlap 32: want less than tile 32"},
		{RestorerOptions{Passes: -1}, "-1 passes"},
		{RestorerOptions{Overlap: -8}, "overlap -8"},
		{RestorerOptions{MemoryBudget: -1}, "memory budget -1"},
		{RestorerOptions{Device: "tpu"}, `unknown device "tpu"`},
	} {
		_, err := NewRestorer(Tiny(), sd, c.opts)
		require.ErrorContains(t, err, c.want)
	}
}

// Once its tile graph exists, restoring a large image keeps no whole-image
// buffer but the output accumulator (12 bytes per pixel of the padded
// image) and two lines of blend weights: with the caller's input (12 bytes
// per pixel), within the 40 bytes per pixel allowed beyond one tile's
// working set. The live heap is read after a collection at every tile.
func TestRestoreWholeImageMemory(t *testing.T) {
	cfg := Tiny()
	cfg.Dim = 4
	r := randomRestorer(t, cfg, RestorerOptions{Tile: 64, Overlap: 16})
	const h, w = 320, 400
	img := data.NewImage("ramp", h, w)
	for i := range img.Pix {
		img.Pix[i] = float32(i%251) / 251
	}
	_, err := r.Restore(img) // builds the tile graph and fills the buffer pool
	require.NoError(t, err)
	live := func() float64 {
		runtime.GC()
		runtime.GC() // what finalizers of earlier tests' objects let go
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc)
	}
	base, peak := live(), 0.0
	_, err = restoreCalling(r, img, func(int, int) { peak = max(peak, live()-base) })
	require.NoError(t, err)
	perPixel := peak / (h * w)
	t.Logf("%dx%d image, %d-pixel tiles: %.1f bytes per pixel live beyond the input and the tile graph", w, h, r.opts.Tile, perPixel)
	require.Less(t, perPixel+12, 40.0)
}

// An image whose working set fits the memory budget runs in one pass; a
// larger one in the largest tiles that fit, each within the budget with
// the image's input and output; a budget too small for tiles of twice the
// overlap is an error that says so. With the default 2 GiB, a 400x301
// photo takes one pass with the Paper preset.
func TestRestorerOnePassWhenItFits(t *testing.T) {
	f := readShapes(t, "paper")
	zeros := StateDict{}
	for name, shape := range f.Shapes {
		zeros[name] = Tensor{Shape: shape, Data: make([]float64, tensor.Shape(shape).TotalSize())}
	}
	paper := restorerFor(t, f.Config, zeros, RestorerOptions{})
	sd := randomWeights(t, Tiny())
	tiny := restorerFor(t, Tiny(), sd, RestorerOptions{})
	for _, r := range []*Restorer{paper, tiny} {
		perPixel := float64(r.cost.perPixel + 24) // the tile's, and the image's input and output
		t.Logf("%s: %.0f bytes a pixel; one pass over at most %.2f megapixels in %d MiB",
			describe(r.arch), perPixel, float64(DefaultMemoryBudget)/perPixel/1e6, DefaultMemoryBudget>>20)
	}
	tiles, passes, err := paper.Tiles(301, 400)
	require.NoError(t, err)
	require.Equal(t, [2]int{1, 1}, [2]int{tiles, passes}, "a 400x301 photo")

	fits := func(r *Restorer, h, w int) {
		tl, err := r.tiling(h, w)
		require.NoError(t, err)
		need := r.cost.bytes(tl.th, tl.tw) + imageBytes(h, w)
		require.LessOrEqual(t, need, r.opts.MemoryBudget, "%dx%d tiles of %dx%d", w, h, tl.tw, tl.th)
		require.Greater(t, r.cost.bytes(tl.th+8, tl.tw+8)+imageBytes(h, w), r.opts.MemoryBudget, "larger tiles would fit")
	}
	fits(paper, 3000, 4000)
	tiles, _, err = paper.Tiles(3000, 4000)
	require.NoError(t, err)
	require.Greater(t, tiles, 1)

	const h, w = 90, 120 // pads to 96x120
	need := tiny.cost.bytes(96, 120) + imageBytes(h, w)
	exact := restorerFor(t, Tiny(), sd, RestorerOptions{MemoryBudget: need})
	tiles, passes, err = exact.Tiles(h, w)
	require.NoError(t, err)
	require.Equal(t, [2]int{1, 1}, [2]int{tiles, passes}, "a budget of exactly the working set")

	less := restorerFor(t, Tiny(), sd, RestorerOptions{MemoryBudget: need - 1, Overlap: 16})
	fits(less, h, w)
	tiles, passes, err = less.Tiles(h, w)
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 3}, [2]int{tiles, passes}, "one row of pixels less than one pass needs")
	im, err := data.EmbeddedTest()[2].Crop(0, 0, h, w)
	require.NoError(t, err)
	calls := 0
	out, err := restoreCalling(less, im, func(done, total int) { calls++ })
	require.NoError(t, err)
	require.Equal(t, tiles*passes, calls)
	whole, err := exact.Restore(im)
	require.NoError(t, err)
	require.Greater(t, pixPSNR(t, whole.Pix, out.Pix, h, w), 40.0)

	tight := restorerFor(t, Tiny(), sd, RestorerOptions{MemoryBudget: 1 << 20})
	_, _, err = tight.Tiles(h, w)
	require.ErrorContains(t, err, "more than the memory budget of 1 MiB")
}

// The working-set estimate is close to what a run allocates: restoring a
// 200x152 image (a size no probe had) with the garbage collector off
// allocates 0.7 to 1.25 times the estimate, graph building aside: 1.13 in
// a process of its own, 0.81 after other tests, whose runs left scratch
// buffers in the kernels' pool.
func TestRestorerCostMatchesARun(t *testing.T) {
	r := randomRestorer(t, Tiny(), RestorerOptions{})
	const h, w = 200, 152
	key := runnerKey{h, w, false}
	tr, err := r.get(key) // the graph, built before the count starts
	require.NoError(t, err)
	r.put(key, tr)
	im := data.NewImage("ramp", h, w)
	for i := range im.Pix {
		im.Pix[i] = float32(i%97) / 97
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = r.Restore(im)
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(r.cost.bytes(h, w)+imageBytes(h, w))
	t.Logf("Tiny, %dx%d: a run allocates %.2f times the estimate", w, h, ratio)
	require.True(t, ratio >= 0.7 && ratio <= 1.25, "ratio %.2f", ratio)
}

// restoreCalling restores im with r, calling onTile as RestorerOptions.OnTile.
func restoreCalling(r *Restorer, im image.Image, onTile func(done, total int)) (*data.Image, error) {
	r.opts.OnTile = onTile
	defer func() { r.opts.OnTile = nil }()
	return r.Restore(im)
}
