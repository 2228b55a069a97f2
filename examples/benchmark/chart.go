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
	goColour    = color.RGBA{0, 125, 156, 255}  // Go's blue
	torchColour = color.RGBA{238, 76, 44, 255}  // PyTorch's orange
	ortColour   = color.RGBA{120, 70, 190, 255} // ONNX Runtime: violet
)

// series is one side's bars in a panel.
type series struct {
	name   string
	colour color.Color
	values plotter.Values
}

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
// PyTorch and ONNX Runtime: the median seconds of each measurement per
// configuration on top, the peak memory below. A side that ran nowhere has
// no bars; ONNX Runtime measures inference only.
func writeChart(path string, rows []Row) error {
	if len(rows) == 0 {
		return errors.New("chart: no rows")
	}
	type measure struct {
		name, key string // key: the name in Row.Measured
		goV       func(Row) float64
		torchV    func(Row) *float64
		ortV      func(Row) *float64
	}
	none := func(Row) *float64 { return nil }
	measures := []measure{
		{"step", "step", func(r Row) float64 { return r.GoStepS }, func(r Row) *float64 { return r.TorchStepS }, none},
		{"fwd+bwd", "fwdbwd", func(r Row) float64 { return r.GoFwdBwdS }, func(r Row) *float64 { return r.TorchFwdBwdS }, none},
		{"fwd", "fwd", func(r Row) float64 { return r.GoFwdS }, func(r Row) *float64 { return r.TorchFwdS }, none},
		{"infer", "infer", func(r Row) float64 { return r.GoInferS }, func(r Row) *float64 { return r.TorchInferS },
			func(r Row) *float64 { return r.OrtInferS }},
	}
	var labels []string
	goT, torchT, ortT := series{"Go (baryir)", goColour, nil}, series{"PyTorch", torchColour, nil}, series{"ONNX Runtime", ortColour, nil}
	for _, r := range rows {
		for _, m := range measures {
			if r.Measured != nil && !slices.Contains(r.Measured, m.key) {
				continue // a paper-scale row's unmeasured fields; rows of older runs list none
			}
			labels = append(labels, r.Config+" "+m.name)
			goT.values = append(goT.values, m.goV(r))
			torchT.values = append(torchT.values, orZero(m.torchV(r)))
			ortT.values = append(ortT.values, orZero(m.ortV(r)))
		}
	}
	times, err := bars("Median time per call (lower is better)", "seconds", labels, goT, torchT, ortT)
	if err != nil {
		return err
	}
	var configs []string
	goM, torchM, ortM := goT, torchT, ortT
	goM.values, torchM.values, ortM.values = nil, nil, nil
	for _, r := range rows {
		configs = append(configs, r.Config)
		goM.values = append(goM.values, r.GoPeakMiB)
		torchM.values = append(torchM.values, orZero(r.TorchPeakMiB))
		ortM.values = append(ortM.values, orZero(r.OrtPeakMiB))
	}
	memory, err := bars("Peak memory of the process", "MiB", configs, goM, torchM, ortM)
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

// bars is one panel of bars side by side per label, one colour per series;
// the first series (Go's) is always drawn, the others where they ran.
func bars(title, unit string, labels []string, all ...series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = unit
	p.Add(plotter.NewGrid())
	var drawn []series
	for i, s := range all {
		if i == 0 || anyPositive(s.values) {
			drawn = append(drawn, s)
		}
	}
	width := vg.Points(min(14, 36/float64(len(drawn))))
	top := 0.0
	for i, s := range drawn {
		b, err := plotter.NewBarChart(s.values, width)
		if err != nil {
			return nil, fmt.Errorf("chart: %s: %w", title, err)
		}
		b.Color, b.LineStyle.Width = s.colour, 0
		b.Offset = width * vg.Length(float64(i)-float64(len(drawn)-1)/2)
		p.Add(b)
		p.Legend.Add(s.name, b)
		top = max(top, maxOf(s.values))
	}
	p.Legend.Top = true
	p.NominalX(labels...)
	if len(labels) > 6 {
		p.X.Tick.Label.Rotation = 0.5 // radians: long labels side by side would overlap
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	// room for the outer bars at the sides and for the legend above the tallest
	p.X.Min, p.X.Max = -0.7, float64(len(labels))-0.3
	p.Y.Min, p.Y.Max = 0, 1.25*top
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
