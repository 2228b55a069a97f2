package baryir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/x/baryir/internal/safetensors"
)

// A checkpoint is one safetensors file (float64, so resuming is exact):
// "net/<name>" and "pot/<name>" parameters, "opt/net/<i>" and "opt/pot/<i>"
// optimiser buffers, and "meta/..." counters. The data sampler's position
// is not stored: Resume replays the batches already drawn, which a sampler
// built with the same sources and seed reproduces exactly.

// SaveCheckpoint writes the training state to path atomically. In a
// data-parallel job only rank 0 writes (every rank holds the same state);
// the others return nil.
func (t *Trainer) SaveCheckpoint(path string) error {
	if t.Rank() != 0 {
		return nil
	}
	ts := map[string]safetensors.Tensor{}
	putOpt := func(name string, o Optimizer) error {
		st, err := o.State()
		for i, b := range st.Buffers {
			ts[fmt.Sprintf("opt/%s/%d", name, i)] = safetensors.Tensor{Shape: []int{len(b)}, Data: b}
		}
		ts["meta/"+name+"_opt_steps"] = scalarTensor(float64(st.Steps))
		return err
	}
	net, err := t.StateDict()
	if err != nil {
		return err
	}
	for k, v := range net {
		ts["net/"+k] = safetensors.Tensor(v)
	}
	if err := putOpt("net", t.netOpt); err != nil {
		return err
	}
	if t.potScope != nil {
		pot, err := t.Potentials()
		if err != nil {
			return err
		}
		for k, v := range pot {
			ts["pot/"+k] = safetensors.Tensor(v)
		}
		if err := putOpt("pot", t.potOpt); err != nil {
			return err
		}
	}
	ts["meta/step"] = scalarTensor(float64(t.step))
	ts["meta/world_size"] = scalarTensor(float64(t.WorldSize()))
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
// interrupted run would have drawn. A data-parallel run resumes with the
// world size it was saved with, every rank reading path.
func (t *Trainer) Resume(path string) error {
	if t.step != 0 {
		return errors.New("checkpoint: resume needs a fresh trainer")
	}
	ts, meta, err := safetensors.ReadMeta(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if ws, ok := ts["meta/world_size"]; ok && len(ws.Data) == 1 && int(ws.Data[0]) != t.WorldSize() {
		return fmt.Errorf("checkpoint %s: saved by a job of %d rank(s), resumed by one of %d; resume with the same number of ranks (the shards, and so the batches, depend on it)",
			path, int(ws.Data[0]), t.WorldSize())
	}
	if err := checkResume(meta, t.cfg); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := Load(t.net, withPrefix(stateDict(ts), "net/")); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := restoreOpt(ts, "net", t.netOpt); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if t.potScope != nil {
		if err := loadParams(t.potScope.Params(), withPrefix(stateDict(ts), "pot/"), nil); err != nil {
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
	params := nodesOf(t.net.Params())
	if t.potScope != nil {
		params = append(params, nodesOf(t.potScope.Params())...)
	}
	return t.m.Push(params...)
}

func restoreOpt(ts map[string]safetensors.Tensor, name string, o Optimizer) error {
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
	return o.SetState(OptimizerState{Buffers: bufs, Steps: int(steps.Data[0])})
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
// and removes temporary files a killed run left beside the outputs. In a
// data-parallel job only rank 0 writes the log, the progress, the
// checkpoints and the curve.
func (t *Trainer) Run(o RunOptions) ([]StepLog, error) {
	if t.Rank() != 0 {
		o.Progress, o.LogPath, o.CheckpointPath, o.CurvePath = nil, "", "", ""
	}
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
	bar := NewProgress(o.Progress, o.Steps, "train")
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
