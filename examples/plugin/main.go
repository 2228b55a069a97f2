// Command plugin attaches BaryIR to a restoration network of one's own: a
// small three-level U-Net of transformer blocks, defined here from package
// layers,
// implements baryir.Backbone, and a barycenter map is attached at its
// bottleneck (the paper's Fig. 2); its decoder reads the barycenter latent
// b and the residual r = s - b. The library's Trainer trains it on the
// embedded photos (noise, rain and haze), its Restorer restores the
// held-out photos, and the run writes what examples/three_degradation
// writes: grid.png, loss_curve.png, results.json, weights and a checkpoint
// to resume from.
//
//	go run ./examples/plugin              # the U-Net with BaryIR
//	go run ./examples/plugin -baseline    # the same U-Net without it, same seed and budget
//
// Nothing here is copied from the library: the U-Net, its Architecture and
// the evaluation are the user's.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
)

// UNet is the architecture of the example's network: a three-level U-Net
// of Width, 2 Width and 4 Width channels with a bottleneck of 8 Width at
// 1/8 of the image's side, each level a Restormer transformer block (MDTA
// and GDFN from package layers; the first decoder level works on 2 Width
// channels and a refinement block follows it), with a barycenter map of
// MapBlocks transformer blocks at the bottleneck unless Baseline. Its
// fields are what a checkpoint records (a run resumes only with the same).
type UNet struct {
	Width     int
	MapBlocks int
	Baseline  bool
}

// levels is the U-Net's depth: the latent is at 1/2^levels of the image's
// side (the Restorer pads images to multiples of 8).
const levels = 3

// widths are the channels of each level, the bottleneck's last.
func (u UNet) widths() [levels + 1]int {
	return [levels + 1]int{u.Width, 2 * u.Width, 4 * u.Width, 8 * u.Width}
}

// Build makes the U-Net and, unless Baseline, its map. Parameters are named
// as a PyTorch module with these attribute names would name them.
func (u UNet) Build(s *layers.Scope) (*baryir.Network, error) {
	if u.Width < 1 || u.MapBlocks < 1 {
		return nil, fmt.Errorf("unet: width %d and map blocks %d must be positive", u.Width, u.MapBlocks)
	}
	c := u.widths()
	conv := func(name string, in, out, kernel, stride int) *layers.Conv2d {
		return layers.NewConv2d(s.Sub(name), layers.Conv2dConfig{In: in, Out: out, Kernel: kernel, Stride: stride, Padding: kernel / 2})
	}
	// block is a Restormer transformer block of ch channels: channel
	// attention over the whole image (MDTA), then a gated depthwise
	// feed-forward network (GDFN).
	block := func(name string, dim, heads int) *layers.TransformerBlock {
		return layers.NewTransformerBlock(s.Sub(name), layers.TransformerBlockConfig{Dim: dim, Heads: heads, Hidden: dim * 8 / 3})
	}
	n := &unet{
		in:  conv("in", 3, c[0], 3, 1),
		mid: block("mid", c[levels], 1<<levels),
		// Level 1 decodes at 2 Width channels, the upsampled features and
		// the skip side by side, and a refinement block follows.
		refine: block("refine", 2*c[0], 1),
		out:    conv("out", 2*c[0], 3, 3, 1),
		// Restormer's LayerNorm on the latent and on the map's output, as
		// BaryNet's LN: it keeps the max-min game on latents of a fixed scale.
		norm: layers.NewLayerNorm(s.Sub("norm"), layers.LayerNormConfig{Dim: c[levels]}),
	}
	for l := range levels {
		n.enc[l] = block(fmt.Sprintf("enc%d", l+1), c[l], 1<<l)
		n.down[l] = conv(fmt.Sprintf("down%d", l+1), c[l], c[l+1], 3, 2)
		// Upsampling: a 1x1 conv to 4x the channels, then PixelShuffle(2).
		n.up[l] = conv(fmt.Sprintf("up%d", l+1), c[l+1], 4*c[l], 1, 1)
		if l == 0 {
			n.dec[l] = block("dec1", 2*c[0], 1)
			continue
		}
		n.reduce[l] = conv(fmt.Sprintf("reduce%d", l+1), 2*c[l], c[l], 1, 1)
		n.dec[l] = block(fmt.Sprintf("dec%d", l+1), c[l], 1<<l)
	}
	net := &baryir.Network{Scope: s, Backbone: n}
	if !u.Baseline {
		// The map: Restormer blocks (MDTA + GDFN) on the bottleneck latent.
		net.Map = layers.NewStack(s.Sub("bary"), u.MapBlocks, layers.TransformerBlockConfig{Dim: c[levels], Heads: 1 << levels, Hidden: c[levels] * 8 / 3})
		// The residual r = s - b carries what is particular to the
		// degradation (the paper's Fig. 2): the decoder adds it to b
		// through a 1x1 conv.
		n.res = conv("res", c[levels], c[levels], 1, 1)
	}
	return net, nil
}

