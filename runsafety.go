package baryir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	goreflect "reflect" // the package has its own reflect (inference.go)
	"strings"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/safetensors"
)

// Bounds of TrainConfig.Validate beyond which a setting is a mistake rather
// than a choice: a patch or batch past them would ask for tens of gigabytes
// before the first step.
const (
	MaxPatch = 4096
	MaxBatch = 4096
)

// checkNumbers names the first TrainConfig field that is NaN, infinite or
// outside its sensible range.
func (c TrainConfig) checkNumbers() error {
	for _, f := range []struct {
		name   string
		v      float64
		lo, hi float64
		zeroOK bool // 0 is allowed (PotentialLR 0 means LR; Sigma or Beta 0 switch a loss off)
	}{
		{"LR", c.LR, 0, 1, false},
		{"PotentialLR", c.PotentialLR, 0, 1, true},
		{"Sigma", c.Sigma, 0, 1e12, true},
		{"Beta", c.Beta, 0, 1e12, true},
		{"Tau", c.Tau, 0, 1e6, false},
	} {
		switch {
		case math.IsNaN(f.v) || math.IsInf(f.v, 0):
			return fmt.Errorf("train: %s is %g; want a finite number", f.name, f.v)
		case f.v < f.lo || f.v > f.hi || f.v == 0 && !f.zeroOK:
			lo := "above 0"
			if f.zeroOK {
				lo = "at least 0"
			}
			return fmt.Errorf("train: %s %g out of range (want %s and at most %g)", f.name, f.v, lo, f.hi)
		}
	}
	switch {
	case c.Batch < 1 || c.Batch > MaxBatch:
		return fmt.Errorf("train: Batch %d out of range (want 1 to %d)", c.Batch, MaxBatch)
	case c.Patch < 16 || c.Patch%8 != 0 || c.Patch > MaxPatch:
		return fmt.Errorf("train: Patch %d must be a multiple of 8 from 16 to %d", c.Patch, MaxPatch)
	case c.LRStepEpochs < 0:
		return fmt.Errorf("train: LRStepEpochs %d must not be negative", c.LRStepEpochs)
	}
	return nil
}

// metaTrainConfig is the checkpoint metadata key holding the TrainConfig
// (JSON) of the run that wrote it.
const metaTrainConfig = "baryir.train_config"

// resumeFields lists how the checkpoint's run and this trainer differ, one
// "Field: checkpoint X, this run Y" per field (the network's as Net.Field).
// Device may differ: the same run can move between CPU and GPU.
func resumeFields(saved, now TrainConfig) []string {
	var diffs []string
	walkFields("", goreflect.ValueOf(saved), goreflect.ValueOf(now), &diffs)
	return diffs
}

// walkFields appends to diffs the fields of structs a and b that differ.
func walkFields(prefix string, a, b goreflect.Value, diffs *[]string) {
	for i := range a.NumField() {
		f := a.Type().Field(i)
		name := prefix + f.Name
		if name == "Device" || f.Tag.Get("json") == "-" {
			continue // where it runs, and what is not recorded (the job's Comm)
		}
		if f.Type.Kind() == goreflect.Struct {
			walkFields(name+".", a.Field(i), b.Field(i), diffs)
			continue
		}
		if !goreflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			*diffs = append(*diffs, fmt.Sprintf("%s: checkpoint %v, this run %v", name, a.Field(i).Interface(), b.Field(i).Interface()))
		}
	}
}

// netFields lists how the checkpoint's network (JSON) and now differ:
// field by field for two Configs, as a whole otherwise.
func netFields(saved json.RawMessage, now Architecture) ([]string, error) {
	if cfg, ok := now.(Config); ok {
		var was Config
		if err := json.Unmarshal(saved, &was); err == nil {
			var diffs []string
			walkFields("Net.", goreflect.ValueOf(was), goreflect.ValueOf(cfg), &diffs)
			return diffs, nil
		}
	}
	nowJSON, err := json.Marshal(now)
	if err != nil {
		return nil, fmt.Errorf("the network %s has no JSON form: %w", describe(now), err)
	}
	var a, b any
	if json.Unmarshal(saved, &a) != nil || json.Unmarshal(nowJSON, &b) != nil || !goreflect.DeepEqual(a, b) {
		return []string{fmt.Sprintf("Net: checkpoint %s, this run %s (%s)", saved, nowJSON, describe(now))}, nil
	}
	return nil, nil
}

// checkResume refuses a checkpoint written with another setup. Checkpoints
// written before the setup was recorded carry none and are not checked.
func checkResume(meta map[string]string, now TrainConfig) error {
	raw, ok := meta[metaTrainConfig]
	if !ok {
		return nil
	}
	// Net is an Architecture: read as JSON, and compared as its fields
	// where both are Configs, else as JSON.
	var saved struct {
		TrainConfig
		Net json.RawMessage
	}
	if err := json.Unmarshal([]byte(raw), &saved); err != nil {
		return fmt.Errorf("unreadable training setup in the checkpoint: %w", err)
	}
	d, err := netFields(saved.Net, now.Net)
	if err != nil {
		return err
	}
	now.Net = nil
	if d = append(d, resumeFields(saved.TrainConfig, now)...); len(d) > 0 {
		return fmt.Errorf("written by a run with a different setup; resume with the same flags, or start a new run:\n  %s", strings.Join(d, "\n  "))
	}
	return nil
}

// prepareRun readies Run's outputs: a fresh trainer refuses to start over a
// checkpoint unless told to overwrite it; the log keeps only the steps up to
// the trainer's (so a resumed run's lines follow on, never repeat); and
// temporary files that a killed run left beside the outputs are removed.
func prepareRun(step int, o RunOptions) error {
	if step == 0 && o.CheckpointPath != "" && !o.Overwrite {
		if _, err := os.Stat(o.CheckpointPath); err == nil {
			return fmt.Errorf("train: %s already holds a checkpoint; resume from it or set RunOptions.Overwrite (-resume or -overwrite) to start over", o.CheckpointPath)
		}
	}
	for _, p := range []string{o.CheckpointPath, o.CurvePath, o.LogPath} {
		if p == "" {
			continue
		}
		stale, _ := filepath.Glob(data.TempPattern(p))
		for _, s := range stale {
			if err := os.Remove(s); err != nil {
				return fmt.Errorf("train: removing a stale temporary file: %w", err)
			}
		}
	}
	if o.LogPath != "" {
		return cutLog(o.LogPath, step)
	}
	return nil
}

// cutLog rewrites the JSONL log at path without the lines of steps after
// step (a run resumed from an older checkpoint repeats them). A missing log
// is fine; a line that is not a step record is kept.
func cutLog(path string, step int) error {
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
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
	return safetensors.WriteFileAtomic(path, kept.Bytes())
}
