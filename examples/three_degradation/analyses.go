package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/ot"
)

// analysisOptions are the flags of the paper's ablations (Sec. 5.5): what
// trains the barycenter map and what the decoder is fed (Tab. IX), the
// barycenter weights (Tab. X), the map's architecture (Tab. XI), and the
// test-time feature ablation (Fig. 9). -batch (Fig. 10) and -beta (Fig. 12,
// the paper's λ) are main.go's. The zero value is BaryIR as the preset has
// it. Every run records its setup in results.json ("setup"), so that the
// study's tables are made from the outputs alone (examples/study_tables).
type analysisOptions struct {
	losses    string // -losses: "all", "none" or "+"-joined terms of mwb, irc, bro
	embedding string // -embedding: "b+r", "b", "s" or "s+r"
	weights   string // -weights: "proportional", "uniform" or "inverse"
	mapArch   string // -map: baryir.ParseMapArch
	features  bool   // -feature-ablation
}

func (a *analysisOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&a.losses, "losses", "all", `terms that train the barycenter map besides the L1 restoration loss (Tab. IX): all, none, or "+"-joined terms of mwb, irc, bro ("mwb+irc"); none keeps the map, trained by L1 alone`)
	fs.StringVar(&a.embedding, "embedding", "b+r", "what the decoder is fed (Tab. IX): b+r (BaryIR), b, s or s+r (s: the source latent, b = T(s), r = s - b)")
	fs.StringVar(&a.weights, "weights", "", "barycenter weights (Tab. X): proportional (to the sources' sample counts; the paper's), uniform or inverse (the authors' code) (default: the preset's)")
	fs.StringVar(&a.mapArch, "map", "", "barycenter map architecture (Tab. XI): transformer (the paper's), mlp, unet or vit (default: the preset's)")
	fs.BoolVar(&a.features, "feature-ablation", false, "also restore with b zeroed (R1) and with r zeroed (R2) beside the full output (R3), and write feature_ablation_<task>.png with the difference maps R3-R1 and R3-R2 (Fig. 9)")
}

// lossTerms are the terms -losses names, in the paper's order.
var lossTerms = []string{"mwb", "irc", "bro"}

// ablation is the terms of the objective that -losses switches off
// (baryir.ObjectiveConfig's NoMWB, NoIRC and NoBRO).
type ablation struct{ NoMWB, NoIRC, NoBRO bool }

// parseLosses reads -losses.
func parseLosses(s string) (ablation, error) {
	switch t := strings.ToLower(strings.TrimSpace(s)); t {
	case "", "all":
		return ablation{}, nil
	case "none":
		return ablation{NoMWB: true, NoIRC: true, NoBRO: true}, nil
	default:
		on := map[string]bool{}
		for _, part := range strings.Split(t, "+") {
			part = strings.TrimSpace(part)
			if !slices.Contains(lossTerms, part) || on[part] {
				return ablation{}, fmt.Errorf("-losses %q: want all, none or distinct terms of %s joined by +", s, strings.Join(lossTerms, ", "))
			}
			on[part] = true
		}
		return ablation{NoMWB: !on["mwb"], NoIRC: !on["irc"], NoBRO: !on["bro"]}, nil
	}
}

// lossesName is the canonical -losses value of a: "all", "none" or the
// terms kept, "mwb+irc".
func lossesName(a ablation) string {
	var on []string
	for i, off := range []bool{a.NoMWB, a.NoIRC, a.NoBRO} {
		if !off {
			on = append(on, lossTerms[i])
		}
	}
	switch len(on) {
	case 0:
		return "none"
	case len(lossTerms):
		return "all"
	}
	return strings.Join(on, "+")
}

// embedding is an -embedding value with the decoder switches it sets (see
// baryir.Config.DropResidual).
type embedding struct {
	name                       string
	decodeSource, dropResidual bool
}

// embeddings are -embedding's values, BaryIR's first.
var embeddings = []embedding{{"b+r", false, false}, {"b", false, true}, {"s", true, true}, {"s+r", true, false}}

