package main

import (
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
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
	for _, f := range []string{"grid.png", "grid_all.png", "loss_curve.png", "train.jsonl", "checkpoint.safetensors", "weights.safetensors", "results.json"} {
		st, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
		require.Positive(t, st.Size(), f)
	}
	// grid.png: a title, column titles and row labels round five rows of
	// three 128-pixel pictures; grid_all.png the same rows here (one photo
	// per task with -eval-images 1)
	grid, err := data.Load(filepath.Join(out, "grid.png"))
	require.NoError(t, err)
	require.Greater(t, grid.W, 3*128+60, "three pictures and the row labels")
	require.Greater(t, grid.H, 5*128+5*30, "five rows with two-line captions")
	all, err := data.Load(filepath.Join(out, "grid_all.png"))
	require.NoError(t, err)
	require.Equal(t, [2]int{grid.H, grid.W}, [2]int{all.H, all.W})
	curve, err := data.Load(filepath.Join(out, "loss_curve.png"))
	require.NoError(t, err)
	require.Equal(t, [2]int{614, 768}, [2]int{curve.H, curve.W}, "two panels: the losses and the potential term")

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

// A -baseline run, then a BaryIR run that restores with its weights too:
// the table and the grids gain a baseline column.
func TestBaselineRuns(t *testing.T) {
	baseOut := t.TempDir()
	o := shortRun(baseOut)
	o.baseline, o.steps = true, 1
	var stdout strings.Builder
	require.NoError(t, run(o, &stdout, io.Discard))
	require.Contains(t, stdout.String(), `"network": "restormer"`)

	out := t.TempDir()
	o = shortRun(out)
	o.steps, o.baselineWeights = 1, filepath.Join(baseOut, "weights.safetensors")
	stdout.Reset()
	require.NoError(t, run(o, &stdout, io.Discard))
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	for _, task := range rep.Tasks {
		require.Greater(t, task.BaselinePSNR, 5.0, task.Task)
		require.Greater(t, task.BaselineSSIM, 0.0, task.Task)
	}
	withBase, err := data.Load(filepath.Join(out, "grid.png"))
	require.NoError(t, err)
	without, err := data.Load(filepath.Join(baseOut, "grid.png"))
	require.NoError(t, err)
	require.Greater(t, withBase.W, without.W+128, "one more 128-pixel column")
	require.Equal(t, withBase.H, without.H)

	o.baselineWeights = filepath.Join(out, "missing.safetensors")
	o.overwrite = true // the same -out again
	require.ErrorContains(t, run(o, io.Discard, io.Discard), "-baseline-weights")
}

func TestPhotoGrid(t *testing.T) {
	deg, clean := data.EmbeddedEval(data.Noise25, 1)
	ph := photo{deg: data.Noise25, degraded: deg[0], restored: clean[0], clean: clean[0], scores: [3]score{{20.5, 0.4}, {31.25, 0.9}}}
	g := photoGrid("t", "BaryIR", []photo{ph, ph})
	require.Equal(t, []string{"degraded", "BaryIR", "clean"}, g.Columns)
	require.Equal(t, "noise σ=25\nbliznaca_0", g.Rows[0])
	require.Equal(t, "PSNR 31.25 dB\nSSIM 0.900", g.Tiles[0][1].Caption)
	require.Empty(t, g.Tiles[0][2].Caption, "no score under the clean photo")

	ph.baseline = clean[0]
	g = photoGrid("t", "BaryIR", []photo{ph})
	require.Equal(t, []string{"degraded", "BaryIR", "baseline", "clean"}, g.Columns)
	require.Len(t, g.Tiles[0], 4)
	_, err := g.Render()
	require.NoError(t, err)
}

func TestLabels(t *testing.T) {
	for _, tt := range []struct {
		d    data.Degradation
		want string
	}{{data.Noise15, "noise σ=15"}, {data.Rain, "rain"}, {data.Haze, "haze"}} {
		require.Equal(t, tt.want, taskLabel(tt.d))
	}
	require.Equal(t, "chelsea_0", photoName("embedded/test/chelsea_0.png+noise25"))
	require.Equal(t, "rain-001", photoName("/data/Rain100L/rain-001.png"))
}

// -backbone promptir trains BaryIR on PromptIR, and with -baseline
// PromptIR alone; each restores through its weights read back.
func TestPromptIRBackbone(t *testing.T) {
	for _, c := range []struct {
		baseline bool
		want     string
	}{{false, `"network": "barynet+promptir"`}, {true, `"network": "promptir"`}} {
		o := shortRun(t.TempDir())
		o.backbone, o.baseline, o.steps = "promptir", c.baseline, 1
		var stdout strings.Builder
		require.NoError(t, run(o, &stdout, io.Discard))
		require.Contains(t, stdout.String(), c.want)
	}
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
		{"backbone", `-backbone "unet": want restormer or promptir`, func(o *options) { o.backbone = "unet" }},
		{"ablate promptir", "-ablate-residual runs on -backbone restormer only", func(o *options) {
			o.backbone, o.extra.ablate = "promptir", true
		}},
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

// -ood, -latents and -ablate-residual on a two-step run: the JSON gains the
// "ood" rows (every default unseen condition), the ablation rows and the
// latent numbers, and the pictures are written.
func TestStudyFlags(t *testing.T) {
	out := t.TempDir()
	o := shortRun(out)
	o.extra = extraOptions{ood: true, latents: true, ablate: true, latentPatch: 80}
	var stdout strings.Builder
	require.NoError(t, run(o, &stdout, io.Discard))
	var raw struct {
		OOD      []map[string]any
		Ablation []map[string]any
		Latents  struct {
			Classes []string
			Spaces  []map[string]any
		}
	}
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &raw))
	require.Len(t, raw.OOD, len(unseenConditions()))
	require.GreaterOrEqual(t, len(raw.OOD), 7)
	for _, row := range raw.OOD {
		for _, k := range []string{"task", "degraded_psnr", "degraded_ssim", "restored_psnr", "restored_ssim", "ablated_psnr"} {
			require.Contains(t, row, k)
		}
	}
	require.Equal(t, "noise:60", raw.OOD[0]["task"])
	require.Len(t, raw.Ablation, 5)
	require.Equal(t, []string{"denoise", "derain", "dehaze"}, raw.Latents.Classes)
	require.Len(t, raw.Latents.Spaces, 3)
	for _, k := range []string{"probe_accuracy", "shuffled_accuracy", "w2_mean"} {
		require.Contains(t, raw.Latents.Spaces[1], k)
	}
	for _, f := range []string{"ood_grid.png", "latents.png"} {
		st, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
		require.Positive(t, st.Size(), f)
	}
}

