package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// countColour counts the pixels of im within rect that are close to c.
func countColour(im image.Image, rect image.Rectangle, c [3]uint8) int {
	n := 0
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			r, g, b, _ := im.At(x, y).RGBA()
			d := func(v uint32, w uint8) int { return max(int(v>>8)-int(w), int(w)-int(v>>8)) }
			if d(r, c[0]) < 8 && d(g, c[1]) < 8 && d(b, c[2]) < 8 {
				n++
			}
		}
	}
	return n
}

func TestChartFromRows(t *testing.T) {
	dir := t.TempDir()
	g := goResult{StepS: 2, FwdS: 0.5, FwdBwdS: 1.5, InferS: 0.4, FwdFLOPs: 1e9, Params: 10}
	tr := &torchResult{StepS: 1, FwdS: 0.25, FwdBwdS: 0.75, InferS: 0.5, PeakMiB: 300}
	withORT := makeRow("tiny", g, 200, tr, 100e9)
	addORT(&withORT, ortMeasure{steady: &ortResult{InferS: 0.6, PeakMiB: 350}}, 100e9)
	tests := []struct {
		name               string
		rows               []Row
		wantTorch, wantORT bool
	}{
		{"with PyTorch", []Row{makeRow("tiny", g, 200, tr, 100e9), makeRow("mid", g, 250, tr, 100e9)}, true, false},
		{"with ONNX Runtime", []Row{withORT, makeRow("mid", g, 250, tr, 100e9)}, true, true},
		{"Go only", []Row{makeRow("tiny", g, 200, nil, 100e9)}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, _ := json.Marshal(tt.rows)
			from, chart := filepath.Join(dir, "rows.json"), filepath.Join(dir, "bars.png")
			require.NoError(t, os.WriteFile(from, rows, 0o644))
			require.NoError(t, run(options{from: from, chart: chart}, &bytes.Buffer{}, &bytes.Buffer{}))
			f, err := os.Open(chart)
			require.NoError(t, err)
			defer f.Close()
			im, err := png.Decode(f)
			require.NoError(t, err)
			require.Equal(t, image.Rect(0, 0, 768, 672), im.Bounds(), "8 x 7 inches at 96 dpi")
			// both panels (times on top, memory below) hold Go's bars, and PyTorch's when it ran
			for _, panel := range []image.Rectangle{image.Rect(0, 0, 768, 420), image.Rect(0, 440, 768, 672)} {
				require.Greater(t, countColour(im, panel, [3]uint8{0, 125, 156}), 500)
				torch := countColour(im, panel, [3]uint8{238, 76, 44})
				if tt.wantTorch {
					require.Greater(t, torch, 300)
				} else {
					require.Zero(t, torch)
				}
				ort := countColour(im, panel, [3]uint8{120, 70, 190})
				if tt.wantORT {
					require.Greater(t, ort, 100)
				} else {
					require.Zero(t, ort)
				}
			}
		})
	}
}

func TestChartErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"config":"tiny"}`), 0o644))
	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte(`[]`), 0o644))
	for _, tt := range []struct {
		o    options
		want string
	}{
		{options{from: bad}, "-from needs -chart"},
		{options{from: bad, chart: filepath.Join(dir, "c.png")}, "not the JSON rows"},
		{options{from: empty, chart: filepath.Join(dir, "c.png")}, "no rows"},
		{options{from: filepath.Join(dir, "missing.json"), chart: filepath.Join(dir, "c.png")}, "missing.json"},
	} {
		require.ErrorContains(t, run(tt.o, &bytes.Buffer{}, &bytes.Buffer{}), tt.want)
	}
}
