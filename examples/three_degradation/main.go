// Command three_degradation trains BaryIR on three degradations (Gaussian
// noise at sigma 15, 25 and 50, rain, haze) and evaluates it per task.
//
//	go run ./examples/three_degradation
//
// With no flags it trains the Tiny preset on the photos embedded in package
// data, then restores the held-out embedded photos and prints, per task, the
// PSNR/SSIM of the degraded input and of the restored output. It writes
// labelled picture grids (degraded | restored | clean with PSNR/SSIM under
// each): grid.png with the first test photo of each task, grid_all.png with
// every one; the loss curve; a JSONL log, a checkpoint and the final weights
// (for examples/restore) under -out. -baseline trains the plain Restormer
// instead; -baseline-weights out/baseline/weights.safetensors, from such a
// run, adds its restorations as a baseline column. -backbone promptir
// attaches BaryIR to PromptIR instead of the Restormer (with -baseline,
// PromptIR alone), the preset sizing its Restormer part.
// Point -train at the authors' data/Train folder (-train-list at their
// data_dir to train on their file lists) and -bsd68, -rain100l, -sots at
// the benchmarks to train and evaluate on the real data; the README's
// Datasets section names each set's folders as distributed. Every folder
// is paired, and its pairs counted, before the first step; results.json is
// rewritten as each evaluation finishes. -device gpu
// trains and restores on an NVIDIA GPU (a binary built with -tags baryirgpu;
// see baryir.DeviceGPU).
//
// Started by mpirun (a binary built with -tags baryirmpi), it trains data
// parallel: each rank draws its own shard of -batch patches per step, the
// gradients are averaged over the ranks, and rank 0 alone writes and
// evaluates:
//
//	go build -tags baryirmpi -o three_degradation ./examples/three_degradation
//	mpirun -np 2 ./three_degradation -steps 300
//
// -tasks five trains on five degradations instead (adding motion/defocus
// blur and low light: the authors' five-source setting; -gopro and -lol
// evaluate on those benchmarks). -ood also evaluates unseen degradations
// (severe noise, JPEG, heavy rain, blur, low light, mixtures; see
// unseenConditions) and writes ood_grid.png; -latents measures and
// draws the latent space (latents.png); -ablate-residual adds restorations
// with the residual latent zeroed. See unseen.go.
//
// The paper's ablations (Sec. 5.5) are flags too: -losses (the terms that
// train the barycenter map) and -embedding (what the decoder is fed), the
// rows of Tab. IX; -weights (Tab. X); -map (Tab. XI); -batch and -beta
// (Figs. 10 and 12); -feature-ablation, the test-time ablation of Fig. 9.
// results.json records each run's setup. scripts/study.sh runs them all,
// and examples/study_tables makes its tables. See analyses.go.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/ot"
)

// options are the command's flags.
type options struct {
	preset, optimizer, device string
	backbone                  string
	precision                 string
	train, bsd68, rainyDir    string
	rainCleanDir, hazyDir     string
	trainLists                listsFlag
	clearDir, out, resume     string
	baselineWeights           string
	steps, epochs, patch      int
	batch, evalImages, lrStep int
	lr, potLR, sigma, beta    float64
	seed                      uint64
	asJSON, baseline          bool
	extra                     extraOptions    // unseen.go
	analysis                  analysisOptions // analyses.go
	overwrite                 bool
	maxPixels                 int
}

