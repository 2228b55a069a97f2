package baryir

import (
	"encoding/json"
	"fmt"
	goreflect "reflect" // the package has its own reflect (inference.go)
	"strings"

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
	if t.rank() != 0 {
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
		pot, err := t.potentials()
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
	ts["meta/world_size"] = scalarTensor(float64(t.worldSize()))
	setup, err := json.Marshal(t.cfg)
	if err != nil {
		return errorf("checkpoint: %w", err)
	}
	if err := safetensors.WriteMeta(path, ts, true, map[string]string{metaTrainConfig: string(setup)}); err != nil {
		return errorf("checkpoint: %w", err)
	}
	return nil
}

func scalarTensor(v float64) safetensors.Tensor {
	return safetensors.Tensor{Shape: []int{}, Data: []float64{v}}
}

// Resume restores the state SaveCheckpoint wrote. The trainer must have been
// made with the same config (Resume names each field that differs; only
// Device may) and a fresh sampler with the same sources and seed; the
// batches already drawn are replayed so the next one is the one the
// interrupted run would have drawn. A data-parallel run resumes with the
// world size it was saved with, every rank reading path.
func (t *Trainer) Resume(path string) error {
	if t.step != 0 {
		return errorf("checkpoint: resume needs a fresh trainer")
	}
	ts, meta, err := safetensors.ReadMeta(path)
	if err != nil {
		return errorf("checkpoint: %w", err)
	}
	if ws, ok := ts["meta/world_size"]; ok && len(ws.Data) == 1 && int(ws.Data[0]) != t.worldSize() {
		return errorf("checkpoint %s: saved by a job of %d rank(s), resumed by one of %d; resume with the same number of ranks (the shards, and so the batches, depend on it)",
			path, int(ws.Data[0]), t.worldSize())
	}
	if err := checkResume(meta, t.cfg); err != nil {
		return errorf("checkpoint %s: %w", path, err)
	}
	if err := Load(t.net, withPrefix(stateDict(ts), "net/")); err != nil {
		return errorf("checkpoint %s: %w", path, err)
	}
	if err := restoreOpt(ts, "net", t.netOpt); err != nil {
		return errorf("checkpoint %s: %w", path, err)
	}
	if t.potScope != nil {
		if err := loadParams(t.potScope.Params(), withPrefix(stateDict(ts), "pot/"), nil); err != nil {
			return errorf("checkpoint %s: potentials: %w", path, err)
		}
		if err := restoreOpt(ts, "pot", t.potOpt); err != nil {
			return errorf("checkpoint %s: %w", path, err)
		}
	}
	step, ok := ts["meta/step"]
	if !ok || len(step.Data) != 1 {
		return errorf("checkpoint %s: no step count", path)
	}
	for range int(step.Data[0]) {
		if _, err := t.sampler.Next(t.cfg.Batch); err != nil {
			return errorf("checkpoint: replaying the data: %w", err)
		}
	}
	t.step = int(step.Data[0])
	params := nodesOf(t.net.Scope.Params())
	if t.potScope != nil {
		params = append(params, nodesOf(t.potScope.Params())...)
	}
	return t.m.push(params...)
}

func restoreOpt(ts map[string]safetensors.Tensor, name string, o Optimizer) error {
	steps, ok := ts["meta/"+name+"_opt_steps"]
	if !ok {
		return errorf("no %s optimiser state", name)
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

// A checkpoint's header also records the TrainConfig of the run that wrote
// it, so that Resume can refuse another setup by name.

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
		switch {
		case f.Anonymous: // an embedded struct's fields read as the outer one's (Sigma)
			walkFields(prefix, a.Field(i), b.Field(i), diffs)
			continue
		case f.Type.Kind() == goreflect.Struct:
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
		return nil, errorf("the network %s has no JSON form: %w", describe(now), err)
	}
	var a, b any
	if json.Unmarshal(saved, &a) != nil || json.Unmarshal(nowJSON, &b) != nil || !goreflect.DeepEqual(a, b) {
		return []string{fmt.Sprintf("Net: checkpoint %s, this run %s (%s)", saved, nowJSON, describe(now))}, nil
	}
	return nil, nil
}

// currentSetup rewrites a setup recorded in an earlier form as the current
// one, so that such checkpoints resume: enums recorded by name ("adam",
// "bf16", a map's "mlp") become their values, a network's family recorded
// as "Arch" becomes its Map (MapNone for "restormer"), and the objective's
// switches recorded under "Ablate" ({"NoMWB": true}) move beside Sigma.
// Other setups come back as they are.
func currentSetup(raw []byte) []byte {
	var setup map[string]any
	if json.Unmarshal(raw, &setup) != nil {
		return raw
	}
	renamed := false
	number := func(m map[string]any, key string, parse func(string) (uint8, error)) {
		if name, ok := m[key].(string); ok {
			if v, err := parse(name); err == nil {
				m[key], renamed = v, true
			}
		}
	}
	number(setup, "Optimizer", func(s string) (uint8, error) { k, err := ParseOptimizer(s); return uint8(k), err })
	number(setup, "Precision", func(s string) (uint8, error) { p, err := ParsePrecision(s); return uint8(p), err })
	// A Config, or PromptIR's under its own Net.
	for net, ok := setup["Net"].(map[string]any); ok; net, ok = net["Net"].(map[string]any) {
		number(net, "Map", func(s string) (uint8, error) { a, err := ParseMapArch(s); return uint8(a), err })
		if arch, ok := net["Arch"]; ok { // "barynet", or "restormer": no map
			delete(net, "Arch")
			if arch == "restormer" {
				net["Map"] = float64(MapNone)
			}
			renamed = true
		}
	}
	if ablate, ok := setup["Ablate"].(map[string]any); ok {
		delete(setup, "Ablate")
		for k, v := range ablate {
			setup[k] = v
		}
		renamed = true
	}
	if !renamed {
		return raw
	}
	out, err := json.Marshal(setup)
	if err != nil {
		return raw
	}
	return out
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
	if err := json.Unmarshal(currentSetup([]byte(raw)), &saved); err != nil {
		return errorf("unreadable training setup in the checkpoint: %w", err)
	}
	d, err := netFields(saved.Net, now.Net)
	if err != nil {
		return err
	}
	now.Net = nil
	if d = append(d, resumeFields(saved.TrainConfig, now)...); len(d) > 0 {
		return errorf("written by a run with a different setup; resume with the same flags, or start a new run:\n  %s", strings.Join(d, "\n  "))
	}
	return nil
}
