package baryir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/x/baryir/internal/optim"
	"github.com/x/baryir/internal/plot"
	"github.com/x/baryir/internal/progress"
	"github.com/x/baryir/internal/safetensors"
	"github.com/x/baryir/layers"
)

// A checkpoint is one safetensors file (float64, so resuming is exact):
// "net/<name>" and "pot/<name>" parameters, "opt/net/<i>" and "opt/pot/<i>"
// optimiser buffers, and "meta/..." counters. The data sampler's position
// is not stored: Resume replays the batches already drawn, which a sampler
// built with the same sources and seed reproduces exactly.

// SaveCheckpoint writes the training state to path atomically.
func (t *Trainer) SaveCheckpoint(path string) error {
	if err := t.toHost(); err != nil {
		return err
	}
	ts := map[string]safetensors.Tensor{}
	put := func(prefix string, ps []layers.Param) error {
		sd, err := Save(ps)
		for k, v := range sd {
			ts[prefix+k] = v
		}
		return err
	}
	if err := put("net/", t.net.Params()); err != nil {
		return err
	}
	putOpt := func(name string, o optim.Optimizer) {
		bufs, steps := o.State()
		for i, b := range bufs {
			ts[fmt.Sprintf("opt/%s/%d", name, i)] = safetensors.Tensor{Shape: []int{len(b)}, Data: b}
		}
		ts["meta/"+name+"_opt_steps"] = scalarTensor(float64(steps))
	}
	putOpt("net", t.netOpt)
	if t.potScope != nil {
		if err := put("pot/", t.potScope.Params()); err != nil {
			return err
		}
		putOpt("pot", t.potOpt)
	}
	ts["meta/step"] = scalarTensor(float64(t.step))
	setup, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := safetensors.WriteMeta(path, ts, true, map[string]string{metaTrainConfig: string(setup)}); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func scalarTensor(v float64) safetensors.Tensor {
	return safetensors.Tensor{Shape: []int{}, Data: []float64{v}}
}

// A checkpoint's header also records the TrainConfig of the run that wrote
// it, so that Resume can refuse another setup by name.

// Resume restores the state SaveCheckpoint wrote. The trainer must have been
// made with the same config (Resume names each field that differs; only
// Device may) and a fresh sampler with the same sources and seed; the
// batches already drawn are replayed so the next one is the one the
// interrupted run would have drawn.
func (t *Trainer) Resume(path string) error {
	if t.step != 0 {
		return errors.New("checkpoint: resume needs a fresh trainer")
	}
	ts, meta, err := safetensors.ReadMeta(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := checkResume(meta, t.cfg); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := Load(t.net, withPrefix(ts, "net/")); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := restoreOpt(ts, "net", t.netOpt); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if t.potScope != nil {
		if err := loadParams(t.potScope.Params(), withPrefix(ts, "pot/"), nil); err != nil {
			return fmt.Errorf("checkpoint %s: potentials: %w", path, err)
		}
		if err := restoreOpt(ts, "pot", t.potOpt); err != nil {
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
	}
	step, ok := ts["meta/step"]
	if !ok || len(step.Data) != 1 {
		return fmt.Errorf("checkpoint %s: no step count", path)
	}
	for range int(step.Data[0]) {
		if _, err := t.sampler.Next(t.cfg.Batch); err != nil {
			return fmt.Errorf("checkpoint: replaying the data: %w", err)
		}
	}
	t.step = int(step.Data[0])
	return t.toDevice()
}

func restoreOpt(ts map[string]safetensors.Tensor, name string, o optim.Optimizer) error {
	steps, ok := ts["meta/"+name+"_opt_steps"]
	if !ok {
		return fmt.Errorf("no %s optimiser state", name)
	}
	var bufs [][]float64
	for i := 0; ; i++ {
		b, ok := ts[fmt.Sprintf("opt/%s/%d", name, i)]
		if !ok {
			break
		}
		bufs = append(bufs, b.Data)
	}
	if len(bufs) == 0 {
		bufs = nil // no step taken yet
	}
	return o.SetState(bufs, int(steps.Data[0]))
}

// RunOptions say how long to train and what to write along the way.
type RunOptions struct {
	Steps           int       // train until StepCount reaches Steps
	Progress        io.Writer // progress bar with losses, rate and ETA; nil for none
	LogPath         string    // JSONL, one line per step, after the lines up to the trainer's step; "" for none
	CheckpointPath  string    // "" for none
	CheckpointEvery int       // steps between checkpoints (and one at the end)
	CurvePath       string    // loss-curve PNG written at the end; "" for none
	// Overwrite lets a fresh trainer (step 0) start over an existing
	// checkpoint at CheckpointPath; without it Run refuses, so that a
	// forgotten -resume loses no work.
	Overwrite bool
}

// StepLog is one line of the JSONL log.
type StepLog struct {
	Step  int     `json:"step"`
	Epoch int     `json:"epoch"`
	LR    float64 `json:"lr"`
	Losses
}

// Run trains until Steps, returning the log of the steps it took. A
// diverging loss stops it with ErrDiverged; the last checkpoint written
// stays as it was. Before the first step it refuses to start a fresh run
// over a checkpoint (see Overwrite), cuts the log back to the trainer's step
// and removes temporary files a killed run left beside the outputs.
func (t *Trainer) Run(o RunOptions) ([]StepLog, error) {
	if err := prepareRun(t.step, o); err != nil {
		return nil, err
	}
	var logFile *os.File
	if o.LogPath != "" {
		f, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		logFile = f
	}
	bar := progress.New(io.Discard, o.Steps, "train")
	if o.Progress != nil {
		bar = progress.New(o.Progress, o.Steps, "train")
	}
	bar.Set(t.step)
	var hist []StepLog
	for t.step < o.Steps {
		l, err := t.Step()
		if err != nil {
			return hist, err
		}
		entry := StepLog{Step: t.step, Epoch: t.Epoch(), LR: t.LR(), Losses: l}
		hist = append(hist, entry)
		if logFile != nil {
			line, _ := json.Marshal(entry)
			if _, err := logFile.Write(append(line, '\n')); err != nil {
				return hist, err
			}
		}
		bar.SetInfo(fmt.Sprintf("L1 %.4f gen %.4g pot %.4g", l.L1, l.Generator, l.Potential))
		bar.Set(t.step)
		if o.CheckpointPath != "" && o.CheckpointEvery > 0 && (t.step%o.CheckpointEvery == 0 || t.step == o.Steps) {
			if err := t.SaveCheckpoint(o.CheckpointPath); err != nil {
				return hist, err
			}
		}
	}
	bar.Finish()
	if o.CurvePath != "" && len(hist) > 0 {
		if err := WriteLossCurve(o.CurvePath, hist); err != nil {
			return hist, err
		}
	}
	return hist, nil
}

// WriteLossCurve draws the L1 loss (and the barycenter terms when present)
// against the step, on a log scale, as a PNG. Each curve is a running mean
// over about 1/50 of the run, since single steps scatter over decades.
func WriteLossCurve(path string, hist []StepLog) error {
	steps := make([]float64, len(hist))
	series := map[string][]float64{}
	names := []string{"L1", "transport", "abs potential term", "IRC+BRO"}
	for i, h := range hist {
		steps[i] = float64(h.Step)
		for j, v := range []float64{h.L1, h.Transport, math.Abs(h.PotTerm), h.Residual} {
			series[names[j]] = append(series[names[j]], v)
		}
	}
	chart := plot.Line{Title: "training losses (running mean)", XLabel: "step", YLabel: "loss", LogY: true}
	window := max(1, len(hist)/50)
	for _, name := range names {
		if anyPositive(series[name]) {
			chart.Series = append(chart.Series, plot.Series{Name: name, X: steps, Y: runningMean(series[name], window)})
		}
	}
	img, err := chart.Image()
	if err != nil {
		return fmt.Errorf("loss curve: %w", err)
	}
	return plot.WritePNG(path, img)
}

// runningMean averages each value with up to window-1 values before it.
func runningMean(v []float64, window int) []float64 {
	out := make([]float64, len(v))
	sum := 0.0
	for i, x := range v {
		sum += x
		if i >= window {
			sum -= v[i-window]
		}
		out[i] = sum / float64(min(i+1, window))
	}
	return out
}

func anyPositive(v []float64) bool {
	for _, x := range v {
		if x > 0 {
			return true
		}
	}
	return false
}