func main() {
	var o options
	flag.StringVar(&o.preset, "preset", "tiny", "network size: tiny, paper or authors (paper/authors also switch to the paper's training recipe)")
	flag.StringVar(&o.train, "train", "", "the authors' data/Train folder (default: the embedded photos)")
	flag.Var(&o.trainLists, "train-list", "the authors' data_dir (their noisy/denoise.txt, rainy/rainTrain.txt, hazy/hazy_outside.txt), or source=list.txt (repeatable): train only on the images the lists name (see data.TrainLayout)")
	flag.StringVar(&o.bsd68, "bsd68", "", "folder of clean BSD68 test images (noise is added per sigma): CBSD68/original_png, or DnCNN's testsets/BSD68")
	flag.StringVar(&o.rainyDir, "rain100l", "", "Rain100L test folder of rainy images (Rain100L/input; or the folder holding rain-* beside norain-*)")
	flag.StringVar(&o.rainCleanDir, "rain100l-clean", "", "Rain100L clean images (Rain100L/target; default: the -rain100l folder)")
	flag.StringVar(&o.hazyDir, "sots", "", "SOTS outdoor folder of hazy images (SOTS/outdoor/hazy)")
	flag.StringVar(&o.clearDir, "sots-clear", "", "SOTS outdoor clear images (SOTS/outdoor/gt)")
	flag.IntVar(&o.steps, "steps", 1500, "training steps (each: one network step, one potentials step)")
	flag.IntVar(&o.epochs, "epochs", 0, "train for this many epochs instead of -steps")
	flag.IntVar(&o.patch, "patch", 0, "training patch side, a multiple of 8 (default: the preset's: 64 for tiny, the paper's 128 otherwise)")
	flag.IntVar(&o.batch, "batch", 0, "patches per step (default: the preset's: 4 for tiny, the paper's 8 otherwise)")
	flag.StringVar(&o.optimizer, "optimizer", "", "adam or rmsprop (default: adam for tiny, the paper's rmsprop otherwise)")
	flag.Float64Var(&o.lr, "lr", 0, "base learning rate (default: 4e-3 for tiny with adam, the paper's 2e-4 otherwise)")
	flag.Float64Var(&o.potLR, "pot-lr", 0, "base learning rate of the potentials (default: the preset's)")
	flag.Float64Var(&o.sigma, "sigma", 0, "weight of the L1 restoration loss (default: the preset's)")
	flag.Float64Var(&o.beta, "beta", -1, "weight of IRC + BRO (default: the preset's)")
	flag.IntVar(&o.lrStep, "lr-step", -1, "divide the learning rate by 10 every this many epochs (0: never; default: the preset's)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed for weights, batches and test degradations")
	flag.StringVar(&o.out, "out", "out/three_degradation", "output folder")
	flag.StringVar(&o.resume, "resume", "", "checkpoint to resume from (same flags as the run that wrote it)")
	flag.IntVar(&o.maxPixels, "max-pixels", data.DefaultMaxPixels, "largest image (height x width) read from -train and the test folders")
	flag.BoolVar(&o.overwrite, "overwrite", false, "start over in an -out folder that holds a checkpoint (a fresh run refuses to otherwise)")
	flag.BoolVar(&o.asJSON, "json", false, "print the results table as JSON")
	flag.BoolVar(&o.baseline, "baseline", false, "train the plain Restormer with the same budget (the paper's Tab. IX baseline)")
	flag.StringVar(&o.backbone, "backbone", "restormer", "network BaryIR attaches to: restormer, or promptir (PromptIR with the authors' prompts; with -baseline, PromptIR without BaryIR)")
	flag.StringVar(&o.baselineWeights, "baseline-weights", "", "weights of an earlier -baseline run: restore with them too and add a baseline column to the grids")
	flag.IntVar(&o.evalImages, "eval-images", 0, "evaluate on at most this many images per task (0: all)")
	flag.StringVar(&o.device, "device", "cpu", "cpu or gpu (gpu needs a build with -tags baryirgpu)")
	flag.StringVar(&o.precision, "precision", "fp32", "fp32, or tf32 or bf16 for the GPU's matrix products and convolutions (training and evaluation; needs cuBLASLt)")
	o.extra.register(flag.CommandLine)
	o.analysis.register(flag.CommandLine)
	flag.Parse()
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "three_degradation:", err)
		os.Exit(1)
	}
}

// Task is one row of the results table.
// A non-finite figure (PSNR of an image equal to its target) is written as
// the string "+Inf" or "NaN" (see data.Metric).
type Task struct {
	Task         string      `json:"task"`
	DegradedPSNR data.Metric `json:"degraded_psnr"`
	DegradedSSIM data.Metric `json:"degraded_ssim"`
	RestoredPSNR data.Metric `json:"restored_psnr"`
	RestoredSSIM data.Metric `json:"restored_ssim"`
	BaselinePSNR data.Metric `json:"baseline_psnr,omitempty"` // with -baseline-weights
	BaselineSSIM data.Metric `json:"baseline_ssim,omitempty"`
	Images       int         `json:"images"`
}

// Report is what -json prints, and results.json holds: rewritten as each
// evaluation finishes, so a run that fails late keeps what came before.
type Report struct {
	Network        string  `json:"network"`
	Steps          int     `json:"steps"`
	TrainSeconds   float64 `json:"train_seconds"`
	Tasks          []Task  `json:"tasks"`
	extraReport            // unseen.go: "ood", "ablation", "latents"
	analysisReport         // analyses.go: "setup", "feature_ablation"
}

