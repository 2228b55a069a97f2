// Package plot draws small PNG charts with only the standard library: scatter
// plots with ellipse overlays (to show Gaussians and their barycenter) and
// line charts with an optional log-scaled y axis (loss curves). Text uses a
// built-in 3x5 bitmap font, so labels are upper case.
package plot

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"strconv"

	"github.com/x/baryir/internal/safetensors"
)

// Series is one named set of points; nil Color takes the palette's next.
type Series struct {
	Name  string
	X, Y  []float64
	Color color.Color
}

// Ellipse is the contour of a 2-D Gaussian: the points at Mahalanobis
// distance Sigmas (0 means 2) from Center under covariance Cov.
type Ellipse struct {
	Name   string
	Center [2]float64
	Cov    [2][2]float64
	Sigmas float64
	Color  color.Color
}

// Scatter is a scatter plot.
type Scatter struct {
	Title, XLabel, YLabel string
	Series                []Series
	Ellipses              []Ellipse
	Width, Height         int // pixels; 0 means 640x480
}

// Line is a line chart: each series' points joined in order.
type Line struct {
	Title, XLabel, YLabel string
	Series                []Series
	LogY                  bool // log10 y axis; non-positive values are skipped
	Width, Height         int  // pixels; 0 means 640x480
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {23, 190, 207, 255},
}

// Palette returns the i-th default colour (cycling).
func Palette(i int) color.RGBA { return palette[((i%len(palette))+len(palette))%len(palette)] }

// WritePNG encodes img and writes it to path atomically (temp file + rename).
func WritePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(path, buf.Bytes())
}

// Image draws the scatter plot.
func (s Scatter) Image() (*image.RGBA, error) {
	var xs, ys []float64
	for i, se := range s.Series {
		if len(se.X) != len(se.Y) {
			return nil, fmt.Errorf("plot: series %d (%s) has %d x and %d y values", i, se.Name, len(se.X), len(se.Y))
		}
		xs = append(xs, se.X...)
		ys = append(ys, se.Y...)
	}
	var rings [][][2]float64
	for i, e := range s.Ellipses {
		pts, err := e.points()
		if err != nil {
			return nil, fmt.Errorf("plot: ellipse %d (%s): %w", i, e.Name, err)
		}
		rings = append(rings, pts)
		for _, p := range pts {
			xs = append(xs, p[0])
			ys = append(ys, p[1])
		}
	}
	c, err := newCanvas(s.Width, s.Height, s.Title, s.XLabel, s.YLabel, xs, ys, false)
	if err != nil {
		return nil, err
	}
	var legend []legendEntry
	for i, se := range s.Series {
		col := pick(se.Color, i)
		for j := range se.X {
			if px, py, ok := c.pixel(se.X[j], se.Y[j]); ok {
				c.dot(px, py, col)
			}
		}
		legend = append(legend, legendEntry{se.Name, col})
	}
	for i, e := range s.Ellipses {
		col := pick(e.Color, len(s.Series)+i)
		c.polyline(rings[i], col, 2)
		legend = append(legend, legendEntry{e.Name, col})
	}
	c.legend(legend)
	return c.img, nil
}

// Image draws the line chart.
func (l Line) Image() (*image.RGBA, error) {
	var xs, ys []float64
	for i, se := range l.Series {
		if len(se.X) != len(se.Y) {
			return nil, fmt.Errorf("plot: series %d (%s) has %d x and %d y values", i, se.Name, len(se.X), len(se.Y))
		}
		xs = append(xs, se.X...)
		ys = append(ys, se.Y...)
	}
	c, err := newCanvas(l.Width, l.Height, l.Title, l.XLabel, l.YLabel, xs, ys, l.LogY)
	if err != nil {
		return nil, err
	}
	var legend []legendEntry
	for i, se := range l.Series {
		col := pick(se.Color, i)
		var pts [][2]float64
		for j := range se.X {
			if !c.valid(se.X[j], se.Y[j]) {
				c.polyline(pts, col, 2) // a gap: draw what came before
				pts = pts[:0]
				continue
			}
			pts = append(pts, [2]float64{se.X[j], se.Y[j]})
		}
		c.polyline(pts, col, 2)
		if len(pts) == 1 {
			if px, py, ok := c.pixel(pts[0][0], pts[0][1]); ok {
				c.dot(px, py, col)
			}
		}
		legend = append(legend, legendEntry{se.Name, col})
	}
	c.legend(legend)
	return c.img, nil
}