// embeddingName is the -embedding value of net's decoder switches.
func embeddingName(net baryir.Config) string {
	for _, e := range embeddings {
		if e.decodeSource == net.DecodeSource && e.dropResidual == net.DropResidual {
			return e.name
		}
	}
	return "?"
}

// weightSchemes are -weights' values.
var weightSchemes = []ot.WeightScheme{ot.Proportional, ot.Uniform, ot.Inverse}

// apply sets the analysis flags on cfg. -embedding and -map need the
// network to be a baryir.Config (the presets').
func (a analysisOptions) apply(cfg *baryir.TrainConfig, baseline bool) error {
	abl, err := parseLosses(a.losses)
	if err != nil {
		return err
	}
	emb := strings.ToLower(strings.TrimSpace(a.embedding))
	if emb == "" {
		emb = "b+r"
	}
	i := slices.IndexFunc(embeddings, func(e embedding) bool { return e.name == emb })
	if i < 0 {
		return fmt.Errorf("-embedding %q: want b+r, b, s or s+r", a.embedding)
	}
	if a.features && i != 0 {
		return fmt.Errorf("-feature-ablation with -embedding %s: it zeroes b and r in turn, so it needs the decoder fed b+r", a.embedding)
	}
	if baseline {
		switch {
		case abl != ablation{}:
			return fmt.Errorf("-losses %s with -baseline: the Restormer has no barycenter map; it trains on L1 alone", a.losses)
		case i != 0:
			return fmt.Errorf("-embedding %s with -baseline: the Restormer's decoder is fed its latent s", a.embedding)
		case a.mapArch != "":
			return fmt.Errorf("-map with -baseline: the Restormer has no barycenter map")
		case a.features:
			return fmt.Errorf("-feature-ablation with -baseline: the Restormer has no barycenter or residual latent")
		}
	}
	cfg.NoMWB, cfg.NoIRC, cfg.NoBRO = abl.NoMWB, abl.NoIRC, abl.NoBRO
	if a.weights != "" {
		k := slices.IndexFunc(weightSchemes, func(w ot.WeightScheme) bool { return w.String() == strings.ToLower(strings.TrimSpace(a.weights)) })
		if k < 0 {
			return fmt.Errorf("-weights %q: want proportional, uniform or inverse", a.weights)
		}
		cfg.Weights = weightSchemes[k]
	}
	net, ok := cfg.Net.(baryir.Config)
	if !ok {
		if i != 0 || a.mapArch != "" {
			return fmt.Errorf("-embedding and -map need one of the presets' networks, not %T", cfg.Net)
		}
		return nil
	}
	if !baseline {
		net.DecodeSource, net.DropResidual = embeddings[i].decodeSource, embeddings[i].dropResidual
	}
	if a.mapArch != "" {
		if net.Map, err = baryir.ParseMapArch(a.mapArch); err != nil {
			return fmt.Errorf("-map: %w", err)
		}
	}
	cfg.Net = net
	return nil
}

// Setup is what a run trained, as results.json records it ("setup"), with
// Report's network and steps: enough to place the run in the study's
// tables.
type Setup struct {
	Preset    string  `json:"preset"`
	Tasks     string  `json:"tasks"` // three or five
	Seed      uint64  `json:"seed"`
	Batch     int     `json:"batch"`
	Patch     int     `json:"patch"`
	Beta      float64 `json:"beta"`      // weight of IRC + BRO, the paper's λ
	Losses    string  `json:"losses"`    // -losses, canonical: all, none, mwb+irc ...
	Embedding string  `json:"embedding"` // -embedding
	Weights   string  `json:"weights"`   // barycenter weights
	Map       string  `json:"map"`       // barycenter map architecture ("" for the Restormer)
}

// setupOf records o and cfg; a network other than a Config records no
// embedding or map.
func setupOf(o options, cfg baryir.TrainConfig) Setup {
	s := Setup{Preset: o.preset, Tasks: o.extra.tasks, Seed: cfg.Seed, Batch: cfg.Batch, Patch: cfg.Patch, Beta: cfg.Beta,
		Losses: lossesName(ablation{cfg.NoMWB, cfg.NoIRC, cfg.NoBRO}), Weights: cfg.Weights.String()}
	net, ok := cfg.Net.(baryir.Config)
	switch {
	case ok && net.Map != baryir.MapNone:
		s.Embedding, s.Map = embeddingName(net), net.Map.String()
	case ok: // the Restormer trains no map
		s.Losses, s.Weights = "", ""
	}
	return s
}