// restorerOptions are the restorers' options: the run's device and precision.
func (o options) restorerOptions() (baryir.RestorerOptions, error) {
	p, err := baryir.ParsePrecision(o.precision)
	if err != nil {
		return baryir.RestorerOptions{}, fmt.Errorf("-precision: %w", err)
	}
	return baryir.RestorerOptions{Device: baryir.Device(o.device), Precision: p}, nil
}

func run(o options, stdout, stderr io.Writer) error {
	if _, err := baryir.ParseDevice(o.device); err != nil {
		return fmt.Errorf("-device: %w", err)
	}
	if baryir.Device(o.device) == baryir.DeviceGPU && !baryir.GPUAvailable {
		return fmt.Errorf("-device gpu: %w", baryir.ErrNoGPU)
	}
	cfg, err := trainConfig(o)
	if err != nil {
		return err
	}
	comm, err := baryir.JoinJob(cfg.Device == baryir.DeviceGPU)
	if err != nil {
		return err
	}
	defer comm.Close()
	cfg.Comm = comm
	if err := o.extra.validate(); err != nil {
		return err
	}
	sources, err := trainSources(o)
	if err != nil {
		return err
	}
	// Every test folder is paired now, before the first step, and no
	// output may overwrite an input.
	sets, err := testSets(o)
	if err != nil {
		return err
	}
	study, err := o.extra.prepare(o, sets)
	if err != nil {
		return err
	}
	if err := guardOutputs(o); err != nil {
		return err
	}
	sampler, err := data.NewSampler(sources, cfg.Patch, cfg.Seed, data.Shard(comm.Rank(), comm.Size()))
	if err != nil {
		return err
	}
	sampler.Loader = data.Loader{MaxPixels: o.maxPixels}
	steps := o.steps
	if o.epochs > 0 {
		total := 0
		for _, n := range sampler.Counts() {
			total += n
		}
		perStep := cfg.Batch * comm.Size()
		steps = (o.epochs*total + perStep - 1) / perStep
	}
	if steps < 1 {
		return fmt.Errorf("-steps %d: need at least one step", steps)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	tr, err := baryir.NewTrainer(cfg, sampler)
	if err != nil {
		return err
	}
	defer tr.Close()
	if o.resume != "" {
		if err := tr.Resume(o.resume); err != nil {
			return err
		}
	}
	if comm.Rank() != 0 {
		stderr = io.Discard
	}
	fmt.Fprintf(stderr, "training %s for %d steps", tr, steps)
	if comm.Size() > 1 {
		fmt.Fprintf(stderr, " on %d ranks (%d patches per step in all)", comm.Size(), cfg.Batch*comm.Size())
	}
	fmt.Fprintln(stderr)
	fmt.Fprintln(stderr, recipeLine(o, cfg))
	weights, err := ot.Weights(sampler.Counts(), cfg.Weights) // the w_k the trainer weighs the sources by
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, sourcesLine(o, sampler, weights))
	for _, s := range sets {
		fmt.Fprintln(stderr, s.describe("test"))
	}
	study.describe(stderr)
	start := time.Now()
	_, err = tr.Run(baryir.RunOptions{
		Steps: steps, Progress: stderr,
		LogPath:        filepath.Join(o.out, "train.jsonl"),
		CheckpointPath: filepath.Join(o.out, "checkpoint.safetensors"), CheckpointEvery: 100,
		CurvePath: filepath.Join(o.out, "loss_curve.png"), Overwrite: o.overwrite,
	})
	if err != nil {
		return err
	}
	trainTime := time.Since(start)
	if comm.Rank() != 0 {
		return nil // rank 0 holds the same weights, and writes and evaluates them
	}
	sd, err := tr.StateDict()
	if err != nil {
		return err
	}
	if err := baryir.WriteWeights(filepath.Join(o.out, "weights.safetensors"), sd); err != nil {
		return err
	}
	ropts, err := o.restorerOptions()
	if err != nil {
		return err
	}
	restorer, err := baryir.NewRestorer(cfg.Net, sd, ropts)
	if err != nil {
		return err
	}
	defer restorer.Close()
	var base *baryir.Restorer
	if o.baselineWeights != "" {
		if base, err = baryir.OpenRestorer(o.baselineWeights, ropts); err != nil {
			return fmt.Errorf("-baseline-weights: %w", err)
		}
		defer base.Close()
	}
	net, network, name := restormerPart(cfg.Net)
	rep := Report{Network: name, Steps: steps, TrainSeconds: trainTime.Seconds()}
	rep.Setup = setupOf(o, cfg)
	save := func() error { return saveReport(filepath.Join(o.out, "results.json"), rep) }
	photos, err := evaluate(o, sets, restorer, base, stderr, func(t Task) error {
		rep.Tasks = append(rep.Tasks, t)
		return save()
	})
	if err != nil {
		return err
	}
	if err := writeGrids(o.out, network, photos, stderr); err != nil {
		return err
	}
	if err := runExtras(o, study, net, sd, restorer, stderr, &rep.extraReport, save); err != nil {
		return err
	}
	if err := runFeatureAblation(o, sets, net, sd, restorer, stderr, &rep.analysisReport, save); err != nil {
		return err
	}
	if err := save(); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if o.asJSON {
		_, err = fmt.Fprintln(stdout, string(js))
		return err
	}
	printTable(stdout, rep)
	printExtras(stdout, rep.extraReport)
	printAnalyses(stdout, rep.analysisReport)
	return nil
}

