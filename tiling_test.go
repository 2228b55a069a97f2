package baryir

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/data"
)

// Tiled restoration against one pass over the whole image: the smooth
// blending window keeps them close (the networks' receptive field still
// differs near tile edges, so they are not equal).
func TestTilesBlendSmoothly(t *testing.T) {
	r := randomRestorer(t, Tiny())
	im, err := data.EmbeddedTest()[0].Crop(0, 0, 72, 100)
	require.NoError(t, err)

	r.Tile, r.Overlap = 104, 0
	whole, err := r.Restore(im.Pix, im.H, im.W)
	require.NoError(t, err)
	r.Tile, r.Overlap = 48, 16
	tiled, err := r.Restore(im.Pix, im.H, im.W)
	require.NoError(t, err)
	psnr := pixPSNR(t, whole, tiled, im.H, im.W)
	t.Logf("Tiny, random weights, 72x100 image, 48-pixel tiles overlapping by 16 vs one pass: %.1f dB", psnr)
	// A flat average of the tiles gives 36.1 dB on this image, the ramp 40.4.
	require.Greater(t, psnr, 38.0)
}

// With the default tiles (256 pixels overlapping by at least 32, 3
// passes), Tiny's tiled restoration stays close to one pass. On a 320x320
// image, whose tiles share 192 pixels, 65.2 dB was measured, where tiles
// that each keep their own attention (1 pass) give 47.9 dB: channel
// attention pools over the whole tile, so it differs everywhere. On a
// 480x480 image the tiles share 32 pixels, and the convolutions' reach
// past a tile's edge bounds it: 53.6 dB (43.3 in one pass).
func TestDefaultTilesTiny(t *testing.T) {
	r := randomRestorer(t, Tiny())
	require.Greater(t, tiledPSNR(t, r, 320), 60.0)
	require.Greater(t, tiledPSNR(t, r, 480), 50.0)
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
	r := randomRestorer(t, Tiny())
	r.Tile, r.Overlap = 32, 8
	im, err := data.EmbeddedTest()[1].Crop(0, 0, 40, 48)
	require.NoError(t, err)
	for _, phase := range []string{"cold", "warm"} {
		outs := make([][]float32, 4)
		errs := make(chan error, len(outs))
		for i := range outs {
			go func() {
				var err error
				outs[i], err = r.Restore(im.Pix, im.H, im.W)
				errs <- err
			}()
		}
		for range outs {
			require.NoError(t, <-errs, phase)
		}
		want, err := r.Restore(im.Pix, im.H, im.W)
		require.NoError(t, err)
		for i := range outs {
			require.Equal(t, want, outs[i], "%s goroutine %d", phase, i)
		}
	}
}

// RestoreTiles calls its callback once per tile, in order, with the total
// Tiles reports, and gives Restore's result.
func TestRestoreTilesCallsBackPerTile(t *testing.T) {
	r := randomRestorer(t, Tiny())
	r.Tile, r.Overlap = 32, 8
	im, err := data.EmbeddedTest()[1].Crop(0, 0, 60, 75) // pads to 64x80: 3 x 3 tiles
	require.NoError(t, err)
	tiles, passes, err := r.Tiles(im.H, im.W)
	require.NoError(t, err)
	require.Equal(t, [2]int{9, 3}, [2]int{tiles, passes})
	n := tiles * passes
	var calls [][2]int
	got, err := r.RestoreTiles(im.Pix, im.H, im.W, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	require.NoError(t, err)
	require.Len(t, calls, n)
	for i, c := range calls {
		require.Equal(t, [2]int{i + 1, n}, c)
	}
	want, err := r.Restore(im.Pix, im.H, im.W)
	require.NoError(t, err)
	require.Equal(t, want, got)

	_, _, err = r.Tiles(4, 100)
	require.Error(t, err)
	r.Tile = 30
	_, _, err = r.Tiles(64, 64)
	require.Error(t, err)
	r.Tile, r.Passes = 32, 0
	_, _, err = r.Tiles(64, 64)
	require.ErrorContains(t, err, "0 passes")
}

// Once its tile graph exists, restoring a large image keeps no whole-image
// buffer but the output accumulator (12 bytes per pixel of the padded
// image) and two lines of blend weights: with the caller's input (12 bytes
// per pixel), within the 40 bytes per pixel allowed beyond one tile's
// working set. The live heap is read after a collection at every tile.
func TestRestoreWholeImageMemory(t *testing.T) {
	cfg := Tiny()
	cfg.Dim = 4
	r := randomRestorer(t, cfg)
	r.Tile, r.Overlap = 64, 16
	const h, w = 320, 400
	img := make([]float32, 3*h*w)
	for i := range img {
		img[i] = float32(i%251) / 251
	}
	_, err := r.Restore(img, h, w) // builds the tile graph and fills the buffer pool
	require.NoError(t, err)
	live := func() float64 {
		runtime.GC()
		runtime.GC() // what finalizers of earlier tests' objects let go
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc)
	}
	base, peak := live(), 0.0
	_, err = r.RestoreTiles(img, h, w, func(int, int) { peak = max(peak, live()-base) })
	require.NoError(t, err)
	perPixel := peak / (h * w)
	t.Logf("%dx%d image, %d-pixel tiles: %.1f bytes per pixel live beyond the input and the tile graph", w, h, r.Tile, perPixel)
	require.Less(t, perPixel+12, 40.0)
}
