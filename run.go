package baryir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/x/baryir/data"
)

// RunOptions say how long to train and what to write along the way. The
// zero value of every field but Steps writes nothing. LogPath,
// CheckpointPath, CurvePath and Progress are built-in hooks; Hooks adds
// your own.
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
	// Hooks run after the built-in ones (log, progress, checkpoint,
	// curve), in the order given, on every rank of a data-parallel job
	// (TrainConfig.Comm tells a hook which rank it runs on).
	Hooks []Hook
}

// A Hook watches a run from outside its loop, as the JSONL log, the
// progress line, the checkpoints and the loss curve do. Run calls OnStart
// once before the first step (the trainer's StepCount is 0, or the step a
// resumed run starts after), OnStep after every step, and OnEnd once when
// the run stops: err is what stopped it, nil when it reached
// RunOptions.Steps, and hist the steps it took. Nil functions are skipped.
// An error from OnStart or OnStep stops the run (a hook stops training
// early this way) and is what Run returns; an error from OnEnd is returned
// when the run had none. Whatever stops the run, OnEnd is called for every
// hook started: all of them once the steps begin, else those before the
// OnStart that failed.
type Hook struct {
	OnStart func(t *Trainer) error
	OnStep  func(t *Trainer, l Losses) error
	OnEnd   func(t *Trainer, hist []Losses, err error) error
}

// Run trains until Steps, returning the log of the steps it took. A
// diverging loss stops it with ErrDiverged; the last checkpoint written
// stays as it was. Before the first step it refuses to start a fresh run
// over a checkpoint (see Overwrite), cuts the log back to the trainer's step
// and removes temporary files a killed run left beside the outputs. In a
// data-parallel job only rank 0 writes the log, the progress, the
// checkpoints and the curve.
func (t *Trainer) Run(o RunOptions) ([]Losses, error) {
	if t.rank() != 0 {
		o.Progress, o.LogPath, o.CheckpointPath, o.CurvePath = nil, "", "", ""
	}
	if t.step == 0 && o.CheckpointPath != "" && !o.Overwrite {
		if _, err := os.Stat(o.CheckpointPath); err == nil {
			return nil, errorf("train: %s already holds a checkpoint; resume from it or set RunOptions.Overwrite (-resume or -overwrite) to start over", o.CheckpointPath)
		}
	}
	hooks := append(o.builtinHooks(), o.Hooks...)
	for i, h := range hooks {
		if h.OnStart == nil {
			continue
		}
		if err := h.OnStart(t); err != nil {
			return nil, endHooks(t, hooks[:i], nil, err)
		}
	}
	hist, err := t.steps(o.Steps, hooks)
	return hist, endHooks(t, hooks, hist, err)
}

// steps trains until step n, calling the hooks' OnStep after each step, and
// returns the steps taken and what stopped them early.
func (t *Trainer) steps(n int, hooks []Hook) ([]Losses, error) {
	var hist []Losses
	for t.step < n {
		l, err := t.Step()
		if err != nil {
			return hist, err
		}
		hist = append(hist, l)
		for _, h := range hooks {
			if h.OnStep == nil {
				continue
			}
			if err := h.OnStep(t, l); err != nil {
				return hist, err
			}
		}
	}
	return hist, nil
}

// endHooks calls the hooks' OnEnd in order and returns err, or else the
// first of their errors.
func endHooks(t *Trainer, hooks []Hook, hist []Losses, err error) error {
	for _, h := range hooks {
		if h.OnEnd == nil {
			continue
		}
		if e := h.OnEnd(t, hist, err); err == nil {
			err = e
		}
	}
	return err
}