// saveReport writes rep to path atomically.
func saveReport(path string, rep Report) error {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return data.WriteFileAtomic(path, js)
}

// recipeLine says where the patch side and batch size came from.
func recipeLine(o options, cfg baryir.TrainConfig) string {
	from := func(given int, flag string) string {
		if given > 0 {
			return flag
		}
		return "-preset " + o.preset + "'s"
	}
	return fmt.Sprintf("recipe: patch %d (%s), batch %d (%s)", cfg.Patch, from(o.patch, "-patch"), cfg.Batch, from(o.batch, "-batch"))
}

// sourcesLine gives each training source's samples per epoch and
// barycenter weight, and the lists it was read through.
func sourcesLine(o options, s *data.Sampler, weights []float64) string {
	var parts []string
	for i, name := range s.SourceNames() {
		p := fmt.Sprintf("%s %d", name, s.Counts()[i])
		if i < len(weights) {
			p += fmt.Sprintf(" (weight %.3f)", weights[i])
		}
		parts = append(parts, p)
	}
	line := "sources, samples per epoch: " + strings.Join(parts, ", ")
	switch {
	case o.train == "":
		return line + "; the embedded photos"
	case len(o.trainLists) == 0:
		return line + "; every image in the -train folders (no -train-list)"
	}
	lists, _ := o.trainLists.resolve()
	var named []string
	for _, name := range s.SourceNames() {
		if l, ok := lists[name]; ok {
			named = append(named, name+" from "+l)
		}
	}
	return line + "; " + strings.Join(named, ", ")
}

// restormerPart is the Config of the network's Restormer part (PromptIR's
// Net), with the network's names in grids and in results.json.
func restormerPart(arch baryir.Architecture) (net baryir.Config, grid, report string) {
	if p, ok := arch.(baryir.PromptIR); ok {
		if p.Net.Map != baryir.MapNone {
			return p.Net, "BaryIR on PromptIR", "barynet+promptir"
		}
		return p.Net, "PromptIR", "promptir"
	}
	net = arch.(baryir.Config) // the presets are Configs
	if net.Map != baryir.MapNone {
		return net, "BaryIR", "barynet"
	}
	return net, "Restormer", "restormer"
}

