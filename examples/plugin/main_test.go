package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
)

func shortRun(out string) options {
	return options{steps: 6, batch: 2, patch: 16, width: 4, lr: 2e-3, every: 3, seed: 2, out: out}
}

// A short run writes what three_degradation writes, restores through the
// library's Restorer, and a run resumed from its step-3 checkpoint ends on
// the same weights, byte for byte, as one never stopped.
func TestShortRunResumesExactly(t *testing.T) {
	whole := t.TempDir()
	var stdout strings.Builder
	require.NoError(t, run(shortRun(whole), &stdout, io.Discard))
	require.Contains(t, stdout.String(), "with BaryIR")
	for _, f := range []string{"grid.png", "loss_curve.png", "train.jsonl", "checkpoint.safetensors", "weights.safetensors", "results.json"} {
		st, err := os.Stat(filepath.Join(whole, f))
		require.NoError(t, err, f)
		require.Positive(t, st.Size(), f)
	}
	var rep Report
	js, err := os.ReadFile(filepath.Join(whole, "results.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(js, &rep))
	require.Len(t, rep.Tasks, 5)
	require.Equal(t, 6, rep.Steps)

	// Stopped after 3 steps (its checkpoint is the step-3 one), resumed to 6.
	parts := t.TempDir()
	o := shortRun(parts)
	o.steps = 3
	require.NoError(t, run(o, io.Discard, io.Discard))
	o.steps, o.resume = 6, filepath.Join(parts, "checkpoint.safetensors")
	require.NoError(t, run(o, io.Discard, io.Discard))
	for _, f := range []string{"weights.safetensors", "checkpoint.safetensors"} {
		a, err := os.ReadFile(filepath.Join(whole, f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(parts, f))
		require.NoError(t, err)
		require.True(t, bytes.Equal(a, b), "%s differs after resuming", f)
	}

	// The baseline is the same U-Net without BaryIR: the same parameters
	// but the map's (bary.) and the residual branch's (res.), and no
	// potentials.
	base := shortRun(t.TempDir())
	base.baseline = true
	stdout.Reset()
	require.NoError(t, run(base, &stdout, io.Discard))
	require.NotContains(t, stdout.String(), "BaryIR")
	with, without := params(t, UNet{Width: 4, MapBlocks: 1}), params(t, UNet{Width: 4, MapBlocks: 1, Baseline: true})
	for name := range without {
		require.Contains(t, with, name)
	}
	for name := range with {
		if _, ok := without[name]; !ok {
			require.True(t, strings.HasPrefix(name, "bary.") || strings.HasPrefix(name, "res."), name)
		}
	}
}

func params(t *testing.T, u UNet) map[string]bool {
	net, err := u.Build(layers.NewScope(G.NewGraph(), tensor.Float32, 1))
	require.NoError(t, err)
	out := map[string]bool{}
	for _, p := range net.Scope.Params() {
		out[p.Name] = true
	}
	return out
}

// The tiled Restorer runs a user's backbone too: tiles share the whole
// image's attention in the map's MDTA layers, and the tiled result is close
// to one pass over the image.
func TestTiledRestoreOfAUserBackbone(t *testing.T) {
	u := UNet{Width: 4, MapBlocks: 1}
	net, err := u.Build(layers.NewScope(G.NewGraph(), tensor.Float32, 7))
	require.NoError(t, err)
	sd, err := baryir.StateDictOf(net.Scope.Params())
	require.NoError(t, err)
	one, err := baryir.NewRestorer(u, sd, baryir.RestorerOptions{})
	require.NoError(t, err)
	defer one.Close()
	r, err := baryir.NewRestorer(u, sd, baryir.RestorerOptions{Tile: 128})
	require.NoError(t, err)
	defer r.Close()
	const side = 200
	img := data.NewImage("ramp", side, side)
	for i := range img.Pix {
		img.Pix[i] = float32(i%side) / side * float32(i/side%side) / side
	}
	tiles, _, err := one.Tiles(side, side)
	require.NoError(t, err)
	require.Equal(t, 1, tiles)
	whole, err := one.Restore(img)
	require.NoError(t, err)
	tiles, passes, err := r.Tiles(side, side)
	require.NoError(t, err)
	require.Greater(t, tiles, 1)
	require.Greater(t, passes, 1)
	tiled, err := r.Restore(img)
	require.NoError(t, err)
	var mse float64
	for i := range whole.Pix {
		d := float64(whole.Pix[i] - tiled.Pix[i])
		mse += d * d
	}
	mse /= float64(len(whole.Pix))
	require.Less(t, mse, 1e-5, "tiled and one-pass restorations differ by %.3g (MSE)", mse)
}
