package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
)

// extraOptions are the flags of the generalisation study: which tasks to
// train on, the unseen conditions, the latent study and the ablation.
type extraOptions struct {
	tasks          string // "three" or "five"
	ood, latents   bool
	ablate         bool
	conditions     string    // -ood-conditions: ";"-separated data.Spec strings (default unseenConditions)
	oodClean       string    // -ood-clean: clean photos for the synthetic conditions (default: the embedded test photos)
	oodPairs       pairsFlag // -ood-pairs name=degraded_dir:clean_dir, repeatable
	gopro, goproGT string    // five tasks: GoPro test root, or blur and sharp folders
	goproGamma     bool      // -gopro-gamma: blur_gamma/ instead of blur/
	lol, lolGT     string    // five tasks: LOL test low/high
	latentPatch    int       // -latent-patch
}

func (e *extraOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&e.tasks, "tasks", "three", "three (noise, rain, haze) or five (adds blur and low light: the authors' five-source setting)")
	fs.BoolVar(&e.ood, "ood", false, "also evaluate unseen degradations (unseenConditions) and write ood_grid.png")
	fs.StringVar(&e.conditions, "ood-conditions", "", `unseen conditions for -ood, ";"-separated, e.g. "noise:60;jpeg:10;rain:0.01+noise:15" (default: unseenConditions)`)
	fs.StringVar(&e.oodClean, "ood-clean", "", "folder of clean test images (BSD68, BSD500, Kodak ...) to degrade for -ood (default: the embedded test photos)")
	fs.Var(&e.oodPairs, "ood-pairs", "a stored unseen benchmark for -ood, name=degraded_dir:clean_dir (Rain100H, O-HAZE, LOL-v2, UIEB, SPANet, BSD500 JPEG, CDD-11; repeatable; paired by data.Pairs)")
	fs.BoolVar(&e.latents, "latents", false, "measure the latent space (probe accuracy, W2 between sources) and draw its t-SNE (latents.png)")
	fs.IntVar(&e.latentPatch, "latent-patch", 64, "patch side for -latents (multiple of 8)")
	fs.BoolVar(&e.ablate, "ablate-residual", false, "also restore with the residual latent zeroed (baryir.Config.DropResidual), on the training tasks and with -ood the unseen ones")
	fs.StringVar(&e.gopro, "gopro", "", "GoPro test root as released, GOPRO_Large/test (paired per scene), or a blur folder with -gopro-sharp (with -tasks five)")
	fs.StringVar(&e.goproGT, "gopro-sharp", "", "GoPro sharp folder, when -gopro is one blur folder")
	fs.BoolVar(&e.goproGamma, "gopro-gamma", false, "pair GoPro's blur_gamma/ frames instead of blur/")
	fs.StringVar(&e.lol, "lol", "", "LOL-v1 test low folder, LOLdataset/eval15/low (with -tasks five)")
	fs.StringVar(&e.lolGT, "lol-high", "", "LOL-v1 test high folder, LOLdataset/eval15/high")
}

func (e *extraOptions) validate() error {
	if e.tasks == "" {
		e.tasks = "three"
	}
	if e.tasks != "three" && e.tasks != "five" {
		return fmt.Errorf("-tasks %q: want three or five", e.tasks)
	}
	if _, err := e.specs(); err != nil {
		return err
	}
	if e.latentPatch == 0 {
		e.latentPatch = 64
	}
	if e.latentPatch < 8 || e.latentPatch%8 != 0 || e.latentPatch > 160 {
		return fmt.Errorf("-latent-patch %d: want a multiple of 8 up to 160 (the embedded test photos' side)", e.latentPatch)
	}
	return nil
}

// degradations are the training (and in-distribution test) degradations.
func (e *extraOptions) degradations() []data.Degradation {
	if e.tasks == "five" {
		return data.FiveDegradations()
	}
	return data.ThreeDegradations()
}

