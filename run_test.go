package baryir

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/data"
)

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*TrainConfig)
		want   string
	}{
		{"NaN sigma", func(c *TrainConfig) { c.Sigma = math.NaN() }, "Sigma is NaN"},
		{"Inf beta", func(c *TrainConfig) { c.Beta = math.Inf(1) }, "Beta is +Inf"},
		{"NaN lr", func(c *TrainConfig) { c.LR = math.NaN() }, "LR is NaN"},
		{"NaN pot-lr", func(c *TrainConfig) { c.PotentialLR = math.NaN() }, "PotentialLR is NaN"},
		{"Inf tau", func(c *TrainConfig) { c.Tau = math.Inf(-1) }, "Tau is -Inf"},
		{"lr 5", func(c *TrainConfig) { c.LR = 5 }, "LR 5 out of range"},
		{"lr 0", func(c *TrainConfig) { c.LR = 0 }, "LR 0 out of range (want above 0"},
		{"negative sigma", func(c *TrainConfig) { c.Sigma = -1 }, "Sigma -1 out of range"},
		{"patch 100000", func(c *TrainConfig) { c.Patch = 100000 }, "Patch 100000"},
		{"patch 20", func(c *TrainConfig) { c.Patch = 20 }, "Patch 20 must be a multiple of 8"},
		{"batch 1e9", func(c *TrainConfig) { c.Batch = 1_000_000_000 }, "Batch 1000000000 out of range"},
		{"batch 0", func(c *TrainConfig) { c.Batch = 0 }, "Batch 0"},
		{"lr step", func(c *TrainConfig) { c.LRStepEpochs = -1 }, "LRStepEpochs -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := PaperTraining(Tiny())
			c.mutate(&cfg)
			require.ErrorContains(t, cfg.validate(), c.want)
		})
	}
	ok := PaperTraining(Tiny())
	ok.PotentialLR, ok.Beta = 0, 0 // 0 means "the network's rate" and "no IRC + BRO"
	require.NoError(t, ok.validate())
}

func TestResumeRefusesAnotherSetup(t *testing.T) {
	first, _ := testTraining(t, familyBaryNet, nil)
	ckpt := filepath.Join(t.TempDir(), "ckpt.safetensors")
	_, err := first.Run(RunOptions{Steps: 1, CheckpointPath: ckpt, CheckpointEvery: 1})
	require.NoError(t, err)
	other, _ := testTraining(t, familyBaryNet, func(c *TrainConfig) {
		net := c.Net.(Config)
		net.Refinement = 2
		c.Batch, c.Seed, c.Optimizer, c.Net = 2, 8, OptimizerRMSProp, net
	})
	err = other.Resume(ckpt)
	for _, want := range []string{"different setup", "Batch: checkpoint 3, this run 2", "Seed: checkpoint 7, this run 8",
		"Optimizer: checkpoint adam, this run rmsprop", "Net.Refinement: checkpoint 1, this run 2"} {
		require.ErrorContains(t, err, want)
	}
	same, _ := testTraining(t, familyBaryNet, nil)
	require.NoError(t, same.Resume(ckpt))
}

func TestFreshRunRefusesACheckpoint(t *testing.T) {
	dir := t.TempDir()
	o := RunOptions{Steps: 2, CheckpointPath: filepath.Join(dir, "ckpt.safetensors"), CheckpointEvery: 1, LogPath: filepath.Join(dir, "train.jsonl")}
	first, _ := testTraining(t, familyRestormer, nil)
	_, err := first.Run(o)
	require.NoError(t, err)
	again, _ := testTraining(t, familyRestormer, nil)
	_, err = again.Run(o)
	require.ErrorContains(t, err, "already holds a checkpoint")
	o.Overwrite = true
	_, err = again.Run(o)
	require.NoError(t, err)
	log, err := os.ReadFile(o.LogPath)
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(log), "\n"), "the overwritten run's log starts over:\n%s", log)
}