func pick(c color.Color, i int) color.Color {
	if c != nil {
		return c
	}
	return Palette(i)
}

func (e Ellipse) points() ([][2]float64, error) {
	a, b, d := e.Cov[0][0], e.Cov[0][1], e.Cov[1][1]
	if e.Cov[1][0] != b {
		return nil, errors.New("covariance is not symmetric")
	}
	if !(a > 0) || !(a*d-b*b > 0) {
		return nil, errors.New("covariance is not positive definite")
	}
	k := e.Sigmas
	if k == 0 {
		k = 2
	}
	// Cholesky factor L of the covariance maps the unit circle onto the contour.
	l00 := math.Sqrt(a)
	l10 := b / l00
	l11 := math.Sqrt(d - l10*l10)
	const n = 120
	pts := make([][2]float64, n+1)
	for i := range pts {
		t := 2 * math.Pi * float64(i) / n
		u, v := k*math.Cos(t), k*math.Sin(t)
		pts[i] = [2]float64{e.Center[0] + l00*u, e.Center[1] + l10*u + l11*v}
	}
	return pts, nil
}

type legendEntry struct {
	name string
	col  color.Color
}

// canvas maps data to pixels inside a plot area framed by axes.
type canvas struct {
	img                   *image.RGBA
	left, right, top, bot int // plot area in pixels
	x0, x1, y0, y1        float64
	logY                  bool
}

const (
	marginLeft   = 70
	marginRight  = 20
	marginTop    = 30
	marginBottom = 50
)

var (
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{225, 225, 225, 255}
)

func newCanvas(w, h int, title, xl, yl string, xs, ys []float64, logY bool) (*canvas, error) {
	if w == 0 && h == 0 {
		w, h = 640, 480
	}
	if w < 200 || h < 150 || w > 8192 || h > 8192 {
		return nil, fmt.Errorf("plot: size %dx%d out of range (200x150 to 8192x8192)", w, h)
	}
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h)), left: marginLeft, right: w - marginRight,
		top: marginTop, bot: h - marginBottom, logY: logY}
	draw.Draw(c.img, c.img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	c.x0, c.x1 = math.Inf(1), math.Inf(-1)
	c.y0, c.y1 = math.Inf(1), math.Inf(-1)
	for i := range xs {
		if !c.valid(xs[i], ys[i]) {
			continue
		}
		y := c.ty(ys[i])
		c.x0, c.x1 = math.Min(c.x0, xs[i]), math.Max(c.x1, xs[i])
		c.y0, c.y1 = math.Min(c.y0, y), math.Max(c.y1, y)
	}
	if c.x0 > c.x1 {
		return nil, errors.New("plot: no finite points to draw")
	}
	c.x0, c.x1 = pad(c.x0, c.x1)
	c.y0, c.y1 = pad(c.y0, c.y1)
	c.axes(title, xl, yl)
	return c, nil
}

// pad widens a range by 5% on each side, and an empty range to width 1.
func pad(lo, hi float64) (float64, float64) {
	if hi-lo < 1e-12*math.Max(1, math.Abs(lo)) {
		return lo - 0.5, hi + 0.5
	}
	d := 0.05 * (hi - lo)
	return lo - d, hi + d
}

func (c *canvas) valid(x, y float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
		return false
	}
	return !c.logY || y > 0
}

// ty is y on the axis' scale.
func (c *canvas) ty(y float64) float64 {
	if c.logY {
		return math.Log10(y)
	}
	return y
}

func (c *canvas) fpixel(x, y float64) (float64, float64) {
	px := float64(c.left) + (x-c.x0)/(c.x1-c.x0)*float64(c.right-c.left)
	py := float64(c.bot) - (c.ty(y)-c.y0)/(c.y1-c.y0)*float64(c.bot-c.top)
	return px, py
}

func (c *canvas) pixel(x, y float64) (int, int, bool) {
	if !c.valid(x, y) {
		return 0, 0, false
	}
	px, py := c.fpixel(x, y)
	return int(math.Round(px)), int(math.Round(py)), true
}

func (c *canvas) inside(x, y int) bool {
	return x >= c.left && x <= c.right && y >= c.top && y <= c.bot
}

func (c *canvas) dot(x, y int, col color.Color) {
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			if c.inside(x+dx, y+dy) {
				c.img.Set(x+dx, y+dy, col)
			}
		}
	}
}

