package plot

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func count(img *image.RGBA, c color.Color) int {
	want := color.RGBAModel.Convert(c).(color.RGBA)
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.RGBAAt(x, y) == want {
				n++
			}
		}
	}
	return n
}

func TestScatterDrawsSeriesAndEllipse(t *testing.T) {
	red := color.RGBA{200, 0, 0, 255}
	s := Scatter{
		Title: "test", XLabel: "x", YLabel: "y",
		Series: []Series{
			{Name: "a", X: []float64{0, 1, 2}, Y: []float64{0, 1, 0}},
			{Name: "b", X: []float64{-1}, Y: []float64{3}, Color: red},
		},
		Ellipses: []Ellipse{{Name: "e", Center: [2]float64{1, 1}, Cov: [2][2]float64{{1, 0.5}, {0.5, 2}}}},
		Width:    400, Height: 300,
	}
	img, err := s.Image()
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 400, 300), img.Bounds())

	// Each point is drawn where the axes put it; the ellipse passes through
	// its points at two standard deviations.
	var xs, ys []float64
	for _, se := range s.Series {
		xs, ys = append(xs, se.X...), append(ys, se.Y...)
	}
	ring, err := s.Ellipses[0].points()
	require.NoError(t, err)
	for _, p := range ring {
		xs, ys = append(xs, p[0]), append(ys, p[1])
	}
	c, err := newCanvas(400, 300, "", "", "", xs, ys, false)
	require.NoError(t, err)
	px, py, ok := c.pixel(-1, 3)
	require.True(t, ok)
	require.Equal(t, red, img.RGBAAt(px, py))
	px, py, _ = c.pixel(2, 0)
	require.Equal(t, Palette(0), img.RGBAAt(px, py))
	// (1,1) + 2 L (1,0) with L the Cholesky factor: (1 + 2, 1 + 2*0.5).
	px, py, _ = c.pixel(3, 2)
	require.Equal(t, Palette(2), img.RGBAAt(px, py))
	require.Greater(t, count(img, Palette(2)), 200, "ellipse outline")
	require.Greater(t, count(img, black), 500, "axes and text")
}

func TestLineLogY(t *testing.T) {
	x := make([]float64, 50)
	y := make([]float64, 50)
	for i := range x {
		x[i] = float64(i)
		y[i] = math.Exp(-0.2 * float64(i))
	}
	y[10] = 0 // not drawable on a log axis: a gap, no error
	l := Line{Title: "loss", XLabel: "step", YLabel: "loss", Series: []Series{{Name: "loss", X: x, Y: y}}, LogY: true}
	img, err := l.Image()
	require.NoError(t, err)
	c, err := newCanvas(640, 480, "", "", "", x, y, true)
	require.NoError(t, err)
	// On a log axis an exponential decay is a straight line: its midpoint lies on it.
	px, py, ok := c.pixel(30, y[30])
	require.True(t, ok)
	require.Equal(t, Palette(0), img.RGBAAt(px, py))
	ax, ay := c.fpixel(20, y[20])
	bx, by := c.fpixel(40, y[40])
	mx, my := c.fpixel(30, y[30])
	require.InDelta(t, (ay+by)/2, my, 1e-9)
	require.InDelta(t, (ax+bx)/2, mx, 1e-9)
	// Ticks are powers of ten when the data spans decades.
	for _, v := range c.yTicks() {
		require.Equal(t, math.Round(v), v)
	}
}

func TestTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{-3, 7, []float64{-2, 0, 2, 4, 6}},
		{95, 130, []float64{100, 110, 120, 130}},
	}
	for _, c := range cases {
		got := ticks(c.lo, c.hi)
		require.InDeltaSlice(t, c.want, got, 1e-9, "%g..%g: %v", c.lo, c.hi, got)
	}
}

func TestPlotErrors(t *testing.T) {
	_, err := Scatter{Series: []Series{{X: []float64{1, 2}, Y: []float64{1}}}}.Image()
	require.ErrorContains(t, err, "2 x and 1 y")
	_, err = Scatter{Ellipses: []Ellipse{{Cov: [2][2]float64{{1, 2}, {2, 1}}}}}.Image()
	require.ErrorContains(t, err, "positive definite")
	_, err = Line{Series: []Series{{X: []float64{1}, Y: []float64{-1}}}, LogY: true}.Image()
	require.ErrorContains(t, err, "no finite points")
	_, err = Line{Series: []Series{{X: []float64{1}, Y: []float64{1}}}, Width: 10, Height: 10}.Image()
	require.ErrorContains(t, err, "size")
}

func TestWritePNG(t *testing.T) {
	img, err := Line{Series: []Series{{X: []float64{0, 1}, Y: []float64{1, 2}}}}.Image()
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "line.png")
	require.NoError(t, WritePNG(path, img))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	back, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, img.Bounds(), back.Bounds())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")
	require.Error(t, WritePNG(filepath.Join(dir, "missing", "x.png"), img))
}

func TestFontGlyphs(t *testing.T) {
	for r, g := range glyphs {
		for _, row := range g {
			require.Len(t, row, 3, "glyph %q", r)
		}
	}
	require.Equal(t, 0, textWidth(""))
	require.Equal(t, 11*scale, textWidth("abc"))
}
