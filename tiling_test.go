package baryir

import (
	"math"
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
	var mse float64
	for i := range whole {
		d := float64(whole[i] - tiled[i])
		mse += d * d
	}
	psnr := 10 * math.Log10(1/(mse/float64(len(whole))))
	t.Logf("Tiny, random weights, 72x100 image, 48-pixel tiles overlapping by 16 vs one pass: %.1f dB", psnr)
	// A flat average of the tiles gives 36.1 dB on this image, the ramp 40.4.
	require.Greater(t, psnr, 38.0)
}

// With the default tiles (256 pixels overlapping by 32) on a 320x320
// image, Tiny's tiled restoration stays close to one pass (48.6 dB
// measured). Channel attention pools over the whole tile, so a tile's
// output differs from the single pass everywhere, not only at seams (a
// 48x48 corner more than 200 pixels from any seam measured 43.4 dB): no
// blending window reaches equality.
func TestDefaultTilesTiny(t *testing.T) {
	r := randomRestorer(t, Tiny())
	psnr := tiledPSNR(t, r)
	require.Greater(t, psnr, 45.0)
}

// The window is 1 inside and ramps over the overlap only where a
// neighbouring tile shares it.
func TestBlendRamp(t *testing.T) {
	require.Equal(t, []float32{1, 1, 1, 1}, blendRamp(4, 2, false, false))
	require.Equal(t, []float32{0.25, 0.75, 1, 1}, blendRamp(4, 2, true, false))
	require.Equal(t, []float32{0.25, 0.75, 0.75, 0.25}, blendRamp(4, 2, true, true))
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
	n, err := r.Tiles(im.H, im.W)
	require.NoError(t, err)
	require.Equal(t, 9, n)
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

	_, err = r.Tiles(4, 100)
	require.Error(t, err)
	r.Tile = 30
	_, err = r.Tiles(64, 64)
	require.Error(t, err)
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