// trainConfig turns the flags into a training setup.
func trainConfig(o options) (baryir.TrainConfig, error) {
	var cfg baryir.TrainConfig
	switch o.preset {
	case "tiny":
		cfg = baryir.PaperTraining(baryir.Tiny())
		// The paper's RMSprop at 2e-4 barely moves in a few hundred steps
		// (the paper's Sec. 5, implementation details); a CPU demo needs a faster setting. The potentials keep
		// the authors' slow rate: at the network's rate the max-min game
		// swings |f| up to 1e4 and drowns the L1 term.
		cfg.Optimizer, cfg.LR, cfg.PotentialLR, cfg.LRStepEpochs = baryir.OptimizerAdam, 4e-3, 2e-4, 15
		cfg.Patch, cfg.Batch = 64, 4 // CPU-sized; the paper's 128 and 8 stay with the paper presets
	case "paper":
		cfg = baryir.PaperTraining(baryir.Paper())
	case "authors":
		cfg = baryir.AuthorsTraining(baryir.Authors())
	default:
		return cfg, fmt.Errorf("-preset %q: want tiny, paper or authors", o.preset)
	}
	if o.baseline {
		cfg.Net = cfg.Net.(baryir.Config).Restormer()
	}
	if err := o.analysis.apply(&cfg, o.baseline); err != nil {
		return cfg, err
	}
	switch o.backbone {
	case "", "restormer":
	case "promptir":
		if o.extra.ablate {
			return cfg, fmt.Errorf("-ablate-residual runs on -backbone restormer only")
		}
		cfg.Net = baryir.PromptIR{Net: cfg.Net.(baryir.Config)}
	default:
		return cfg, fmt.Errorf("-backbone %q: want restormer or promptir", o.backbone)
	}
	if o.batch != 0 {
		cfg.Batch = o.batch
	}
	if o.patch != 0 {
		cfg.Patch = o.patch
	}
	cfg.Seed, cfg.Device = o.seed, baryir.Device(o.device)
	p, err := baryir.ParsePrecision(o.precision)
	if err != nil {
		return cfg, fmt.Errorf("-precision: %w", err)
	}
	cfg.Precision = p
	if o.optimizer != "" {
		k, err := baryir.ParseOptimizer(o.optimizer)
		if err != nil {
			return cfg, fmt.Errorf("-optimizer: %w", err)
		}
		cfg.Optimizer = k
	}
	if o.lr != 0 {
		cfg.LR = o.lr
	}
	if o.potLR != 0 {
		cfg.PotentialLR = o.potLR
	}
	if o.lrStep >= 0 {
		cfg.LRStepEpochs = o.lrStep
	}
	if o.sigma > 0 {
		cfg.Sigma = o.sigma
	}
	if o.beta >= 0 {
		cfg.Beta = o.beta
	}
	return cfg, nil // NewTrainer checks the setup
}

// photo is one test photo of a task, restored, with its scores.
type photo struct {
	deg                                 data.Degradation
	degraded, restored, baseline, clean *data.Image
	scores                              [3]score // degraded, restored, baseline (zero when none)
}

// score is a picture's PSNR (dB) and SSIM against the clean photo.
type score struct{ psnr, ssim float64 }

func scoreOf(clean, im *data.Image) (score, error) {
	p, err := data.PSNR(clean, im)
	if err != nil {
		return score{}, err
	}
	s, err := data.SSIM(clean, im)
	return score{p, s}, err
}

func restore(r *baryir.Restorer, im *data.Image) (*data.Image, error) {
	out, err := r.Restore(im)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.Name, err)
	}
	return out, nil
}

// evaluate restores every task's test images with r (and with the baseline
// base, when given), averaging PSNR and SSIM per task; done gets each
// task's row as it finishes. It returns every photo for the grids.
func evaluate(o options, sets []testSet, r, base *baryir.Restorer, log io.Writer, done func(Task) error) ([]photo, error) {
	var photos []photo
	for _, set := range sets {
		degraded, clean, err := set.get(o)
		if err != nil {
			return nil, err
		}
		t := Task{Task: set.name, Images: len(degraded)}
		n := float64(len(degraded))
		for i := range degraded {
			ph := photo{deg: set.deg, degraded: degraded[i], clean: clean[i]}
			if ph.restored, err = restore(r, degraded[i]); err != nil {
				return nil, err
			}
			pics := []*data.Image{ph.degraded, ph.restored}
			if base != nil {
				if ph.baseline, err = restore(base, degraded[i]); err != nil {
					return nil, fmt.Errorf("baseline: %w", err)
				}
				pics = append(pics, ph.baseline)
			}
			for k, im := range pics {
				if ph.scores[k], err = scoreOf(clean[i], im); err != nil {
					return nil, err
				}
			}
			t.DegradedPSNR += data.Metric(ph.scores[0].psnr / n)
			t.DegradedSSIM += data.Metric(ph.scores[0].ssim / n)
			t.RestoredPSNR += data.Metric(ph.scores[1].psnr / n)
			t.RestoredSSIM += data.Metric(ph.scores[1].ssim / n)
			t.BaselinePSNR += data.Metric(ph.scores[2].psnr / n)
			t.BaselineSSIM += data.Metric(ph.scores[2].ssim / n)
			photos = append(photos, ph)
		}
		fmt.Fprintf(log, "evaluated %s on %d images\n", set.name, len(degraded))
		if err := done(t); err != nil {
			return nil, err
		}
	}
	return photos, nil
}

