package baryir

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"github.com/x/baryir/data"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WriteLossCurve draws the training losses against the step as a PNG,
// through gonum.org/v1/plot. The top panel holds the L1 restoration loss and,
// for BaryNet, the transport cost and the IRC + BRO term (Eq. 10 of the
// paper), on a log axis; the bottom panel holds the signed potential term
// sum_k w_k E_k[f_k(b)] on its own linear axis (it changes sign, so a log
// axis cannot show it). Each curve is a running mean over about 1/50 of the
// run, drawn over the raw per-step values in faint dots, since single steps
// scatter over decades. Dashed vertical lines mark the steps where the
// learning rate changed.
func writeLossCurve(path string, hist []Losses) error {
	if len(hist) == 0 {
		return errorf("loss curve: no steps to draw")
	}
	window := max(1, len(hist)/50)
	steps := make([]float64, len(hist))
	for i, h := range hist {
		steps[i] = float64(h.Step)
	}
	marks := lrChanges(hist)

	top := plot.New()
	top.Title.Text = fmt.Sprintf("Training losses (running mean over %d steps, raw steps faint)", window)
	top.Y.Label.Text = "loss (log scale)"
	top.Y.Scale, top.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	top.Legend.Top = true
	top.Add(plotter.NewGrid())
	drawn := 0
	for i, c := range []struct {
		name string
		of   func(Losses) float64
	}{
		{"L1", func(l Losses) float64 { return l.L1 }},
		{"transport", func(l Losses) float64 { return l.Transport }},
		{"IRC+BRO", func(l Losses) float64 { return l.Residual }},
	} {
		values := lossSeries(hist, c.of)
		if !anyPositive(values) {
			continue
		}
		if err := addCurve(top, c.name, steps, values, window, plotutil.Color(i), true); err != nil {
			return errorf("loss curve: %w", err)
		}
		drawn++
	}
	if drawn == 0 {
		return errorf("loss curve: no positive loss to draw on a log axis")
	}
	if top.Y.Min == top.Y.Max { // one step, or a constant loss: a decade round it
		top.Y.Min, top.Y.Max = top.Y.Min/3, top.Y.Max*3
	}
	top.Y.Max *= 10 // a decade of headroom for the legend
	panels := []*plot.Plot{top}
	if potTerm := lossSeries(hist, func(l Losses) float64 { return l.PotTerm }); anyNonZero(potTerm) {
		bottom := plot.New()
		bottom.Y.Label.Text = "potential term"
		bottom.Legend.Top = true
		bottom.Add(plotter.NewGrid())
		if err := addCurve(bottom, "Σ w_k E[f_k(b)]", steps, potTerm, window, plotutil.Color(3), false); err != nil {
			return errorf("loss curve: %w", err)
		}
		bottom.Y.Max += 0.3 * (bottom.Y.Max - bottom.Y.Min) // headroom for the legend
		panels = append(panels, bottom)
	}
	for i, p := range panels {
		for j, m := range marks {
			vl := &vLine{X: m.step, Style: draw.LineStyle{Color: color.Gray{110}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}}
			p.Add(vl)
			if i == 0 && j < 4 { // the legend names the first few changes
				p.Legend.Add(fmt.Sprintf("lr → %.3g at step %d", m.lr, int(m.step)), vl)
			}
		}
		if i == len(panels)-1 {
			p.X.Label.Text = "step"
		}
	}

	const width, panelHeight = 8 * vg.Inch, 3.2 * vg.Inch
	canvas := vgimg.New(width, panelHeight*vg.Length(len(panels)))
	dc := draw.New(canvas)
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(10)}
	for i, c := range plot.Align(grid, tiles, dc) {
		panels[i].Draw(c[0])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: canvas}).WriteTo(&buf); err != nil {
		return errorf("loss curve: %w", err)
	}
	return data.WriteFileAtomic(path, buf.Bytes())
}

// addCurve adds one loss: its raw values as faint dots and its running mean
// as a line. Non-finite values are left out, and on a log axis (logY) the
// non-positive ones too.
func addCurve(p *plot.Plot, name string, x, y []float64, window int, c color.Color, logY bool) error {
	mean := runningMean(y, window)
	raw, smooth := make(plotter.XYs, 0, len(y)), make(plotter.XYs, 0, len(y))
	keep := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && (!logY || v > 0) }
	for i := range y {
		if keep(y[i]) {
			raw = append(raw, plotter.XY{X: x[i], Y: y[i]})
		}
		if keep(mean[i]) {
			smooth = append(smooth, plotter.XY{X: x[i], Y: mean[i]})
		}
	}
	dots, err := plotter.NewScatter(raw)
	if err != nil {
		return errorf("%s: %w", name, err)
	}
	r, g, b, _ := c.RGBA()
	dots.GlyphStyle = draw.GlyphStyle{Color: color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 60}, Radius: vg.Points(1), Shape: draw.CircleGlyph{}}
	line, err := plotter.NewLine(smooth)
	if err != nil {
		return errorf("%s: %w", name, err)
	}
	line.Color, line.Width = c, vg.Points(1.8)
	p.Add(dots, line)
	p.Legend.Add(name, line)
	return nil
}

// lossSeries is one loss of every step of hist.
func lossSeries(hist []Losses, of func(Losses) float64) []float64 {
	v := make([]float64, len(hist))
	for i, h := range hist {
		v[i] = of(h)
	}
	return v
}

// lrMark is a step at which the learning rate changed, and the new rate.
type lrMark struct{ step, lr float64 }

func lrChanges(hist []Losses) []lrMark {
	var out []lrMark
	for i := 1; i < len(hist); i++ {
		if hist[i].LR != hist[i-1].LR {
			out = append(out, lrMark{float64(hist[i].Step), hist[i].LR})
		}
	}
	return out
}

// vLine is a vertical line across a plot at X, a gonum/plot Plotter.
type vLine struct {
	X     float64
	Style draw.LineStyle
}

// Plot draws the line from the bottom of the data area to its top.
func (l *vLine) Plot(c draw.Canvas, p *plot.Plot) {
	x := c.X(p.X.Norm(l.X))
	c.StrokeLine2(l.Style, x, c.Min.Y, x, c.Max.Y)
}

// DataRange widens the x axis to include the line, leaving y alone.
func (l *vLine) DataRange() (xmin, xmax, ymin, ymax float64) {
	return l.X, l.X, math.Inf(1), math.Inf(-1) // no y range: the line never moves the y axis
}

// Thumbnail draws the legend's sample of the line.
func (l *vLine) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(l.Style, c.Min.X, y, c.Max.X, y)
}

// runningMean averages each value with up to window-1 values before it.
func runningMean(v []float64, window int) []float64 {
	out := make([]float64, len(v))
	sum := 0.0
	for i, x := range v {
		sum += x
		if i >= window {
			sum -= v[i-window]
		}
		out[i] = sum / float64(min(i+1, window))
	}
	return out
}

func anyPositive(v []float64) bool {
	for _, x := range v {
		if x > 0 {
			return true
		}
	}
	return false
}

func anyNonZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return true
		}
	}
	return false
}
