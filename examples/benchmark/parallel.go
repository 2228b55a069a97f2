package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
)

// Scaling is one world size of the data-parallel measurement (-ranks):
// every rank steps on its own fixed batch of -batch patches, so a step
// trains on ranks x batch patches. CommShare is the part of a step spent
// in the gradients' all-reduce (timed by timedComm), on rank 0: the
// transfer, and the wait for the slowest rank to arrive.
type Scaling struct {
	Ranks       int     `json:"ranks"`
	StepS       float64 `json:"step_s"`
	StepsPerS   float64 `json:"steps_per_s"`
	PatchesPerS float64 `json:"patches_per_s"`
	CommShare   float64 `json:"comm_share"`
	// GOMAXPROCS of each rank: the cores divided among the ranks.
	Procs int `json:"gomaxprocs"`
}

// dpResult is what a data-parallel child (rank 0) prints.
type dpResult struct {
	StepS     float64
	CommShare float64
}

// measureScaling runs the data-parallel child of config name once per
// world size: alone for 1, under mpirun otherwise (this binary must then
// be built with -tags baryirmpi).
func measureScaling(name string, ranks []int, o options) ([]Scaling, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var out []Scaling
	for _, n := range ranks {
		procs := max(1, runtime.NumCPU()/n)
		args := []string{"-child-dp", name, "-reps", strconv.Itoa(o.reps), "-batch", strconv.Itoa(o.batch),
			"-size", strconv.Itoa(o.size), "-gogc", strconv.Itoa(o.gogc)}
		cmd := exec.Command(exe, args...)
		if n > 1 {
			mpirun, err := exec.LookPath("mpirun")
			if err != nil {
				return nil, fmt.Errorf("-ranks %d: mpirun is not on PATH (Debian: openmpi-bin)", n)
			}
			cmd = exec.Command(mpirun, append([]string{"-np", strconv.Itoa(n), "--oversubscribe", exe}, args...)...)
		}
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%d rank(s): %w", n, err)
		}
		var r dpResult
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%d rank(s): child output: %w", n, err)
		}
		out = append(out, makeScaling(n, procs, o.batch, r))
	}
	return out, nil
}

func makeScaling(ranks, procs, batch int, r dpResult) Scaling {
	s := Scaling{Ranks: ranks, StepS: r.StepS, CommShare: r.CommShare, Procs: procs}
	if r.StepS > 0 {
		s.StepsPerS = 1 / r.StepS
		s.PatchesPerS = float64(ranks*batch) / r.StepS
	}
	return s
}

// measureParallel is one rank of the data-parallel child: Trainer.StepOn
// on the rank's first batch, two warm-up steps, then the median of -reps.
// It returns the rank too: rank 0 reports.
func measureParallel(net baryir.Config, o options) (r dpResult, rank int, err error) {
	comm, err := baryir.JoinJob(false)
	if err != nil {
		return r, 0, err
	}
	rank = comm.Rank()
	defer comm.Close()
	timing := &timedComm{Comm: comm}
	cfg := baryir.PaperTraining(net)
	cfg.Batch, cfg.Patch, cfg.Seed, cfg.Comm = o.batch, o.size, 1, timing
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		return r, rank, err
	}
	s, err := data.NewSampler(src, cfg.Patch, cfg.Seed, data.Shard(comm.Rank(), comm.Size()))
	if err != nil {
		return r, rank, err
	}
	batch, err := s.Next(cfg.Batch)
	if err != nil {
		return r, rank, err
	}
	tr, err := baryir.NewTrainer(cfg, s)
	if err != nil {
		return r, rank, err
	}
	defer tr.Close()
	step := func() error { _, err := tr.StepOn(batch); return err }
	for range 2 {
		if err := step(); err != nil {
			return r, rank, err
		}
	}
	comm0, start := timing.spent, time.Now()
	r.StepS, _, err = timed(o.reps, step)
	if err != nil {
		return r, rank, err
	}
	// timed's own two warm-up steps are in both the elapsed time and the
	// all-reduce's.
	r.CommShare = (timing.spent - comm0).Seconds() / time.Since(start).Seconds()
	return r, rank, nil
}

// timedComm sums the time its communicator spends in AllReduce: the
// gradients' all-reduce of every step.
type timedComm struct {
	baryir.Comm
	spent time.Duration
}

func (c *timedComm) AllReduce(buf []float32) error {
	t := time.Now()
	err := c.Comm.AllReduce(buf)
	c.spent += time.Since(t)
	return err
}