// A user's hooks see every step after the built-in ones have acted on it
// (the log line and the checkpoint of the step are written), start before
// the first step and end once with the run's error; an error from OnStep
// stops the run there and is what Run returns.
func TestRunHooks(t *testing.T) {
	dir := t.TempDir()
	var progress bytes.Buffer
	o := RunOptions{Steps: 3, CheckpointPath: filepath.Join(dir, "ckpt.safetensors"), CheckpointEvery: 1, LogPath: filepath.Join(dir, "train.jsonl"), Progress: &progress}
	var events []string
	var ended error
	o.Hooks = []Hook{{
		OnStart: func(tr *Trainer) error {
			events = append(events, fmt.Sprintf("start %d", tr.StepCount()))
			return nil
		},
		OnStep: func(tr *Trainer, s Losses) error {
			log, err := os.ReadFile(o.LogPath)
			require.NoError(t, err)
			require.Equal(t, s.Step, strings.Count(string(log), "\n"), "the log holds the step's line")
			was, err := ReadWeights(o.CheckpointPath)
			require.NoError(t, err)
			now, err := tr.StateDict()
			require.NoError(t, err)
			require.Equal(t, now, was, "the checkpoint is the step's")
			require.Equal(t, tr.StepCount(), s.Step)
			require.Greater(t, s.L1, 0.0)
			events = append(events, fmt.Sprintf("step %d", s.Step))
			if s.Step == 2 {
				return errStopped
			}
			return nil
		},
		OnEnd: func(_ *Trainer, hist []Losses, err error) error {
			events = append(events, fmt.Sprintf("end %d", len(hist)))
			ended = err
			return nil
		},
	}}
	tr, _ := testTraining(t, familyRestormer, nil)
	hist, err := tr.Run(o)
	require.ErrorIs(t, err, errStopped)
	require.ErrorIs(t, ended, errStopped)
	require.Len(t, hist, 2)
	require.Equal(t, []string{"start 0", "step 1", "step 2", "end 2"}, events)
	require.Equal(t, 2, tr.StepCount(), "no step after the hook's error")

	require.Contains(t, progress.String(), "2/3", "the progress line shows the steps")
	require.Contains(t, progress.String(), "train L1 ", "and the losses")

	// A failing OnStart ends the hooks started before it and takes no step.
	events = nil
	o.Hooks = append(o.Hooks, Hook{OnStart: func(*Trainer) error { return errStopped }})
	o.Steps = 3
	_, err = tr.Run(o)
	require.ErrorIs(t, err, errStopped)
	require.Equal(t, []string{"start 2", "end 0"}, events)
	require.Equal(t, 2, tr.StepCount())
}

var errStopped = errors.New("stopped by a hook")

// TestResumeCutsTheLog plays a kill after step 4's log line but before its
// checkpoint: the checkpoint is step 2's, the log runs to step 4 and ends in
// half a line, and a temporary file is left. Resuming must end with the log
// and checkpoint of a run never interrupted.
func TestResumeCutsTheLog(t *testing.T) {
	dir := t.TempDir()
	ref := RunOptions{Steps: 4, CheckpointPath: filepath.Join(dir, "ref.safetensors"), CheckpointEvery: 2, LogPath: filepath.Join(dir, "ref.jsonl")}
	whole, _ := testTraining(t, familyRestormer, nil)
	_, err := whole.Run(ref)
	require.NoError(t, err)

	o := RunOptions{Steps: 2, CheckpointPath: filepath.Join(dir, "ckpt.safetensors"), CheckpointEvery: 2, LogPath: filepath.Join(dir, "train.jsonl")}
	first, _ := testTraining(t, familyRestormer, nil)
	_, err = first.Run(o)
	require.NoError(t, err)
	step2, err := os.ReadFile(o.CheckpointPath)
	require.NoError(t, err)
	o.Steps = 4
	_, err = first.Run(o)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(o.CheckpointPath, step2, 0o644))
	f, err := os.OpenFile(o.LogPath, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"step":5,"ep`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	stale := strings.Replace(data.TempPattern(o.CheckpointPath), "*", "123", 1)
	require.NoError(t, os.WriteFile(stale, []byte("half a checkpoint"), 0o600))

	resumed, _ := testTraining(t, familyRestormer, nil)
	require.NoError(t, resumed.Resume(o.CheckpointPath))
	_, err = resumed.Run(o)
	require.NoError(t, err)
	for _, pair := range [][2]string{{ref.LogPath, o.LogPath}, {ref.CheckpointPath, o.CheckpointPath}} {
		want, err := os.ReadFile(pair[0])
		require.NoError(t, err)
		got, err := os.ReadFile(pair[1])
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s differs from the uninterrupted %s", pair[1], pair[0])
	}
	_, err = os.Stat(stale)
	require.True(t, os.IsNotExist(err), "stale temporary file removed")
}

