package baryir

import (
	"math"
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