// String names the network in logs.
func (u UNet) String() string {
	c := u.widths()
	name := fmt.Sprintf("transformer U-Net %d/%d/%d/%d", c[0], c[1], c[2], c[3])
	if u.Baseline {
		return name
	}
	return fmt.Sprintf("%s with BaryIR (map of %d blocks)", name, u.MapBlocks)
}

// unet is the backbone: Encode down to the latent at 1/8 resolution,
// Decode up from b + res(r) (from s alone without BaryIR). Level l's block
// enc[l] makes the skip that dec[l] reads after reduce[l] merges it with the
// upsampled features; down[l] halves the side into level l+1, up[l]
// doubles it back.
type unet struct {
	in, out          *layers.Conv2d
	enc, dec         [levels]*layers.TransformerBlock
	down, up, reduce [levels]*layers.Conv2d
	mid, refine      *layers.TransformerBlock
	norm             *layers.LayerNorm
	res              *layers.Conv2d // nil without BaryIR
}

func (n *unet) Encode(x *G.Node) (baryir.Encoded, error) {
	const m = 1 << levels
	if s := x.Shape(); len(s) != 4 || s[1] != 3 || s[2]%m != 0 || s[3]%m != 0 {
		return baryir.Encoded{}, fmt.Errorf("unet: input %v, want (B, 3, H, W) with H and W multiples of %d", s, m)
	}
	b := &layers.Builder{}
	h := b.Do(n.in.Forward, x)
	skips := make([]*G.Node, levels)
	for l := range levels {
		skips[l] = b.Do(n.enc[l].Forward, h)
		h = b.Do(n.down[l].Forward, skips[l])
	}
	h = b.Do(n.mid.Forward, h)
	s := b.Do(n.norm.Forward, h)
	return baryir.Encoded{Latent: s, Skips: skips, Norm: n.norm.Forward}, b.Err()
}

func (n *unet) Decode(x *G.Node, e baryir.Encoded, bary, r *G.Node) (*G.Node, error) {
	b := &layers.Builder{}
	h := bary
	if r != nil {
		h = b.N(layers.Add(h, b.Do(n.res.Forward, r)))
	}
	for l := levels - 1; l >= 0; l-- {
		h = b.Do(n.up[l].Forward, h)
		h = b.N(layers.PixelShuffle(h, 2))
		h = b.N(layers.Concat(h, e.Skips[l]))
		if l > 0 {
			h = b.Do(n.reduce[l].Forward, h)
		}
		h = b.Do(n.dec[l].Forward, h)
	}
	h = b.Do(n.refine.Forward, h)
	h = b.Do(n.out.Forward, h)
	return b.N(layers.Add(h, x)), b.Err()
}

type options struct {
	steps, batch, patch, width int
	lr                         float64
	every                      int // steps between checkpoints
	seed                       uint64
	out, resume                string
	baseline, overwrite        bool
}

func main() {
	var o options
	flag.IntVar(&o.steps, "steps", 1500, "training steps")
	flag.IntVar(&o.batch, "batch", 4, "patches per step")
	flag.IntVar(&o.patch, "patch", 64, "patch side (a multiple of 8)")
	flag.IntVar(&o.width, "width", 8, "channels of the U-Net's first level")
	flag.Float64Var(&o.lr, "lr", 4e-3, "Adam's base learning rate of the network (tenfold lower every 20 epochs)")
	flag.IntVar(&o.every, "checkpoint-every", 100, "steps between checkpoints")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of weights, batches and test degradations")
	flag.StringVar(&o.out, "out", "out/plugin", "output folder")
	flag.StringVar(&o.resume, "resume", "", "checkpoint to resume from (same flags as the run that wrote it)")
	flag.BoolVar(&o.baseline, "baseline", false, "train the same U-Net without BaryIR")
	flag.BoolVar(&o.overwrite, "overwrite", false, "start over in an -out folder that holds a checkpoint")
	flag.Parse()
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "plugin:", err)
		os.Exit(1)
	}
}

// Task is one row of results.json.
type Task struct {
	Task         string      `json:"task"`
	DegradedPSNR data.Metric `json:"degraded_psnr"`
	RestoredPSNR data.Metric `json:"restored_psnr"`
	DegradedSSIM data.Metric `json:"degraded_ssim"`
	RestoredSSIM data.Metric `json:"restored_ssim"`
	Images       int         `json:"images"`
}

// Report is results.json.
type Report struct {
	Network      string  `json:"network"`
	Steps        int     `json:"steps"`
	TrainSeconds float64 `json:"train_seconds"`
	Tasks        []Task  `json:"tasks"`
}