// -tasks five trains five sources and evaluates the five tasks' seven
// degradations; bad study flags are errors naming the flag.
func TestFiveTasks(t *testing.T) {
	o := shortRun(t.TempDir())
	o.steps = 1
	o.extra.tasks = "five"
	var stdout strings.Builder
	require.NoError(t, run(o, &stdout, io.Discard))
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	var names []string
	for _, task := range rep.Tasks {
		names = append(names, task.Task)
	}
	require.Equal(t, []string{"noise15", "noise25", "noise50", "rain", "haze", "blur", "lowlight"}, names)

	for _, c := range []struct {
		edit func(*extraOptions)
		want string
	}{
		{func(e *extraOptions) { e.tasks = "four" }, "-tasks"},
		{func(e *extraOptions) { e.conditions = "noise:60;snow:1" }, "-ood-conditions"},
		{func(e *extraOptions) { e.latentPatch = 12 }, "-latent-patch"},
		{func(e *extraOptions) { e.gopro = "x" }, "need -tasks five"},
		{func(e *extraOptions) { e.lol = "x" }, "-lol and -lol-high come together"},
	} {
		o := shortRun(t.TempDir())
		c.edit(&o.extra)
		require.ErrorContains(t, run(o, io.Discard, io.Discard), c.want)
	}
	var p pairsFlag
	require.ErrorContains(t, p.Set("rain100h"), "name=degraded_dir:clean_dir")
	require.NoError(t, p.Set("rain100h=/a:/b"))
	require.Equal(t, "rain100h=/a:/b", p.String())
}

