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
	"github.com/x/baryir/data"
	"github.com/x/baryir/ot"
)

// Every subset of the three terms reads back under its canonical name, and
// the paper's six rows of Tab. IX switch the terms they name.
func TestLosses(t *testing.T) {
	rows := []struct {
		flag string
		want ablation
	}{
		{"none", ablation{NoMWB: true, NoIRC: true, NoBRO: true}},
		{"irc+bro", ablation{NoMWB: true}},
		{"mwb", ablation{NoIRC: true, NoBRO: true}},
		{"mwb+irc", ablation{NoBRO: true}},
		{"mwb+bro", ablation{NoIRC: true}},
		{"all", ablation{}},
	}
	for _, r := range rows {
		a, err := parseLosses(r.flag)
		require.NoError(t, err, r.flag)
		require.Equal(t, r.want, a, r.flag)
		require.Equal(t, r.flag, lossesName(a))
	}
	for mask := range 8 {
		a := ablation{NoMWB: mask&1 != 0, NoIRC: mask&2 != 0, NoBRO: mask&4 != 0}
		back, err := parseLosses(lossesName(a))
		require.NoError(t, err)
		require.Equal(t, a, back)
	}
	a, err := parseLosses(" BRO+mwb ")
	require.NoError(t, err)
	require.Equal(t, "mwb+bro", lossesName(a))
	for _, bad := range []string{"mwb+mwb", "l1", "mwb+", "+"} {
		_, err := parseLosses(bad)
		require.ErrorContains(t, err, "-losses", bad)
	}
}

// The flags set what they name on the training setup; the zero value is
// the preset's BaryIR; contradictions are errors naming the flag.
func TestAnalysisFlags(t *testing.T) {
	base := options{preset: "tiny", device: "cpu", precision: "fp32", lrStep: -1, beta: -1}
	plain, err := trainConfig(base)
	require.NoError(t, err)
	cases := []struct {
		name string
		edit func(*options)
		want func(*baryir.TrainConfig)
	}{
		{"defaults", func(*options) {}, func(*baryir.TrainConfig) {}},
		{"losses none", func(o *options) { o.analysis.losses = "none" },
			func(c *baryir.TrainConfig) { c.NoMWB, c.NoIRC, c.NoBRO = true, true, true }},
		{"embedding b", func(o *options) { o.analysis.embedding = "b" }, func(c *baryir.TrainConfig) { c.Net = withNet(c.Net, false, true) }},
		{"embedding s", func(o *options) { o.analysis.embedding = "s" }, func(c *baryir.TrainConfig) { c.Net = withNet(c.Net, true, true) }},
		{"embedding s+r", func(o *options) { o.analysis.embedding = "s+r" }, func(c *baryir.TrainConfig) { c.Net = withNet(c.Net, true, false) }},
		{"uniform weights", func(o *options) { o.analysis.weights = "uniform" }, func(c *baryir.TrainConfig) { c.Weights = ot.Uniform }},
		{"map vit", func(o *options) { o.analysis.mapArch = "vit" }, func(c *baryir.TrainConfig) {
			n := c.Net.(baryir.Config)
			n.Map = baryir.MapViT
			c.Net = n
		}},
	}
	for _, c := range cases {
		o := base
		c.edit(&o)
		got, err := trainConfig(o)
		require.NoError(t, err, c.name)
		want := plain
		c.want(&want)
		require.Equal(t, want, got, c.name)
	}

	for _, c := range []struct {
		edit func(*options)
		want string
	}{
		{func(o *options) { o.analysis.losses = "mwb+l1" }, "-losses"},
		{func(o *options) { o.analysis.embedding = "r" }, "-embedding"},
		{func(o *options) { o.analysis.weights = "equal" }, "-weights"},
		{func(o *options) { o.analysis.mapArch = "cnn" }, "-map"},
		{func(o *options) { o.analysis.embedding, o.analysis.features = "b", true }, "-feature-ablation with -embedding b"},
		{func(o *options) { o.baseline, o.analysis.losses = true, "mwb" }, "-losses mwb with -baseline"},
		{func(o *options) { o.baseline, o.analysis.embedding = true, "s" }, "-embedding s with -baseline"},
		{func(o *options) { o.baseline, o.analysis.mapArch = true, "mlp" }, "-map with -baseline"},
		{func(o *options) { o.baseline, o.analysis.features = true, true }, "-feature-ablation with -baseline"},
	} {
		o := base
		c.edit(&o)
		_, err := trainConfig(o)
		require.ErrorContains(t, err, c.want)
	}
}

func withNet(a baryir.Architecture, decodeSource, dropResidual bool) baryir.Config {
	n := a.(baryir.Config)
	n.DecodeSource, n.DropResidual = decodeSource, dropResidual
	return n
}

