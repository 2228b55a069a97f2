package main

import (
	"path/filepath"
	"slices"

	"github.com/x/baryir/data"
)

// outputNames are the files a run writes into -out.
var outputNames = []string{"train.jsonl", "checkpoint.safetensors", "loss_curve.png", "weights.safetensors",
	"results.json", "grid.png", "grid_all.png", "ood_grid.png", "latents.png"}

// guardOutputs checks, before any work, that -out is no input folder and
// that none of the files written into it is an input (-baseline-weights,
// -resume), by identity and canonical path (data.Guard), and that -out can
// be written. The checkpoint is the one output -resume may name: resuming
// in place reads it whole before the run rewrites it.
func guardOutputs(o options) error {
	var all, resume data.Guard
	folders := []struct{ flag, dir string }{
		{"-train", o.train}, {"-bsd68", o.bsd68}, {"-rain100l", o.rainyDir}, {"-rain100l-clean", o.rainCleanDir},
		{"-sots", o.hazyDir}, {"-sots-clear", o.clearDir}, {"-ood-clean", o.extra.oodClean},
		{"-gopro", o.extra.gopro}, {"-gopro-sharp", o.extra.goproGT}, {"-lol", o.extra.lol}, {"-lol-high", o.extra.lolGT},
	}
	for _, p := range o.extra.oodPairs {
		folders = append(folders, struct{ flag, dir string }{"-ood-pairs", p.degraded}, struct{ flag, dir string }{"-ood-pairs", p.clean})
	}
	for _, f := range folders {
		if f.dir != "" {
			if err := all.Input(f.flag, f.dir); err != nil {
				return err
			}
		}
	}
	if o.baselineWeights != "" {
		if err := all.Input("-baseline-weights", o.baselineWeights); err != nil {
			return err
		}
	}
	if o.resume != "" {
		if err := resume.Input("-resume", o.resume); err != nil {
			return err
		}
	}
	if err := all.OutputFolder("-out", o.out); err != nil {
		return err
	}
	for _, name := range slices.Concat(outputNames, analysisOutputs(o)) {
		p := filepath.Join(o.out, name)
		if err := all.Output("-out", p); err != nil {
			return err
		}
		if name != "checkpoint.safetensors" {
			if err := resume.Output("-out", p); err != nil {
				return err
			}
		}
	}
	return nil
}
