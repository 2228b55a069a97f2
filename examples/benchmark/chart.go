package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"os"
	"slices"

	"github.com/x/baryir/data"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	goColour    = color.RGBA{0, 125, 156, 255} // Go's blue
	torchColour = color.RGBA{238, 76, 44, 255} // PyTorch's orange
)

// readRows reads the rows an earlier -json run printed.
func readRows(path string) ([]Row, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []Row
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("%s: not the JSON rows of -json: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	return rows, nil
}

// writeChart draws the rows as bars through gonum.org/v1/plot, Go beside
// PyTorch: the median seconds of each measurement per configuration on top,
// the peak memory below. Configurations without PyTorch figures show Go's
// bars alone.
func writeChart(path string, rows []Row) error {
	if len(rows) == 0 {
		return errors.New("chart: no rows")
	}
	type measure struct {
		name, key string // key: the name in Row.Measured
		goV       func(Row) float64
		torchV    func(Row) *float64
	}
	measures := []measure{
		{"step", "step", func(r Row) float64 { return r.GoStepS }, func(r Row) *float64 { return r.TorchStepS }},
		{"fwd+bwd", "fwdbwd", func(r Row) float64 { return r.GoFwdBwdS }, func(r Row) *float64 { return r.TorchFwdBwdS }},
		{"fwd", "fwd", func(r Row) float64 { return r.GoFwdS }, func(r Row) *float64 { return r.TorchFwdS }},
		{"infer", "infer", func(r Row) float64 { return r.GoInferS }, func(r Row) *float64 { return r.TorchInferS }},
	}
	var labels []string
	var goT, torchT plotter.Values
	for _, r := range rows {
		for _, m := range measures {
			if r.Measured != nil && !slices.Contains(r.Measured, m.key) {
				continue // a paper-scale row's unmeasured fields; rows of older runs list none
			}
			labels = append(labels, r.Config+" "+m.name)
			goT = append(goT, m.goV(r))
			torchT = append(torchT, orZero(m.torchV(r)))
		}
	}
	times, err := bars("Median time per call (lower is better)", "seconds", labels, goT, torchT)
	if err != nil {
		return err
	}
	var configs []string
	var goM, torchM plotter.Values
	for _, r := range rows {
		configs = append(configs, r.Config)
		goM = append(goM, r.GoPeakMiB)
		torchM = append(torchM, orZero(r.TorchPeakMiB))
	}
	memory, err := bars("Peak memory of the process", "MiB", configs, goM, torchM)
	if err != nil {
		return err
	}

	canvas := vgimg.New(8*vg.Inch, 7*vg.Inch)
	dc := draw.New(canvas)
	top := draw.Crop(dc, 0, -vg.Points(8), 2.6*vg.Inch, 0)
	bottom := draw.Crop(dc, 0, -vg.Points(8), 0, -4.6*vg.Inch)
	times.Draw(top)
	memory.Draw(bottom)
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: canvas}).WriteTo(&buf); err != nil {
		return err
	}
	return data.WriteFileAtomic(path, buf.Bytes()) // a crash never leaves half a picture
}

// bars is one panel of Go and PyTorch bars side by side per label; PyTorch's
// are left out when it ran nowhere.
func bars(title, unit string, labels []string, goV, torchV plotter.Values) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = unit
	p.Add(plotter.NewGrid())
	width := vg.Points(14)
	g, err := plotter.NewBarChart(goV, width)
	if err != nil {
		return nil, fmt.Errorf("chart: %s: %w", title, err)
	}
	g.Color, g.LineStyle.Width = goColour, 0
	p.Add(g)
	p.Legend.Add("Go (baryir)", g)
	if anyPositive(torchV) {
		g.Offset = -width / 2
		t, err := plotter.NewBarChart(torchV, width)
		if err != nil {
			return nil, fmt.Errorf("chart: %s: %w", title, err)
		}
		t.Color, t.LineStyle.Width, t.Offset = torchColour, 0, width/2
		p.Add(t)
		p.Legend.Add("PyTorch", t)
	}
	p.Legend.Top = true
	p.NominalX(labels...)
	// room for the outer bars at the sides and for the legend above the tallest
	p.X.Min, p.X.Max = -0.7, float64(len(labels))-0.3
	p.Y.Min, p.Y.Max = 0, 1.25*max(maxOf(goV), maxOf(torchV))
	return p, nil
}

func maxOf(v plotter.Values) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func orZero(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

func anyPositive(v plotter.Values) bool {
	for _, x := range v {
		if x > 0 {
			return true
		}
	}
	return false
}
