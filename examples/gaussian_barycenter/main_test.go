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

// A short run prints the documented JSON fields and writes the plot.
func TestJSONAndPlot(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(&out, true, dir, 20, 3))
	var rep struct {
		Weights []float64 `json:"weights"`
		Sources []struct {
			Mean []float64   `json:"mean"`
			Cov  [][]float64 `json:"cov"`
		} `json:"sources"`
		ClosedForm struct {
			Mean []float64   `json:"mean"`
			Cov  [][]float64 `json:"cov"`
			Cost float64     `json:"cost"`
		} `json:"closed_form"`
		Learned struct {
			Mean      []float64   `json:"mean"`
			Cov       [][]float64 `json:"cov"`
			Objective float64     `json:"objective"`
		} `json:"learned"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
	require.Len(t, rep.Weights, 3)
	require.Len(t, rep.Sources, 3)
	for _, s := range rep.Sources {
		require.Len(t, s.Mean, 2)
		require.Len(t, s.Cov, 2)
	}
	require.Len(t, rep.ClosedForm.Mean, 2)
	require.Greater(t, rep.ClosedForm.Cost, 0.0)
	require.Len(t, rep.Learned.Cov, 2)
	require.NotZero(t, rep.Learned.Objective)

	f, err := os.Open(filepath.Join(dir, "gaussian_barycenter.png"))
	require.NoError(t, err)
	defer f.Close()
	im, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 720, 576), im.Bounds(), "7.5 x 6 inches at 96 dpi")
	// the black closed-form ellipse and the coloured samples are drawn
	black, coloured := 0, 0
	for y := range 576 {
		for x := range 720 {
			r, g, b, _ := im.At(x, y).RGBA()
			if r < 0x1000 && g < 0x1000 && b < 0x1000 {
				black++
			}
			if max(r, g, b)-min(r, g, b) > 0x4000 {
				coloured++
			}
		}
	}
	require.Greater(t, black, 1000)
	require.Greater(t, coloured, 5000)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left")
}

func TestBadSteps(t *testing.T) {
	require.ErrorContains(t, run(&bytes.Buffer{}, false, "", 0, 1), "steps")
}
