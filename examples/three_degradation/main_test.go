package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir"
)

func shortRun(out string) options {
	return options{preset: "tiny", steps: 2, patch: 16, batch: 2, seed: 3, out: out, device: "cpu", asJSON: true, evalImages: 1, lrStep: -1, beta: -1}
}

func TestShortRunWritesEverything(t *testing.T) {
	out := t.TempDir()
	var stdout strings.Builder
	require.NoError(t, run(shortRun(out), &stdout, io.Discard))
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	require.Equal(t, "barynet", rep.Network)
	var names []string
	for _, task := range rep.Tasks {
		names = append(names, task.Task)
		require.Greater(t, task.DegradedPSNR, 5.0)
		require.Greater(t, task.RestoredSSIM, 0.0)
	}
	require.Equal(t, []string{"noise15", "noise25", "noise50", "rain", "haze"}, names)
	for _, f := range []string{"grid.png", "loss_curve.png", "train.jsonl", "checkpoint.safetensors", "weights.safetensors", "results.json"} {
		st, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
		require.Positive(t, st.Size(), f)
	}
	// The JSON field names users parse.
	var raw struct{ Tasks []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &raw))
	for _, k := range []string{"task", "degraded_psnr", "degraded_ssim", "restored_psnr", "restored_ssim"} {
		require.Contains(t, raw.Tasks[0], k)
	}

	// Resuming from the checkpoint continues to a later step.
	o := shortRun(out)
	o.steps, o.resume = 3, filepath.Join(out, "checkpoint.safetensors")
	stdout.Reset()
	require.NoError(t, run(o, &stdout, io.Discard))
	log, err := os.ReadFile(filepath.Join(out, "train.jsonl"))
	require.NoError(t, err)
	require.Equal(t, 3, strings.Count(string(log), "\n"), "steps 1, 2, then 3 after resuming")
}

func TestBaselineRuns(t *testing.T) {
	o := shortRun(t.TempDir())
	o.baseline, o.steps = true, 1
	var stdout strings.Builder
	require.NoError(t, run(o, &stdout, io.Discard))
	require.Contains(t, stdout.String(), `"network": "restormer"`)
}

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.Mkdir(empty, 0o755))
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	require.NoError(t, os.WriteFile(corrupt, []byte("not a checkpoint"), 0o644))
	cases := []struct {
		name, want string
		edit       func(*options)
	}{
		{"preset", "-preset", func(o *options) { o.preset = "huge" }},
		{"patch", "Patch 12", func(o *options) { o.patch = 12 }},
		{"device", `unknown device "tpu"`, func(o *options) { o.device = "tpu" }},
		{"empty train folder", empty, func(o *options) { o.train = empty }},
		{"corrupt resume", "corrupt.safetensors", func(o *options) { o.resume = corrupt }},
		{"missing bsd68", "nowhere", func(o *options) { o.bsd68 = filepath.Join(dir, "nowhere") }},
	}
	if !baryir.GPUAvailable {
		cases = append(cases, struct {
			name, want string
			edit       func(*options)
		}{"gpu without support", "-tags baryirgpu", func(o *options) { o.device = "gpu" }})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := shortRun(filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-")))
			o.steps = 1
			c.edit(&o)
			err := run(o, io.Discard, io.Discard)
			require.ErrorContains(t, err, c.want)
		})
	}
}