func run(o options, stdout, stderr io.Writer) error {
	arch := UNet{Width: o.width, MapBlocks: 1, Baseline: o.baseline}
	cfg := baryir.PaperTraining(arch)
	// As examples/three_degradation's tiny preset: the paper's RMSprop at
	// 2e-4 barely moves in a CPU budget; the potentials keep the slow rate.
	cfg.Optimizer, cfg.LR, cfg.PotentialLR, cfg.LRStepEpochs = baryir.OptimizerAdam, o.lr, 2e-4, 20
	cfg.Batch, cfg.Patch, cfg.Seed = o.batch, o.patch, o.seed
	sources, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		return err
	}
	// The denoise source holds each photo three times (one per sigma):
	// repeat the others as often, and rain twice as often (thin streaks are
	// learnt last), as examples/three_degradation does.
	for _, s := range sources[1:] {
		s.Repeat = sources[0].Len() / s.Len()
	}
	sources[1].Repeat *= 2
	sampler, err := data.NewSampler(sources, cfg.Patch, cfg.Seed)
	if err != nil {
		return err
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
	fmt.Fprintf(stderr, "training %s for %d steps\n", tr, o.steps)
	start := time.Now()
	if _, err := tr.Run(baryir.RunOptions{
		Steps: o.steps, Progress: stderr,
		LogPath:        filepath.Join(o.out, "train.jsonl"),
		CheckpointPath: filepath.Join(o.out, "checkpoint.safetensors"), CheckpointEvery: o.every,
		CurvePath: filepath.Join(o.out, "loss_curve.png"), Overwrite: o.overwrite,
	}); err != nil {
		return err
	}
	rep := Report{Network: arch.String(), Steps: tr.StepCount(), TrainSeconds: time.Since(start).Seconds()}
	sd, err := tr.StateDict()
	if err != nil {
		return err
	}
	weights := filepath.Join(o.out, "weights.safetensors")
	if err := baryir.WriteWeights(weights, sd); err != nil {
		return err
	}
	// The weights read back restore through the library's Restorer, given
	// the architecture they were trained with.
	saved, err := baryir.ReadWeights(weights)
	if err != nil {
		return err
	}
	r, err := baryir.NewRestorer(arch, saved, baryir.RestorerOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	grid := data.Grid{Title: "First test photo of each task", Columns: []string{"degraded", arch.String(), "clean"}}
	for _, d := range data.ThreeDegradations() {
		t, row, err := evaluate(r, d, o.seed)
		if err != nil {
			return err
		}
		rep.Tasks = append(rep.Tasks, t)
		grid.Rows = append(grid.Rows, d.String())
		grid.Tiles = append(grid.Tiles, row)
	}
	if err := grid.WritePNG(filepath.Join(o.out, "grid.png")); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := data.WriteFileAtomic(filepath.Join(o.out, "results.json"), js); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s, %d steps, trained in %.0f s\n", rep.Network, rep.Steps, rep.TrainSeconds)
	fmt.Fprintf(stdout, "%-9s %10s %10s %8s\n", "task", "degraded", "restored", "gain dB")
	for _, t := range rep.Tasks {
		fmt.Fprintf(stdout, "%-9s %10.2f %10.2f %+8.2f\n", t.Task, float64(t.DegradedPSNR), float64(t.RestoredPSNR), float64(t.RestoredPSNR-t.DegradedPSNR))
	}
	return nil
}

// evaluate restores the embedded test photos degraded by d and returns the
// task's mean scores and the grid row of its first photo.
func evaluate(r *baryir.Restorer, d data.Degradation, seed uint64) (Task, []data.GridTile, error) {
	degraded, clean := data.EmbeddedEval(d, seed)
	if len(degraded) == 0 {
		return Task{}, nil, errors.New("no embedded test photos")
	}
	t := Task{Task: d.String(), Images: len(degraded)}
	var row []data.GridTile
	n := float64(len(degraded))
	for i, im := range degraded {
		restored, err := r.Restore(im)
		if err != nil {
			return t, nil, fmt.Errorf("%s: %w", im.Name, err)
		}
		var caps [2]string
		for k, pic := range []*data.Image{im, restored} {
			p, err := data.PSNR(clean[i], pic)
			if err != nil {
				return t, nil, err
			}
			s, err := data.SSIM(clean[i], pic)
			if err != nil {
				return t, nil, err
			}
			if k == 0 {
				t.DegradedPSNR, t.DegradedSSIM = t.DegradedPSNR+data.Metric(p/n), t.DegradedSSIM+data.Metric(s/n)
			} else {
				t.RestoredPSNR, t.RestoredSSIM = t.RestoredPSNR+data.Metric(p/n), t.RestoredSSIM+data.Metric(s/n)
			}
			caps[k] = fmt.Sprintf("PSNR %.2f dB\nSSIM %.3f", p, s)
		}
		if i == 0 {
			row = []data.GridTile{{Image: im, Caption: caps[0]}, {Image: restored, Caption: caps[1]}, {Image: clean[i]}}
		}
	}
	return t, row, nil
}