// A two-step run with the Tab. IX/X/XI flags records them in "setup"; one
// with -feature-ablation adds R1/R2/R3 per task, R3 the restored column of
// the table, and one picture per task.
func TestAnalysisRuns(t *testing.T) {
	out := t.TempDir()
	o := shortRun(out)
	o.beta = 0.1
	o.analysis = analysisOptions{losses: "mwb+irc", embedding: "s+r", weights: "uniform", mapArch: "mlp"}
	var stdout strings.Builder
	require.NoError(t, run(o, &stdout, io.Discard))
	var raw struct{ Setup map[string]any }
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &raw))
	require.Equal(t, map[string]any{"preset": "tiny", "tasks": "three", "seed": 3.0, "batch": 2.0, "patch": 16.0, "beta": 0.1,
		"losses": "mwb+irc", "embedding": "s+r", "weights": "uniform", "map": "mlp"}, raw.Setup)

	out = t.TempDir()
	o = shortRun(out)
	o.steps = 1
	o.analysis.features = true
	stdout.Reset()
	require.NoError(t, run(o, &stdout, io.Discard))
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	require.Equal(t, Setup{Preset: "tiny", Tasks: "three", Seed: 3, Batch: 2, Patch: 16, Beta: rep.Setup.Beta,
		Losses: "all", Embedding: "b+r", Weights: "proportional", Map: "transformer"}, rep.Setup)
	require.Len(t, rep.FeatureAblation, len(rep.Tasks))
	for i, row := range rep.FeatureAblation {
		require.Equal(t, rep.Tasks[i].Task, row.Task)
		require.Equal(t, rep.Tasks[i].RestoredPSNR, row.R3PSNR, "R3 is the full output")
		require.Equal(t, 1, row.Images)
		require.Positive(t, row.DiffWB, row.Task)
		require.Positive(t, row.DiffRes, row.Task)
		require.NotEqual(t, row.R3PSNR, row.R1PSNR, row.Task)
		pic, err := data.Load(filepath.Join(out, featurePicture(row.Task)))
		require.NoError(t, err)
		require.Greater(t, pic.W, 7*160, "seven 160-pixel columns")
	}

	var table strings.Builder
	printAnalyses(&table, rep.analysisReport)
	require.Contains(t, table.String(), "setup: losses all, decoder fed b+r, weights proportional, map transformer, batch 2")
	require.Contains(t, table.String(), "R1 (b = 0)")
	require.Equal(t, len(rep.Tasks)+5, strings.Count(table.String(), "\n"), "a line per task")

	o.baseline, o.analysis.features, o.overwrite = true, false, true
	stdout.Reset()
	require.NoError(t, run(o, &stdout, io.Discard))
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &raw))
	require.Equal(t, map[string]any{"preset": "tiny", "tasks": "three", "seed": 3.0, "batch": 2.0, "patch": 16.0, "beta": rep.Setup.Beta,
		"losses": "", "embedding": "", "weights": "", "map": ""}, raw.Setup)
	_, err := os.Stat(filepath.Join(out, "results.json"))
	require.NoError(t, err)
}

// The difference maps share one scale, white at the larger map's maximum,
// and their means are the mean absolute differences.
func TestDifferenceMaps(t *testing.T) {
	full, a, b := data.NewImage("full", 1, 2), data.NewImage("a", 1, 2), data.NewImage("b", 1, 2)
	// channel-major: pixel p of channel c at c*2+p
	a.Pix = []float32{0.3, 0, 0.3, 0, 0.3, 0} // pixel 0 differs by 0.3 in every channel
	b.Pix = []float32{0, 0.6, 0, 0, 0, 0}     // pixel 1 differs by 0.6 in one channel
	maps, means, white, err := differenceMaps(full, a, b)
	require.NoError(t, err)
	require.InDelta(t, 0.3, white, 1e-6)
	require.InDelta(t, 0.15, means[0], 1e-6)
	require.InDelta(t, 0.1, means[1], 1e-6)
	require.InDeltaSlice(t, []float32{1, 0, 1, 0, 1, 0}, maps[0].Pix, 1e-6)
	require.InDeltaSlice(t, []float32{0, 2.0 / 3, 0, 2.0 / 3, 0, 2.0 / 3}, maps[1].Pix, 1e-6)
	_, _, _, err = differenceMaps(full, data.NewImage("small", 1, 1), b)
	require.ErrorContains(t, err, "small is 1x1")
}

// Whatever -losses is given, parseLosses either names the problem or
// returns an Ablation whose canonical name reads back to it.
func FuzzParseLosses(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseLosses(s)
		if err != nil {
			require.ErrorContains(t, err, "-losses")
			return
		}
		back, err := parseLosses(lossesName(a))
		require.NoError(t, err)
		require.Equal(t, a, back)
	})
}
