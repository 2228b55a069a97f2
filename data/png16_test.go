package data

import (
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A 16-bit PNG keeps what an 8-bit one rounds away, and Load reads it back.
func TestSavePNG16RoundTrip(t *testing.T) {
	dir := t.TempDir()
	im := NewImage("deep", 5, 7)
	for i := range im.Pix {
		im.Pix[i] = float32(i) / float32(len(im.Pix)) // steps far finer than 1/255
	}
	im.Pix[0], im.Pix[1] = -0.5, 1.5 // clipped
	path := filepath.Join(dir, "deep.png")
	require.NoError(t, SavePNG16(path, im))

	f, err := os.Open(path)
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(f)
	f.Close()
	require.NoError(t, err)
	require.Equal(t, 7, cfg.Width)
	require.True(t, cfg.ColorModel == color.RGBA64Model || cfg.ColorModel == color.NRGBA64Model, "a 16-bit PNG")

	back, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, 5, back.H)
	want := im.Clone().Clip()
	worst8, worst16 := 0.0, 0.0
	for i, v := range back.Pix {
		worst16 = max(worst16, math.Abs(float64(v-want.Pix[i])))
		worst8 = max(worst8, math.Abs(float64(want.Pix[i])-math.Round(float64(want.Pix[i])*255)/255))
	}
	require.LessOrEqual(t, worst16, 0.5/65535+1e-7)
	require.Greater(t, worst8, 100*worst16, "8 bits would have lost far more")

	bad := &Image{Name: "bad", H: 2, W: 2, Pix: make([]float32, 3)}
	require.ErrorContains(t, SavePNG16(filepath.Join(dir, "bad.png"), bad), "3 values")
}