// -ood-clean and -ood-pairs: clean photos of one's own, degraded by the
// conditions, and a stored benchmark, each a row of "ood".
func TestOODFolders(t *testing.T) {
	dir := t.TempDir()
	clean, hazy, gt := filepath.Join(dir, "clean"), filepath.Join(dir, "hazy"), filepath.Join(dir, "gt")
	for _, d := range []string{clean, hazy, gt} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	im := data.EmbeddedTest()[3]
	require.NoError(t, data.Save(filepath.Join(clean, "a.png"), im))
	require.NoError(t, data.Save(filepath.Join(gt, "01_outdoor_GT.png"), im))
	hz, err := data.HazeSpec(2).Apply(im, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	require.NoError(t, data.Save(filepath.Join(hazy, "01_outdoor_hazy.png"), hz))

	o := shortRun(filepath.Join(dir, "out"))
	o.steps = 1
	o.extra = extraOptions{ood: true, conditions: "jpeg:10", oodClean: clean}
	require.NoError(t, o.extra.oodPairs.Set("ohaze="+hazy+":"+gt))
	var stdout strings.Builder
	require.NoError(t, run(o, &stdout, io.Discard))
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	require.Len(t, rep.OOD, 2)
	require.Equal(t, "jpeg:10", rep.OOD[0].Task)
	require.Equal(t, "ohaze", rep.OOD[1].Task)
	want, err := data.PSNR(im, hz)
	require.NoError(t, err)
	require.InDelta(t, want, float64(rep.OOD[1].DegradedPSNR), 1e-9)
	require.Equal(t, 1, rep.OOD[1].Images)

	o.extra.oodPairs = nil
	require.NoError(t, o.extra.oodPairs.Set("bad="+hazy+":"+clean))
	o.overwrite = true // the same -out again
	require.ErrorContains(t, run(o, io.Discard, io.Discard), "-ood-pairs bad")
}

// layouts holds miniature copies of the benchmarks as distributed
// (data/testdata/layouts/gen_layouts.go).
const layouts = "../../data/testdata/layouts"

func layout(p string) string { return filepath.Join(layouts, p) }

// The README's flags on every benchmark as distributed: the authors'
// training layout through their lists, the five tasks' test sets and the
// paper's unseen benchmarks. Each set is paired, counted before training
// and evaluated on all its images.
func TestDatasetsAsDistributed(t *testing.T) {
	out := t.TempDir()
	o := shortRun(out)
	o.steps, o.evalImages = 1, 0
	o.train = layout("Train")
	require.NoError(t, o.trainLists.Set(layout("data_dir")))
	o.bsd68 = layout("BSD68")
	o.rainyDir, o.rainCleanDir = layout("Rain100L/input"), layout("Rain100L/target")
	o.hazyDir, o.clearDir = layout("SOTS/outdoor/hazy"), layout("SOTS/outdoor/gt")
	o.extra = extraOptions{tasks: "five", ood: true, conditions: "jpeg:10", oodClean: layout("CBSD68/original_png"),
		gopro: layout("GOPRO_Large/test"), lol: layout("LOLdataset/eval15/low"), lolGT: layout("LOLdataset/eval15/high")}
	ood := []string{
		"rain100h=" + layout("Rain100H/rainy") + ":" + layout("Rain100H"),
		"rain100l-pku=" + layout("rain_data_test_Light/rain/X2") + ":" + layout("rain_data_test_Light/norain"),
		"spanet=" + layout("real_test_1000/rain") + ":" + layout("real_test_1000/gt"),
		"ohaze=" + layout("O-HAZE/hazy") + ":" + layout("O-HAZE/GT"),
		"lolv2=" + layout("LOL-v2/Real_captured/Test/Low") + ":" + layout("LOL-v2/Real_captured/Test/Normal"),
		"uieb=" + layout("UIEB/raw-890") + ":" + layout("UIEB/reference-890"),
		"bsd500-jpeg10=" + layout("JPEG/bsds500/color/qf_10") + ":" + layout("JPEG/bsds500/refimgs"),
		"cdd11=" + layout("CDD-11_test/low_haze") + ":" + layout("CDD-11_test/clear"),
	}
	for _, p := range ood {
		require.NoError(t, o.extra.oodPairs.Set(p))
	}
	var stdout, stderr strings.Builder
	require.NoError(t, run(o, &stdout, &stderr))
	log := stderr.String()
	for _, line := range []string{
		"recipe: patch 16 (-patch), batch 2 (-batch)",
		"denoise from " + layout("data_dir/noisy/denoise.txt"),
		"dehaze from " + layout("data_dir/hazy/hazy_outside.txt"),
		"test noise25: 2 images from -bsd68 " + layout("BSD68"),
		"test rain: 2 images from -rain100l " + layout("Rain100L/input") + " and -rain100l-clean " + layout("Rain100L/target"),
		"test blur: 3 images from -gopro " + layout("GOPRO_Large/test"),
		"test lowlight: 2 images from -lol",
		"ood conditions: 2 clean images from -ood-clean",
		"ood rain100h: 2 images from -ood-pairs rain100h " + layout("Rain100H/rainy"),
	} {
		require.Contains(t, log, line)
	}
	require.Less(t, strings.Index(log, "test blur:"), strings.Index(log, "evaluated"), "counted before training")
	// with the lists, two images of each source: denoise 2x3 levels x5, derain 2x360, dehaze 2x1
	require.Contains(t, log, "sources, samples per epoch: denoise 30 (weight ")
	require.Contains(t, log, "derain 720 (weight ")
	require.Contains(t, log, "dehaze 2 (weight ")

	var rep Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	images := map[string]int{}
	for _, task := range rep.Tasks {
		images[task.Task] = task.Images
	}
	require.Equal(t, map[string]int{"noise15": 2, "noise25": 2, "noise50": 2, "rain": 2, "haze": 2, "blur": 3, "lowlight": 2}, images)
	require.Len(t, rep.OOD, 1+len(ood))
	for _, row := range rep.OOD {
		require.Equal(t, 2, row.Images, row.Task)
		require.False(t, math.IsInf(float64(row.DegradedPSNR), 0), "%s: a degraded image paired with itself", row.Task)
	}
}

// A pair of identical images scores +Inf: the run still writes its
// results, with "+Inf" where the figure is, and keeps the other figures.
// A failure after the in-distribution tasks keeps their rows in
// results.json.
func TestResultsNeverLost(t *testing.T) {
	dir := t.TempDir()
	im := data.EmbeddedTest()[0]
	for _, p := range []string{"same/in/x.png", "same/gt/x.png", "broken/in/y.png", "broken/gt/y.png"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
	}
	require.NoError(t, data.Save(filepath.Join(dir, "same/in/x.png"), im))
	require.NoError(t, data.Save(filepath.Join(dir, "same/gt/x.png"), im)) // a copy, not the same file
	for _, p := range []string{"broken/in/y.png", "broken/gt/y.png"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte("not a PNG"), 0o644))
	}
	out := filepath.Join(dir, "out")
	o := shortRun(out)
	o.steps = 1
	o.extra = extraOptions{ood: true, conditions: "jpeg:10"}
	require.NoError(t, o.extra.oodPairs.Set("copies="+filepath.Join(dir, "same/in")+":"+filepath.Join(dir, "same/gt")))
	var stdout strings.Builder
	require.NoError(t, run(o, &stdout, io.Discard))
	require.Contains(t, stdout.String(), `"degraded_psnr": "+Inf"`)
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	require.True(t, math.IsInf(float64(rep.OOD[1].DegradedPSNR), 1))
	require.Greater(t, float64(rep.OOD[1].RestoredPSNR), 5.0)
	require.Len(t, rep.Tasks, 5)

	require.NoError(t, o.extra.oodPairs.Set("broken="+filepath.Join(dir, "broken/in")+":"+filepath.Join(dir, "broken/gt")))
	o.overwrite = true
	err := run(o, io.Discard, io.Discard)
	require.ErrorContains(t, err, "broken test set")
	js, err := os.ReadFile(filepath.Join(out, "results.json"))
	require.NoError(t, err)
	var kept Report
	require.NoError(t, json.Unmarshal(js, &kept))
	require.Len(t, kept.Tasks, 5, "the in-distribution table survives")
	require.Len(t, kept.OOD, 2, "and the unseen rows before the failure")
}