// killSteps and killEvery size the kill -9 loop of TestKillResume.
const killSteps, killEvery = 12, 2

// TestKillResume kills a training process with SIGKILL at random moments
// and resumes it each time, until a run gets to finish; the final checkpoint
// and log must be byte-identical to a run never killed. It runs when
// BARYIR_KILL_RESUME is set to the number of such rounds (see
// scripts/kill_resume.sh).
func TestKillResume(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("BARYIR_KILL_RESUME"))
	if rounds <= 0 {
		t.Skip("set BARYIR_KILL_RESUME=N (scripts/kill_resume.sh) to run N kill-and-resume rounds")
	}
	dir := t.TempDir()
	child := func(out string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillResumeChild$")
		cmd.Env = append(os.Environ(), "BARYIR_KILL_CHILD="+out)
		return cmd
	}
	ref := filepath.Join(dir, "ref")
	start := time.Now()
	if out, err := child(ref).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	full := time.Since(start)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for r := range rounds {
		run := filepath.Join(dir, fmt.Sprint("round", r))
		var kills []string
		for {
			cmd := child(run)
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			wait := time.Duration(rng.Int64N(int64(full) * 7 / 10)) // the first run is the slowest
			if len(kills) == 40 {
				wait = time.Hour // enough kills: let it finish
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(wait):
				_ = cmd.Process.Kill() // SIGKILL
				<-done
				log, _ := os.ReadFile(filepath.Join(run, "train.jsonl"))
				left, _ := filepath.Glob(filepath.Join(run, ".*tmp*"))
				kills = append(kills, fmt.Sprintf("%d lines/%d tmp", bytes.Count(log, []byte("\n")), len(left)))
				continue
			}
			require.NoError(t, err, "a resumed run failed")
			break
		}
		t.Logf("round %d: killed %d times (log lines and temporary files at each kill: %s)", r+1, len(kills), strings.Join(kills, ", "))
		for _, name := range []string{"ckpt.safetensors", "train.jsonl"} {
			want, err := os.ReadFile(filepath.Join(ref, name))
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(run, name))
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got), "%s after %d kills differs from the uninterrupted run", name, len(kills))
		}
	}
}

// TestKillResumeChild is TestKillResume's training process: it resumes from
// the checkpoint in BARYIR_KILL_CHILD when there is one, and trains to
// killSteps.
func TestKillResumeChild(t *testing.T) {
	out := os.Getenv("BARYIR_KILL_CHILD")
	if out == "" {
		t.Skip("run by TestKillResume")
	}
	require.NoError(t, os.MkdirAll(out, 0o755))
	tr, _ := testTraining(t, familyBaryNet, nil)
	o := RunOptions{Steps: killSteps, CheckpointPath: filepath.Join(out, "ckpt.safetensors"), CheckpointEvery: killEvery,
		LogPath: filepath.Join(out, "train.jsonl")}
	if _, err := os.Stat(o.CheckpointPath); err == nil {
		require.NoError(t, tr.Resume(o.CheckpointPath))
	}
	if _, err := tr.Run(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		t.Fatal(err)
	}
}