// polyline joins the points with lines of the given width, clipped to the plot area.
func (c *canvas) polyline(pts [][2]float64, col color.Color, width int) {
	for i := 1; i < len(pts); i++ {
		ax, ay := c.fpixel(pts[i-1][0], pts[i-1][1])
		bx, by := c.fpixel(pts[i][0], pts[i][1])
		n := int(math.Ceil(math.Max(math.Abs(bx-ax), math.Abs(by-ay)))) + 1
		for s := 0; s <= n; s++ {
			t := float64(s) / float64(n)
			x, y := int(math.Round(ax+t*(bx-ax))), int(math.Round(ay+t*(by-ay)))
			for d := range width {
				for e := range width {
					if c.inside(x+d, y+e) {
						c.img.Set(x+d, y+e, col)
					}
				}
			}
		}
	}
}

func (c *canvas) hline(x0, x1, y int, col color.Color) {
	for x := x0; x <= x1; x++ {
		c.img.Set(x, y, col)
	}
}

func (c *canvas) vline(x, y0, y1 int, col color.Color) {
	for y := y0; y <= y1; y++ {
		c.img.Set(x, y, col)
	}
}

// axes draws the grid, the frame, ticks with labels, the axis labels and the title.
func (c *canvas) axes(title, xl, yl string) {
	for _, v := range ticks(c.x0, c.x1) {
		px, _ := c.fpixel(v, 1)
		x := int(math.Round(px))
		c.vline(x, c.top, c.bot, grey)
		c.vline(x, c.bot, c.bot+5, black)
		s := label(v)
		drawText(c.img, x-textWidth(s)/2, c.bot+9, s, black)
	}
	for _, v := range c.yTicks() {
		y := int(math.Round(float64(c.bot) - (v-c.y0)/(c.y1-c.y0)*float64(c.bot-c.top)))
		c.hline(c.left, c.right, y, grey)
		c.hline(c.left-5, c.left, y, black)
		s := label(v)
		if c.logY {
			s = label(math.Pow(10, v))
		}
		drawText(c.img, c.left-8-textWidth(s), y-textHeight/2, s, black)
	}
	c.hline(c.left, c.right, c.top, black)
	c.hline(c.left, c.right, c.bot, black)
	c.vline(c.left, c.top, c.bot, black)
	c.vline(c.right, c.top, c.bot, black)
	w := c.img.Bounds().Dx()
	drawText(c.img, (w-textWidth(title))/2, 10, title, black)
	drawText(c.img, (c.left+c.right-textWidth(xl))/2, c.bot+28, xl, black)
	drawTextUp(c.img, 8, (c.top+c.bot+textWidth(yl))/2, yl, black)
}

// yTicks are the y tick positions on the axis' scale: powers of ten on a log
// axis spanning a decade or more, nice linear steps otherwise.
func (c *canvas) yTicks() []float64 {
	if c.logY && c.y1-c.y0 >= 1 {
		var out []float64
		step := math.Max(1, math.Ceil((c.y1-c.y0)/8))
		for e := math.Ceil(c.y0/step) * step; e <= c.y1; e += step {
			out = append(out, e)
		}
		return out
	}
	if c.logY {
		var out []float64
		for _, v := range ticks(math.Pow(10, c.y0), math.Pow(10, c.y1)) {
			if v > 0 {
				out = append(out, math.Log10(v))
			}
		}
		return out
	}
	return ticks(c.y0, c.y1)
}

// ticks returns about five round values (steps of 1, 2 or 5 times a power of ten) in [lo, hi].
func ticks(lo, hi float64) []float64 {
	span := hi - lo
	if !(span > 0) {
		return nil
	}
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 5, 10} {
		if raw > step {
			step = m * mag
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		out = append(out, v)
	}
	return out
}

func label(v float64) string {
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// legend lists the named entries at the top right of the plot area.
func (c *canvas) legend(entries []legendEntry) {
	y := c.top + 6
	for _, e := range entries {
		if e.name == "" {
			continue
		}
		x := c.right - 6 - textWidth(e.name) - 14
		draw.Draw(c.img, image.Rect(x-2, y-2, c.right-4, y+textHeight+2), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(c.img, image.Rect(x, y, x+10, y+textHeight), image.NewUniform(e.col), image.Point{}, draw.Src)
		drawText(c.img, x+14, y, e.name, black)
		y += textHeight + 6
	}
}
