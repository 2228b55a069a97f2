package baryir

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// syntheticHistory is a run of n steps whose learning rate drops tenfold at
// step n/2; potTerm says whether the barycenter terms are present.
func syntheticHistory(n int, potTerm bool) []Losses {
	hist := make([]Losses, n)
	for i := range hist {
		s := float64(i + 1)
		hist[i] = Losses{Step: i + 1, LR: 4e-3, L1: 0.2 / math.Sqrt(s) * (1 + 0.3*math.Sin(s))}
		if i+1 > n/2 {
			hist[i].LR = 4e-4
		}
		if potTerm {
			hist[i].Transport = 0.05 * (1 + 0.2*math.Cos(s))
			hist[i].Residual = 0.01 / s
			hist[i].PotTerm = math.Sin(s / 20)
		}
	}
	return hist
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	im, err := png.Decode(f)
	require.NoError(t, err)
	return im
}

// inkedRows counts the rows of im in [y0,y1) that hold a non-white pixel.
func inkedRows(im image.Image, y0, y1 int) int {
	n := 0
	b := im.Bounds()
	for y := y0; y < y1; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := im.At(x, y).RGBA(); r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
				break
			}
		}
	}
	return n
}

// colouredPixels counts the pixels of im in rows [y0,y1) that are clearly
// coloured (not grey): the curves, not the axes or text.
func colouredPixels(im image.Image, y0, y1 int) int {
	n := 0
	b := im.Bounds()
	for y := y0; y < y1; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := im.At(x, y).RGBA()
			if max(r, g, bl)-min(r, g, bl) > 0x4000 {
				n++
			}
		}
	}
	return n
}

func TestWriteLossCurve(t *testing.T) {
	tests := []struct {
		name    string
		potTerm bool
		panels  int
	}{
		{"BaryNet: losses and the potential term", true, 2},
		{"Restormer: L1 only", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "curve.png")
			require.NoError(t, writeLossCurve(path, syntheticHistory(300, tt.potTerm)))
			im := readPNG(t, path)
			b := im.Bounds()
			// 8 x 3.2 inches per panel at gonum/plot's 96 dpi
			require.Equal(t, 768, b.Dx())
			require.InDelta(t, 307.2*float64(tt.panels), b.Dy(), 1)
			for p := range tt.panels {
				y0, y1 := p*b.Dy()/tt.panels, (p+1)*b.Dy()/tt.panels
				require.Greater(t, inkedRows(im, y0, y1), (y1-y0)/2, "panel %d has axes and labels", p)
				require.Greater(t, colouredPixels(im, y0, y1), 500, "panel %d has curves", p)
			}
		})
	}
}

// Short and degenerate runs still draw: one step, a constant loss, a NaN.
func TestWriteLossCurveEdgeCases(t *testing.T) {
	one := syntheticHistory(1, true)
	constant := syntheticHistory(20, false)
	for i := range constant {
		constant[i].L1 = 0.5
	}
	withNaN := syntheticHistory(20, true)
	withNaN[3].L1, withNaN[4].PotTerm = math.NaN(), math.Inf(1)
	for name, hist := range map[string][]Losses{"one step": one, "constant": constant, "NaN": withNaN} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.png")
			require.NoError(t, writeLossCurve(path, hist))
			readPNG(t, path)
		})
	}
	zero := syntheticHistory(5, false)
	for i := range zero {
		zero[i].L1 = 0
	}
	require.ErrorContains(t, writeLossCurve(filepath.Join(t.TempDir(), "c.png"), zero), "no positive loss")
}

func TestWriteLossCurveErrors(t *testing.T) {
	require.ErrorContains(t, writeLossCurve(filepath.Join(t.TempDir(), "c.png"), nil), "no steps")
	require.Error(t, writeLossCurve(filepath.Join(t.TempDir(), "missing", "c.png"), syntheticHistory(10, false)))
}

func TestLRChanges(t *testing.T) {
	require.Equal(t, []lrMark{{151, 4e-4}}, lrChanges(syntheticHistory(300, false)))
	require.Empty(t, lrChanges(syntheticHistory(1, false)))
}