// specs are the unseen conditions for -ood.
func (e *extraOptions) specs() ([]data.Spec, error) {
	if e.conditions == "" {
		return unseenConditions(), nil
	}
	var out []data.Spec
	for _, part := range strings.Split(e.conditions, ";") {
		s, err := data.ParseSpec(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("-ood-conditions: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// pairsFlag collects -ood-pairs name=degraded_dir:clean_dir.
type pairsFlag []struct{ name, degraded, clean string }

func (p *pairsFlag) String() string {
	var parts []string
	for _, x := range *p {
		parts = append(parts, x.name+"="+x.degraded+":"+x.clean)
	}
	return strings.Join(parts, ",")
}

func (p *pairsFlag) Set(v string) error {
	name, dirs, ok := strings.Cut(v, "=")
	deg, clean, ok2 := strings.Cut(dirs, ":")
	if !ok || !ok2 || name == "" || deg == "" || clean == "" {
		return fmt.Errorf("want name=degraded_dir:clean_dir, got %q", v)
	}
	*p = append(*p, struct{ name, degraded, clean string }{name, deg, clean})
	return nil
}

// Unseen is one row of "ood" in the JSON results.
type Unseen struct {
	Task         string      `json:"task"`
	DegradedPSNR data.Metric `json:"degraded_psnr"`
	DegradedSSIM data.Metric `json:"degraded_ssim"`
	RestoredPSNR data.Metric `json:"restored_psnr"`
	RestoredSSIM data.Metric `json:"restored_ssim"`
	AblatedPSNR  data.Metric `json:"ablated_psnr,omitempty"` // -ablate-residual: r zeroed
	AblatedSSIM  data.Metric `json:"ablated_ssim,omitempty"`
	Images       int         `json:"images"`
}

// extraReport is what the study adds to Report.
type extraReport struct {
	OOD      []Unseen     `json:"ood,omitempty"`
	Ablation []Unseen     `json:"ablation,omitempty"` // the training tasks with r zeroed
	Latents  *LatentStudy `json:"latents,omitempty"`
}

// studySets are the study's test folders, paired before training.
type studySets struct {
	tests    []testSet // the training tasks, for -ablate-residual
	oodClean []string  // -ood-clean's files
	oodPairs []testSet // -ood-pairs
}

// prepare lists and pairs every folder the study flags name, refusing a
// missing or unpairable one with the flag's name.
func (e *extraOptions) prepare(o options, tests []testSet) (studySets, error) {
	st := studySets{tests: tests}
	if !e.ood {
		if len(e.oodPairs) > 0 || e.oodClean != "" {
			return st, fmt.Errorf("-ood-pairs and -ood-clean are test folders of -ood, which is not set")
		}
		return st, nil
	}
	if e.oodClean != "" {
		f := folderFlag{"-ood-clean", e.oodClean}
		if err := f.check(); err != nil {
			return st, err
		}
		files, err := data.CleanImages(e.oodClean)
		if err != nil {
			return st, fmt.Errorf("%s: %w", f, err)
		}
		st.oodClean = files
	}
	for _, p := range e.oodPairs {
		set, from, err := pairedSet(data.Noise15, // the label is unused
			folderFlag{"-ood-pairs " + p.name, p.degraded}, folderFlag{"its clean folder", p.clean})
		if err != nil {
			return st, err
		}
		st.oodPairs = append(st.oodPairs, testSet{name: p.name, from: from, set: set})
	}
	return st, nil
}

// describe writes the study's test sets to the run's opening summary.
func (st studySets) describe(w io.Writer) {
	if st.oodClean != nil {
		fmt.Fprintf(w, "ood conditions: %d clean images from -ood-clean\n", len(st.oodClean))
	}
	for _, s := range st.oodPairs {
		fmt.Fprintln(w, s.describe("ood"))
	}
}

// runExtras runs what the study flags ask for on the trained weights,
// adding each row to rep and calling save after each.
func runExtras(o options, st studySets, net baryir.Config, sd baryir.StateDict, r *baryir.Restorer, log io.Writer, rep *extraReport, save func() error) error {
	e := o.extra
	var ablated *baryir.Restorer
	if e.ablate {
		if net.Map == baryir.MapNone {
			return fmt.Errorf("-ablate-residual: the Restormer has no residual latent")
		}
		c := net
		c.DropResidual = true
		ropts, err := o.restorerOptions()
		if err != nil {
			return err
		}
		if ablated, err = baryir.NewRestorer(c, sd, ropts); err != nil {
			return err
		}
		defer ablated.Close()
		for _, set := range st.tests {
			degraded, clean, err := set.get(o)
			if err != nil {
				return err
			}
			row, err := scoreBoth(r, ablated, set.name, degraded, clean)
			if err != nil {
				return err
			}
			rep.Ablation = append(rep.Ablation, row.Unseen)
			if err := save(); err != nil {
				return err
			}
		}
	}
	if e.ood {
		rows, err := runUnseen(o, st, r, ablated, log, func(row scored) error {
			rep.OOD = append(rep.OOD, row.Unseen)
			return save()
		})
		if err != nil {
			return err
		}
		if err := unseenGrid(rows, ablated != nil, o.seed).WritePNG(filepath.Join(o.out, "ood_grid.png")); err != nil {
			return err
		}
	}
	if e.latents {
		if net.Map == baryir.MapNone {
			fmt.Fprintln(log, "-latents: the baseline has no barycenter latent; skipped")
			return nil
		}
		lst, err := latentStudy(o, r, log)
		if err != nil {
			return err
		}
		rep.Latents = &lst
		if err := save(); err != nil {
			return err
		}
		title := fmt.Sprintf("BaryIR %s latents, %s degradations, seed %d: t-SNE of test patches", o.preset, e.tasks, o.seed)
		if err := lst.writePicture(filepath.Join(o.out, "latents.png"), title); err != nil {
			return err
		}
	}
	return nil
}

// scored is an Unseen row with its first image's pictures.
type scored struct {
	Unseen
	example [4]*data.Image // degraded, restored, ablated (nil without), clean
}

func scoreBoth(r, ablated *baryir.Restorer, task string, degraded, clean []*data.Image) (scored, error) {
	res, err := evaluatePairs(r, task, degraded, clean)
	if err != nil {
		return scored{}, err
	}
	row := scored{Unseen: unseenRow(res), example: [4]*data.Image{res.Example[0], res.Example[1], nil, res.Example[2]}}
	if ablated != nil {
		ab, err := evaluatePairs(ablated, task, degraded, clean)
		if err != nil {
			return scored{}, err
		}
		row.AblatedPSNR, row.AblatedSSIM, row.example[2] = data.Metric(ab.RestoredPSNR), data.Metric(ab.RestoredSSIM), ab.Example[1]
	}
	return row, nil
}

// runUnseen evaluates the synthetic unseen conditions on the clean photos,
// then every -ood-pairs benchmark; done gets each row as it finishes.
func runUnseen(o options, st studySets, r, ablated *baryir.Restorer, log io.Writer, done func(scored) error) ([]scored, error) {
	specs, err := o.extra.specs()
	if err != nil {
		return nil, err
	}
	clean := data.EmbeddedTest()
	if st.oodClean != nil {
		clean = nil
		loader := data.Loader{MaxPixels: o.maxPixels}
		for _, f := range st.oodClean {
			if o.evalImages > 0 && len(clean) == o.evalImages {
				break
			}
			im, err := loader.Load(f)
			if err == nil {
				im, err = data.CropToMultiple(im, 16) // as the test loaders crop
			}
			if err != nil {
				return nil, fmt.Errorf("-ood-clean: %w", err)
			}
			clean = append(clean, im)
		}
	}
	if o.evalImages > 0 && len(clean) > o.evalImages {
		clean = clean[:o.evalImages]
	}
	var rows []scored
	add := func(row scored) error {
		rows = append(rows, row)
		return done(row)
	}
	start := time.Now()
	for k, s := range specs {
		res, err := evaluateUnseen(r, []data.Spec{s}, clean, o.seed, nil)
		if err != nil {
			return nil, err
		}
		row := scored{Unseen: unseenRow(res[0]), example: [4]*data.Image{res[0].Example[0], res[0].Example[1], nil, res[0].Example[2]}}
		if ablated != nil {
			ab, err := evaluateUnseen(ablated, []data.Spec{s}, clean, o.seed, nil)
			if err != nil {
				return nil, err
			}
			row.AblatedPSNR, row.AblatedSSIM, row.example[2] = data.Metric(ab[0].RestoredPSNR), data.Metric(ab[0].RestoredSSIM), ab[0].Example[1]
		}
		per := time.Since(start) / time.Duration(k+1)
		fmt.Fprintf(log, "unseen %d/%d %-24s %6.2f -> %6.2f dB (%.1f s/condition, ETA %s)\n", k+1, len(specs), s,
			row.DegradedPSNR, row.RestoredPSNR, per.Seconds(), (per * time.Duration(len(specs)-k-1)).Round(time.Second))
		if err := add(row); err != nil {
			return nil, err
		}
	}
	for _, set := range st.oodPairs {
		degraded, cl, err := set.get(o)
		if err != nil {
			return nil, err
		}
		row, err := scoreBoth(r, ablated, set.name, degraded, cl)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "unseen %-24s %6.2f -> %6.2f dB on %d images\n", set.name, row.DegradedPSNR, row.RestoredPSNR, row.Images)
		if err := add(row); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// unseenRow is res as a row of the JSON results.
func unseenRow(res unseenResult) Unseen {
	return Unseen{Task: res.Task, DegradedPSNR: data.Metric(res.DegradedPSNR), DegradedSSIM: data.Metric(res.DegradedSSIM),
		RestoredPSNR: data.Metric(res.RestoredPSNR), RestoredSSIM: data.Metric(res.RestoredSSIM), Images: res.Images}
}

// unseenGrid lays out each condition's first image: degraded, restored,
// (restored with r zeroed), clean, with that image's PSNR/SSIM under each
// and the condition's mean gain beside it.
func unseenGrid(rows []scored, ablated bool, seed uint64) data.Grid {
	g := data.Grid{Title: fmt.Sprintf("Unseen degradations (seed %d): first test image of each", seed),
		Columns: []string{"degraded", "restored"}}
	if ablated {
		g.Columns = append(g.Columns, "restored, r = 0")
	}
	g.Columns = append(g.Columns, "clean")
	for _, r := range rows {
		clean := r.example[3]
		// the tile's own scores (the table has the means over all images)
		caption := func(im *data.Image) string {
			p, err := data.PSNR(clean, im)
			if err != nil {
				return err.Error()
			}
			s, err := data.SSIM(clean, im)
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("%.2f dB / %.3f", p, s)
		}
		g.Rows = append(g.Rows, fmt.Sprintf("%s\n(%d images: %+.2f dB)", r.Task, r.Images, r.RestoredPSNR-r.DegradedPSNR))
		tiles := []data.GridTile{
			{Image: r.example[0], Caption: caption(r.example[0])},
			{Image: r.example[1], Caption: caption(r.example[1])},
		}
		if ablated {
			tiles = append(tiles, data.GridTile{Image: r.example[2], Caption: caption(r.example[2])})
		}
		g.Tiles = append(g.Tiles, append(tiles, data.GridTile{Image: clean}))
	}
	return g
}

// latentStudy cuts patches of every training degradation from the embedded
// test photos and studies their latents.
func latentStudy(o options, r *baryir.Restorer, log io.Writer) (LatentStudy, error) {
	patches, labels, classes, err := latentPatches(o.extra.degradations(), data.EmbeddedTest(), o.extra.latentPatch, o.seed)
	if err != nil {
		return LatentStudy{}, err
	}
	fmt.Fprintf(log, "latents: %d patches of %d sources\n", len(patches), len(classes))
	set, err := collectLatents(r, patches, labels, classes)
	if err != nil {
		return LatentStudy{}, err
	}
	return studyLatents(set, latentOptions{Seed: o.seed})
}

func printExtras(w io.Writer, rep extraReport) {
	table := func(title string, rows []Unseen) {
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n%-26s %16s %16s %8s", title, "task", "degraded PSNR/SSIM", "restored PSNR/SSIM", "gain dB")
		if rows[0].AblatedPSNR != 0 {
			fmt.Fprintf(w, " %16s", "r = 0 PSNR/SSIM")
		}
		fmt.Fprintln(w)
		var mean float64
		for _, t := range rows {
			fmt.Fprintf(w, "%-26s %9.2f / %.3f %9.2f / %.3f %+8.2f", t.Task, t.DegradedPSNR, t.DegradedSSIM,
				t.RestoredPSNR, t.RestoredSSIM, t.RestoredPSNR-t.DegradedPSNR)
			if t.AblatedPSNR != 0 {
				fmt.Fprintf(w, " %9.2f / %.3f", t.AblatedPSNR, t.AblatedSSIM)
			}
			fmt.Fprintln(w)
			mean += float64(t.RestoredPSNR-t.DegradedPSNR) / float64(len(rows))
		}
		fmt.Fprintf(w, "mean gain %+.2f dB\n", mean)
	}
	table("unseen degradations", rep.OOD)
	table("training tasks, residual latent zeroed", rep.Ablation)
	if st := rep.Latents; st != nil {
		fmt.Fprintf(w, "\nlatent space (%s; %v patches): cross-validated probe accuracy (labels shuffled in brackets)\n", strings.Join(st.Classes, ", "), st.Counts)
		fmt.Fprintf(w, "%-14s %16s %16s %7s %9s %8s %9s\n", "space", "nearest centroid", "linear", "chance", "W2 mean", "spread", "W2/spread")
		for _, s := range st.Spaces {
			fmt.Fprintf(w, "%-14s %7.1f%% (%4.1f%%) %7.1f%% (%4.1f%%) %6.1f%% %9.3f %8.3f %9.3f\n", s.Space, 100*s.Probe, 100*s.Shuffled,
				100*s.Linear, 100*s.LinearShuffled, 100*s.Chance, s.W2, s.Spread, s.W2/s.Spread)
		}
	}
}