// maxGridPhotos bounds the photos per task in grid_all.png, so benchmark
// test sets of hundreds of photos still give a picture one can open.
const maxGridPhotos = 8

// writeGrids writes grid.png (the first photo of each task) and
// grid_all.png (every photo of each task, up to maxGridPhotos).
func writeGrids(out, network string, photos []photo, log io.Writer) error {
	var first, all []photo
	perTask := map[data.Degradation]int{}
	for _, ph := range photos {
		perTask[ph.deg]++
		switch n := perTask[ph.deg]; {
		case n == 1:
			first = append(first, ph)
			all = append(all, ph)
		case n <= maxGridPhotos:
			all = append(all, ph)
		}
	}
	for d, n := range perTask {
		if n > maxGridPhotos {
			fmt.Fprintf(log, "grid_all.png shows the first %d of the %d %s photos\n", maxGridPhotos, n, d)
		}
	}
	if err := photoGrid("First test photo of each task", network, first).WritePNG(filepath.Join(out, "grid.png")); err != nil {
		return err
	}
	return photoGrid("Every test photo", network, all).WritePNG(filepath.Join(out, "grid_all.png"))
}

// photoGrid lays photos out one a row: degraded, restored, the baseline's
// restoration when there is one, and clean, with PSNR/SSIM under each.
func photoGrid(title, network string, photos []photo) data.Grid {
	g := data.Grid{Title: title, Columns: []string{"degraded", network}}
	withBaseline := len(photos) > 0 && photos[0].baseline != nil
	if withBaseline {
		g.Columns = append(g.Columns, "baseline")
	}
	g.Columns = append(g.Columns, "clean")
	caption := func(s score) string { return fmt.Sprintf("PSNR %.2f dB\nSSIM %.3f", s.psnr, s.ssim) }
	for _, ph := range photos {
		g.Rows = append(g.Rows, taskLabel(ph.deg)+"\n"+photoName(ph.clean.Name))
		row := []data.GridTile{{Image: ph.degraded, Caption: caption(ph.scores[0])}, {Image: ph.restored, Caption: caption(ph.scores[1])}}
		if withBaseline {
			row = append(row, data.GridTile{Image: ph.baseline, Caption: caption(ph.scores[2])})
		}
		g.Tiles = append(g.Tiles, append(row, data.GridTile{Image: ph.clean}))
	}
	return g
}

// taskLabel names a degradation for a reader: "noise σ=25", "rain", "haze".
func taskLabel(d data.Degradation) string {
	if s := d.NoiseSigma(); s > 0 {
		return fmt.Sprintf("noise σ=%g", s)
	}
	return d.String()
}

// photoName is a photo's file name without folder, extension or the
// degradation suffix the embedded set adds: "embedded/test/chelsea_0.png" is
// "chelsea_0".
func photoName(name string) string {
	base := filepath.Base(name)
	if i := strings.IndexByte(base, '+'); i >= 0 {
		base = base[:i]
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

func printTable(w io.Writer, rep Report) {
	withBaseline := len(rep.Tasks) > 0 && rep.Tasks[0].BaselinePSNR > 0
	fmt.Fprintf(w, "%s, %d steps, trained in %.0f s\n", rep.Network, rep.Steps, rep.TrainSeconds)
	fmt.Fprintf(w, "%-9s %16s %16s %8s", "task", "degraded PSNR/SSIM", "restored PSNR/SSIM", "gain dB")
	if withBaseline {
		fmt.Fprintf(w, " %16s", "baseline PSNR/SSIM")
	}
	fmt.Fprintln(w)
	for _, t := range rep.Tasks {
		fmt.Fprintf(w, "%-9s %9.2f / %.3f %9.2f / %.3f %+8.2f", t.Task, t.DegradedPSNR, t.DegradedSSIM,
			t.RestoredPSNR, t.RestoredSSIM, t.RestoredPSNR-t.DegradedPSNR)
		if withBaseline {
			fmt.Fprintf(w, " %9.2f / %.3f", t.BaselinePSNR, t.BaselineSSIM)
		}
		fmt.Fprintln(w)
	}
	var mean float64
	for _, t := range rep.Tasks {
		mean += float64(t.RestoredPSNR-t.DegradedPSNR) / float64(len(rep.Tasks))
	}
	if !math.IsNaN(mean) {
		fmt.Fprintf(w, "mean gain %+.2f dB\n", mean)
	}
}