// FeatureRow is one task of the test-time feature ablation (Fig. 9),
// "feature_ablation" in results.json: the mean PSNR/SSIM of R1 (b zeroed,
// "w/o WB"), R2 (r zeroed, "w/o Res.") and R3 (the full output), and the
// mean absolute differences R3-R1 and R3-R2 over pixels and channels.
type FeatureRow struct {
	Task    string      `json:"task"`
	R1PSNR  data.Metric `json:"r1_psnr"`
	R1SSIM  data.Metric `json:"r1_ssim"`
	R2PSNR  data.Metric `json:"r2_psnr"`
	R2SSIM  data.Metric `json:"r2_ssim"`
	R3PSNR  data.Metric `json:"r3_psnr"`
	R3SSIM  data.Metric `json:"r3_ssim"`
	DiffWB  float64     `json:"diff_wb"`  // mean |R3 - R1|
	DiffRes float64     `json:"diff_res"` // mean |R3 - R2|
	Images  int         `json:"images"`
}

// analysisReport is what the analysis flags add to Report.
type analysisReport struct {
	Setup           Setup        `json:"setup"`
	FeatureAblation []FeatureRow `json:"feature_ablation,omitempty"`
}

// featurePicture is the picture of one task's feature ablation.
func featurePicture(task string) string { return "feature_ablation_" + task + ".png" }

// analysisOutputs are the files the analysis flags write into -out.
func analysisOutputs(o options) []string {
	var names []string
	for _, d := range o.extra.degradations() {
		names = append(names, featurePicture(d.String()))
	}
	return names
}

// maxFeaturePhotos bounds the photos per task in a feature ablation picture.
const maxFeaturePhotos = 4

// runFeatureAblation restores every test set with b zeroed (R1), with r
// zeroed (R2) and in full (R3, r), adding a row per task to rep and writing
// each task's picture.
func runFeatureAblation(o options, sets []testSet, net baryir.Config, sd baryir.StateDict, r *baryir.Restorer, log io.Writer, rep *analysisReport, save func() error) error {
	if !o.analysis.features {
		return nil
	}
	ropts, err := o.restorerOptions()
	if err != nil {
		return err
	}
	var ablated [2]*baryir.Restorer // R1, R2
	for k, edit := range []func(*baryir.Config){
		func(c *baryir.Config) { c.DropBary = true },
		func(c *baryir.Config) { c.DropResidual = true },
	} {
		c := net
		edit(&c)
		if ablated[k], err = baryir.NewRestorer(c, sd, ropts); err != nil {
			return fmt.Errorf("-feature-ablation: %w", err)
		}
		defer ablated[k].Close()
	}
	for _, set := range sets {
		degraded, clean, err := set.get(o)
		if err != nil {
			return err
		}
		row := FeatureRow{Task: set.name, Images: len(degraded)}
		g := data.Grid{
			Title:   fmt.Sprintf("Test-time feature ablation, %s (seed %d): R1 = b zeroed, R2 = r zeroed, R3 = full", taskLabel(set.deg), o.seed),
			Columns: []string{"degraded", "R1 (w/o WB)", "R2 (w/o res.)", "R3 (full)", "|R3 - R1|", "|R3 - R2|", "clean"},
		}
		n := float64(len(degraded))
		for i, d := range degraded {
			var outs [3]*data.Image
			for k, res := range []*baryir.Restorer{ablated[0], ablated[1], r} {
				if outs[k], err = restore(res, d); err != nil {
					return err
				}
			}
			var sc [3]score
			for k, im := range outs {
				if sc[k], err = scoreOf(clean[i], im); err != nil {
					return err
				}
			}
			row.R1PSNR += data.Metric(sc[0].psnr / n)
			row.R1SSIM += data.Metric(sc[0].ssim / n)
			row.R2PSNR += data.Metric(sc[1].psnr / n)
			row.R2SSIM += data.Metric(sc[1].ssim / n)
			row.R3PSNR += data.Metric(sc[2].psnr / n)
			row.R3SSIM += data.Metric(sc[2].ssim / n)
			maps, means, white, err := differenceMaps(outs[2], outs[0], outs[1])
			if err != nil {
				return err
			}
			row.DiffWB += means[0] / n
			row.DiffRes += means[1] / n
			if i >= maxFeaturePhotos {
				continue
			}
			caption := func(s score) string { return fmt.Sprintf("PSNR %.2f dB\nSSIM %.3f", s.psnr, s.ssim) }
			g.Rows = append(g.Rows, photoName(clean[i].Name))
			g.Tiles = append(g.Tiles, []data.GridTile{
				{Image: d}, {Image: outs[0], Caption: caption(sc[0])}, {Image: outs[1], Caption: caption(sc[1])},
				{Image: outs[2], Caption: caption(sc[2])},
				{Image: maps[0], Caption: fmt.Sprintf("mean %.4f\nwhite %.3f", means[0], white)},
				{Image: maps[1], Caption: fmt.Sprintf("mean %.4f\nwhite %.3f", means[1], white)},
				{Image: clean[i]},
			})
		}
		rep.FeatureAblation = append(rep.FeatureAblation, row)
		if err := save(); err != nil {
			return err
		}
		if err := g.WritePNG(filepath.Join(o.out, featurePicture(set.name))); err != nil {
			return err
		}
		fmt.Fprintf(log, "feature ablation %s: R1 %.2f, R2 %.2f, R3 %.2f dB\n", set.name, row.R1PSNR, row.R2PSNR, row.R3PSNR)
	}
	return nil
}

