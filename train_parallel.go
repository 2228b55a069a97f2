package baryir

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/ot"
)

// Data-parallel training (TrainConfig.Comm) follows the authors' DDP trainer
// (trainer_bary_ddp.py, PyTorch DDP): every rank builds the same network
// and potentials (rank 0's initial values are broadcast, so the seeds need
// not agree), draws its own shard of the batches (data.Shard), and
// computes the whole BaryIR objective (L1, the MWB terms, IRC and BRO) on
// its local batch alone. Before each optimiser step, the network's and the
// potentials' gradients are averaged over the ranks (the mean, in flat
// buckets), so every rank takes the same step and keeps bit-identical
// parameters. For the L1-only Restormer baseline this is exactly training
// on the union of the ranks' batches; for BaryNet the batch-level terms
// (the per-source means, IRC's contrast within the batch) are each rank's
// own, as in the authors' code. The reported losses are the ranks' mean.

// dataParallel is a Trainer's share of a data-parallel job.
type dataParallel struct {
	comm   Comm
	losses []float32 // scratch for averaging the reported losses
}

// gradReducer is implemented by machine backends whose gradient values are
// not host slices the optimiser reads (the GPU's): they reduce in place on
// their own buffers.
type gradReducer interface {
	allReduceGrads(c Comm, b *buckets, grads G.Nodes) error
}

// syncSolver averages the gradients over the ranks, then steps.
type syncSolver struct {
	inner   ot.Solver
	comm    Comm
	buckets *buckets
}

func (s *syncSolver) Update(m ot.Machine, params, grads G.Nodes) error {
	if err := allReduceGrads(m, s.comm, s.buckets, grads); err != nil {
		return errorf("all-reducing the gradients: %w", err)
	}
	return s.inner.Update(m, params, grads)
}

// allReduceMean replaces the values of kept nodes (a training loop's
// gradients, after a run) by their mean over the ranks of b's communicator,
// where the machine holds them: on the CPU in place; on the GPU in place
// on the device with a deviceComm (NCCL), through the host otherwise. Every
// rank must pass nodes of the same shapes in the same order; then every
// rank's optimiser steps alike. b's buckets serve the host collectives.
func (m *Machine) allReduceMean(b *buckets, nodes ...*G.Node) error {
	if b == nil {
		return errorf("allReduceMean needs buckets (newBuckets)")
	}
	return allReduceGrads(m, b.comm, b, nodes)
}

// allReduceGrads replaces the gradients' values on m by their mean over
// the ranks.
func allReduceGrads(m ot.Machine, c Comm, b *buckets, grads G.Nodes) error {
	if _, device := c.(deviceComm); c.Size() == 1 && !device {
		return nil // a job of one on the host; NCCL's still runs, so mpirun -np 1 checks it
	}
	if bm, ok := m.(*Machine); ok {
		if r, ok := bm.be.(gradReducer); ok {
			return r.allReduceGrads(c, b, grads)
		}
		if bm.device != DeviceCPU {
			return errorf("the %s machine cannot all-reduce its gradients", bm.device)
		}
	}
	slices := make([][]float32, len(grads))
	for i, g := range grads {
		v, err := m.Value(g)
		if err != nil {
			return err
		}
		if slices[i] = hostFloats(v); slices[i] == nil {
			return errorf("gradient %s is a %T, not a float32 tensor held by the machine", g.Name(), v)
		}
	}
	return b.AllReduce(slices, true)
}

// hostFloats is the backing array of a float32 tensor, or nil.
func hostFloats(v G.Value) []float32 {
	d, ok := v.(*tensor.Dense)
	if !ok || d.IsView() {
		return nil
	}
	f, _ := d.Data().([]float32)
	return f
}

// joinJob readies the trainer for cfg.Comm: it checks that the sampler
// draws this rank's shard, wraps the optimisers so that they step on the
// ranks' mean gradients, and gives every rank rank 0's initial parameters.
// It runs after build and before the first step, for any Comm, even a job
// of one.
func (t *Trainer) joinJob() error {
	c := t.cfg.Comm
	if c == nil {
		return nil
	}
	if r, n := t.sampler.Shard(); r != c.Rank() || n != c.Size() {
		return errorf("train: the sampler draws shard %d of %d, but this is rank %d of %d; make it with data.Shard(rank, size)",
			r, n, c.Rank(), c.Size())
	}
	t.dp = &dataParallel{comm: c}
	wrap := func(s ot.Solver) (ot.Solver, error) {
		b, err := newBuckets(c, 0)
		return &syncSolver{inner: s, comm: c, buckets: b}, err
	}
	var err error
	if t.netStep, err = wrap(t.netStep); err != nil {
		return err
	}
	if t.potStep, err = wrap(t.potStep); err != nil {
		return err
	}
	if t.ot != nil {
		t.ot.SetSolvers(t.netStep, t.potStep)
	}
	params := nodesOf(t.net.Scope.Params())
	if t.potScope != nil {
		params = append(params, nodesOf(t.potScope.Params())...)
	}
	if err := t.m.Pull(params...); err != nil {
		return err
	}
	for _, p := range params {
		data := hostFloats(p.Value())
		if data == nil {
			return errorf("train: parameter %s is not a float32 tensor", p.Name())
		}
		if err := c.Broadcast(data, 0); err != nil {
			return errorf("train: broadcasting rank 0's parameters: %w", err)
		}
	}
	return t.m.push(params...)
}

// averageLosses replaces the step's losses by their mean over the ranks,
// so that every rank reports, and stops on divergence, alike.
func (t *Trainer) averageLosses(l Losses) (Losses, error) {
	if t.dp == nil || t.dp.comm.Size() == 1 {
		return l, nil
	}
	fields := []*float64{&l.Generator, &l.Potential, &l.L1, &l.Transport, &l.PotTerm, &l.Residual}
	buf := t.dp.losses[:0]
	for _, f := range fields {
		buf = append(buf, float32(*f))
	}
	t.dp.losses = buf
	if err := meanOverRanks(t.dp.comm, buf); err != nil {
		return l, errorf("train: averaging the losses: %w", err)
	}
	for i, f := range fields {
		*f = float64(buf[i])
	}
	return l, nil
}

// rank is this process's rank in the data-parallel job (0 without one);
// only rank 0 writes checkpoints, logs and pictures.
func (t *Trainer) rank() int {
	if t.cfg.Comm == nil {
		return 0
	}
	return t.cfg.Comm.Rank()
}

// worldSize is the number of ranks of the data-parallel job (1 without one).
func (t *Trainer) worldSize() int {
	if t.cfg.Comm == nil {
		return 1
	}
	return t.cfg.Comm.Size()
}
