package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeRun writes a results.json as three_degradation writes it: setup,
// network, steps, tasks with every task at psnr, and the unseen rows.
func writeRun(t *testing.T, dir, name, network string, steps int, s setup, psnr float64, features bool) {
	t.Helper()
	rep := map[string]any{"network": network, "steps": steps, "train_seconds": 1.0, "setup": s}
	var tasks []map[string]any
	for _, task := range []string{"noise15", "noise25", "noise50", "rain", "haze"} {
		tasks = append(tasks, map[string]any{"task": task, "degraded_psnr": 20.0, "degraded_ssim": 0.5,
			"restored_psnr": psnr, "restored_ssim": 0.8, "images": 6})
	}
	rep["tasks"] = tasks
	rep["ood"] = []map[string]any{{"task": "noise:60", "restored_psnr": psnr - 10}, {"task": "jpeg:10", "restored_psnr": psnr - 8}}
	if features {
		rep["feature_ablation"] = []map[string]any{{"task": "noise15", "r1_psnr": 12.5, "r2_psnr": 29.75, "r3_psnr": psnr,
			"diff_wb": 0.125, "diff_res": 0.0625, "images": 6}}
	}
	js, err := json.Marshal(rep)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), js, 0o644))
}

func TestTables(t *testing.T) {
	dir := t.TempDir()
	ref := setup{Preset: "tiny", Tasks: "three", Seed: 1, Batch: 4, Patch: 64, Beta: 0.05, Losses: "all", Embedding: "b+r", Weights: "proportional", Map: "transformer"}
	with := func(edit func(*setup)) setup { s := ref; edit(&s); return s }
	writeRun(t, dir, "ref_seed1", "barynet", 100, ref, 30, true)
	writeRun(t, dir, "ref_seed2", "barynet", 100, with(func(s *setup) { s.Seed = 2 }), 31, false)
	writeRun(t, dir, "none_seed1", "barynet", 100, with(func(s *setup) { s.Losses = "none" }), 29, false)
	writeRun(t, dir, "emb_s_seed1", "barynet", 100, with(func(s *setup) { s.Embedding = "s" }), 28, false)
	writeRun(t, dir, "uniform_seed1", "barynet", 100, with(func(s *setup) { s.Weights = "uniform" }), 27, false)
	writeRun(t, dir, "mlp_seed1", "barynet", 100, with(func(s *setup) { s.Map = "mlp" }), 26, false)
	writeRun(t, dir, "base_seed1", "restormer", 100, with(func(s *setup) { s.Losses, s.Embedding, s.Weights, s.Map = "", "", "", "" }), 25, false)
	writeRun(t, dir, "batch8_seed1", "barynet", 50, with(func(s *setup) { s.Batch = 8 }), 24, false)
	writeRun(t, dir, "beta0.2_seed1", "barynet", 100, with(func(s *setup) { s.Beta = 0.2 }), 23, false)
	writeRun(t, dir, "misfit_seed1", "barynet", 100, with(func(s *setup) { s.Beta, s.Map = 0.2, "vit" }), 22, false)
	writeRun(t, dir, "longer_seed1", "barynet", 200, ref, 21, false) // other training patches: no table
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cost.md"), []byte("| Method |\n|---|\n| BaryIR |\n"), 0o644))

	var out, log strings.Builder
	require.NoError(t, tables(dir, &out, &log))
	md := out.String()
	t.Log(md)
	for _, want := range []string{
		"Preset tiny, three degradations, 64x64 patches, 400 training patches per run (steps x batch); reference: batch 4, β 0.05.",
		"| decoder fed | noise15 | noise25 | noise50 | rain | haze | average | unseen | seeds | steps |",
		"| s | 28.00/0.800 | 28.00/0.800 | 28.00/0.800 | 28.00/0.800 | 28.00/0.800 | 28.00/0.800 | 19.00 | 1 | 100 |",
		"| b+r | 30.50/0.800 | 30.50/0.800 | 30.50/0.800 | 30.50/0.800 | 30.50/0.800 | 30.50/0.800 (sd 0.71) | 21.50 (sd 0.71) | 1, 2 | 100 |",
		"| none | 29.00/0.800 |",
		"| uniform | 27.00/0.800 |",
		"| w/o (restormer) | 25.00/0.800 |",
		"| mlp | 26.00/0.800 |",
		"| 8 | 24.00/0.800 | 24.00/0.800 | 24.00/0.800 | 24.00/0.800 | 24.00/0.800 | 24.00/0.800 | 15.00 | 1 | 50 |",
		"| 0.2 | 23.00/0.800 |",
		"| noise15 | 12.50 | 29.75 | 30.00 | 0.1250 | 0.0625 |",
		"### Tab. XII/XIII: cost (examples/cost)\n\n| Method |\n|---|\n| BaryIR |\n",
	} {
		require.Contains(t, md, want)
	}
	// Each table lists its rows in the paper's order, the reference last.
	tab9 := md[strings.Index(md, "Tab. IX, losses"):strings.Index(md, "Tab. X:")]
	require.Less(t, strings.Index(tab9, "| none |"), strings.Index(tab9, "| all |"))
	require.NotContains(t, md, "| 22.00/")
	require.NotContains(t, md, "| 21.00/")
	require.Equal(t, "longer_seed1.json: fits no table (its setup differs from the reference in more than one setting)\n"+
		"misfit_seed1.json: fits no table (its setup differs from the reference in more than one setting)\n", log.String())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"network": "barynet"}`), 0o644))
	require.ErrorContains(t, tables(dir, &out, &log), "broken.json: not a three_degradation results.json")
	require.ErrorContains(t, tables(t.TempDir(), &out, &log), "no runs")
}