// builtinHooks are the hooks of o's paths and writer, in the order they
// act after a step: the log line is written before the checkpoint of its
// step, so that a resumed run's log has every step.
func (o RunOptions) builtinHooks() []Hook {
	var hooks []Hook
	if o.LogPath != "" {
		hooks = append(hooks, logHook(o.LogPath))
	}
	if o.Progress != nil {
		hooks = append(hooks, progressHook(o.Progress, o.Steps))
	}
	if o.CheckpointPath != "" && o.CheckpointEvery > 0 {
		hooks = append(hooks, checkpointHook(o.CheckpointPath, o.CheckpointEvery, o.Steps))
	}
	if o.CurvePath != "" {
		hooks = append(hooks, curveHook(o.CurvePath))
	}
	return hooks
}

// logHook appends each step's Losses as a JSON line to the file at path,
// after cutting it back to the trainer's step.
func logHook(path string) Hook {
	var f *os.File
	return Hook{
		OnStart: func(t *Trainer) error {
			if err := removeStale(path); err != nil {
				return err
			}
			if err := cutLog(path, t.step); err != nil {
				return errorf("train: log: %w", err)
			}
			var err error
			f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return errorf("train: log: %w", err)
			}
			return nil
		},
		OnStep: func(_ *Trainer, s Losses) error {
			line, err := json.Marshal(s)
			if err == nil {
				_, err = f.Write(append(line, '\n'))
			}
			if err != nil {
				return errorf("train: log: %w", err)
			}
			return nil
		},
		OnEnd: func(*Trainer, []Losses, error) error { return f.Close() },
	}
}

// progressHook draws a Progress line of the run's steps on w, showing the
// last step's losses, and completes it when the run reaches its steps.
func progressHook(w io.Writer, steps int) Hook {
	var bar *progressBar
	return Hook{
		OnStart: func(t *Trainer) error {
			bar = startProgress(w, steps, "train")
			bar.Set(t.step)
			return nil
		},
		OnStep: func(_ *Trainer, s Losses) error {
			bar.SetInfo(fmt.Sprintf("L1 %.4f gen %.4g pot %.4g", s.L1, s.Generator, s.Potential))
			bar.Set(s.Step)
			return nil
		},
		OnEnd: func(_ *Trainer, _ []Losses, err error) error {
			if err == nil {
				bar.Finish()
			}
			return nil
		},
	}
}

// checkpointHook writes a checkpoint to path every few steps and at the
// last step.
func checkpointHook(path string, every, steps int) Hook {
	return Hook{
		OnStart: func(*Trainer) error { return removeStale(path) },
		OnStep: func(t *Trainer, s Losses) error {
			if s.Step%every == 0 || s.Step == steps {
				return t.SaveCheckpoint(path)
			}
			return nil
		},
	}
}

// curveHook draws the loss curve of the steps taken to path when the run
// reaches its steps.
func curveHook(path string) Hook {
	return Hook{
		OnStart: func(*Trainer) error { return removeStale(path) },
		OnEnd: func(_ *Trainer, hist []Losses, err error) error {
			if err != nil || len(hist) == 0 {
				return nil
			}
			return writeLossCurve(path, hist)
		},
	}
}

// removeStale removes the temporary files a killed run left beside path.
func removeStale(path string) error {
	stale, _ := filepath.Glob(data.TempPattern(path))
	for _, s := range stale {
		if err := os.Remove(s); err != nil {
			return errorf("train: removing a stale temporary file: %w", err)
		}
	}
	return nil
}

// maxLogBytes is the largest JSONL log Run reads back to cut it: over a
// million steps' lines.
const maxLogBytes = 1 << 30

// cutLog rewrites the JSONL log at path to its lines up to step (a run
// resumed from an older checkpoint redoes the later ones): it keeps the
// lines before the first that is not the record of a step up to step, such
// as a line cut short by a kill. A missing log is fine.
func cutLog(path string, step int) error {
	raw, err := data.ReadFile(path, maxLogBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var kept bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Step *int `json:"step"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Step == nil || *l.Step > step {
			break // a later step, or a line cut by a kill: the rest is redone
		}
		kept.Write(sc.Bytes())
		kept.WriteByte('\n')
	}
	if kept.Len() == len(raw) {
		return nil
	}
	return data.WriteFileAtomic(path, kept.Bytes())
}