// Wrong test folders stop the run before its first step, naming the flag
// and what to pass.
func TestTestFoldersCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		edit func(*options)
		want []string
	}{
		{"sots without its clear folder", func(o *options) { o.hazyDir = layout("SOTS/outdoor/hazy") }, []string{"-sots needs -sots-clear"}},
		{"missing sots-clear", func(o *options) {
			o.hazyDir, o.clearDir = layout("SOTS/outdoor/hazy"), filepath.Join(dir, "nowhere")
		}, []string{"-sots-clear " + filepath.Join(dir, "nowhere") + ": no such folder"}},
		{"rainy folder without clean images", func(o *options) { o.rainyDir = layout("Rain100H/rainy") }, []string{"-rain100l", "no clean image for", "norain-001.*"}},
		{"CBSD68 root", func(o *options) { o.bsd68 = layout("CBSD68") }, []string{"-bsd68", "pass " + layout("CBSD68/original_png")}},
		{"GoPro root as a blur folder", func(o *options) {
			o.extra.tasks, o.extra.gopro, o.extra.goproGT = "five", layout("GOPRO_Large/test"), layout("GOPRO_Large/test")
		}, []string{"-gopro", "GoProPairs"}},
		{"GoPro with both splits", func(o *options) { o.extra.tasks, o.extra.gopro = "five", layout("GOPRO_Large") }, []string{"-gopro", "pass " + layout("GOPRO_Large/test")}},
		{"bad ood pairs", func(o *options) {
			o.extra.ood = true
			require.NoError(t, o.extra.oodPairs.Set("lol="+layout("LOLdataset/eval15")+":"+layout("LOLdataset/eval15")))
		}, []string{"-ood-pairs lol", "not a folder holding both"}},
		{"ood pairs without -ood", func(o *options) {
			require.NoError(t, o.extra.oodPairs.Set("x="+layout("UIEB/raw-890")+":"+layout("UIEB/reference-890")))
		}, []string{"-ood"}},
		{"list without -train", func(o *options) { require.NoError(t, o.trainLists.Set(layout("data_dir"))) }, []string{"-train-list needs -train"}},
		{"list folder without lists", func(o *options) {
			o.train = layout("Train")
			require.NoError(t, o.trainLists.Set(layout("UIEB")))
		}, []string{"-train-list", "none of the authors' lists"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			o := shortRun(out)
			c.edit(&o)
			err := run(o, io.Discard, io.Discard)
			for _, w := range c.want {
				require.ErrorContains(t, err, w)
			}
			_, err = os.Stat(filepath.Join(out, "train.jsonl"))
			require.True(t, os.IsNotExist(err), "refused before training")
		})
	}
}

// The paper presets train on the paper's 128-pixel patches, 8 a batch,
// unless -patch or -batch say otherwise; the startup line says which.
func TestPresetRecipe(t *testing.T) {
	cases := []struct {
		preset       string
		patch, batch int
		want         string
	}{
		{"tiny", 0, 0, "recipe: patch 64 (-preset tiny's), batch 4 (-preset tiny's)"},
		{"paper", 0, 0, "recipe: patch 128 (-preset paper's), batch 8 (-preset paper's)"},
		{"authors", 0, 3, "recipe: patch 128 (-preset authors's), batch 3 (-batch)"},
		{"paper", 64, 0, "recipe: patch 64 (-patch), batch 8 (-preset paper's)"},
	}
	for _, c := range cases {
		o := options{preset: c.preset, patch: c.patch, batch: c.batch, device: "cpu", precision: "fp32", lrStep: -1, beta: -1}
		cfg, err := trainConfig(o)
		require.NoError(t, err)
		require.Equal(t, c.want, recipeLine(o, cfg))
	}
}