// differenceMaps draws |full - a| and |full - b| (mean over channels) as
// grey images on one scale, white at the larger map's maximum, and returns
// them with their mean absolute differences over pixels and channels and
// the value drawn white.
func differenceMaps(full, a, b *data.Image) (maps [2]*data.Image, means [2]float64, white float64, err error) {
	hw := full.H * full.W
	grey := [2][]float64{make([]float64, hw), make([]float64, hw)}
	top := 0.0
	for k, im := range []*data.Image{a, b} {
		if im.H != full.H || im.W != full.W {
			return maps, means, 0, fmt.Errorf("feature ablation: %s is %dx%d, the full output %dx%d", im.Name, im.H, im.W, full.H, full.W)
		}
		for c := range 3 {
			for p := range hw {
				d := math.Abs(float64(full.Pix[c*hw+p]) - float64(im.Pix[c*hw+p]))
				grey[k][p] += d / 3
				means[k] += d / float64(3*hw)
			}
		}
		top = max(top, slices.Max(grey[k]))
	}
	for k := range 2 {
		maps[k] = data.NewImage(fmt.Sprintf("|%s - %s|", full.Name, []string{a.Name, b.Name}[k]), full.H, full.W)
		for p, v := range grey[k] {
			if top > 0 {
				v /= top
			}
			for c := range 3 {
				maps[k].Pix[c*hw+p] = float32(v)
			}
		}
	}
	return maps, means, top, nil
}

// printAnalyses prints the setup and the feature ablation's table.
func printAnalyses(w io.Writer, rep analysisReport) {
	s := rep.Setup
	fmt.Fprintf(w, "\nsetup: losses %s, decoder fed %s, weights %s, map %s, batch %d, beta %g\n", s.Losses, s.Embedding, s.Weights, s.Map, s.Batch, s.Beta)
	if len(rep.FeatureAblation) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntest-time feature ablation (PSNR dB)\n%-9s %12s %12s %10s %10s %10s\n", "task", "R1 (b = 0)", "R2 (r = 0)", "R3 (full)", "|R3-R1|", "|R3-R2|")
	for _, f := range rep.FeatureAblation {
		fmt.Fprintf(w, "%-9s %12.2f %12.2f %10.2f %10.4f %10.4f\n", f.Task, f.R1PSNR, f.R2PSNR, f.R3PSNR, f.DiffWB, f.DiffRes)
	}
}
