//go:build baryirgpu

package baryir

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/gpu"
	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/internal/optim"
)

// gpuTrainer runs a Trainer's graph on the GPU: compiled once (every
// phase's loss and gradients, and the reported losses), one gpu.Phase per
// phase, the device's RMSProp or Adam per phase with the hyperparameters of
// the trainer's internal/optim optimiser.
type gpuTrainer struct {
	t      *Trainer
	d      *gpu.Device
	e      *gpu.Executor
	phases []trainPhase
	runs   []*gpu.Phase
	opts   []gpu.Optimiser // *gpu.RMSProp or *gpu.Adam, per phase
	steps  []int           // optimiser steps per phase (RMSProp's count for checkpoints)
	inputs G.Nodes         // fed from the graph's values every step
	watch  G.Nodes
	snap   gpu.Buf // the watched losses, copied after the first phase
	vals   []float32
}

func newGPUTrainer(t *Trainer, phases []trainPhase, watch G.Nodes) (deviceTrainer, error) {
	d, err := openGPU()
	if err != nil {
		return nil, err
	}
	g := &gpuTrainer{t: t, d: d, phases: phases, watch: watch, vals: make([]float32, len(watch))}
	for _, n := range (G.Nodes{t.x, t.y, t.sw, t.ids}) {
		if n != nil {
			g.inputs = append(g.inputs, n)
		}
	}
	var keep G.Nodes
	for _, p := range phases {
		keep = append(append(keep, p.loss), p.grads...)
	}
	for _, w := range watch {
		if w.Shape().TotalSize() > 1 {
			return nil, fmt.Errorf("reported loss %s is not a scalar", w.Name())
		}
	}
	keep = append(keep, watch...)
	if g.e, err = gpu.Compile(d, t.g, keep...); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			g.close()
		}
	}()
	for i, p := range phases {
		roots := append(G.Nodes{p.loss}, p.grads...)
		if i == 0 {
			roots = append(roots, watch...) // as ot.Trainer's map machine reads them
		}
		run, err := g.e.Phase(roots...)
		if err != nil {
			return nil, err
		}
		g.runs = append(g.runs, run)
		switch o := p.opt.(type) {
		case *optim.RMSProp:
			g.opts = append(g.opts, &gpu.RMSProp{LR: o.LR, Decay: o.Alpha, Eps: o.Eps, TorchEps: true})
		case *optim.Adam:
			g.opts = append(g.opts, &gpu.Adam{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps})
		default:
			return nil, fmt.Errorf("no GPU version of optimiser %T", p.opt)
		}
		_, steps := p.opt.State()
		g.steps = append(g.steps, steps)
	}
	g.snap = d.Alloc(max(len(watch), 1))
	if err := d.Err(); err != nil {
		return nil, err
	}
	ok = true
	return g, nil
}

// step takes one step; phase 0 (the network) runs at lr, later ones (the
// potentials) at potLR.
func (g *gpuTrainer) step(lr, potLR float64) error {
	for _, n := range g.inputs {
		data, err := op.Data[float32](n.Value())
		if err != nil {
			return fmt.Errorf("input %s: %w", n.Name(), err)
		}
		if err := g.e.LetData(n, data); err != nil {
			return err
		}
	}
	for i, p := range g.phases {
		if err := g.runs[i].Enqueue(); err != nil {
			return err
		}
		// The reported losses are the first phase's values, but a later
		// phase's own loss is its value in that phase (after the earlier
		// phases' updates), as the CPU trainer reports them.
		for j, w := range g.watch {
			if i == 0 || w == p.loss {
				b, _ := g.e.Buf(w)
				g.d.Copy(g.snap.At(j), b, 1)
			}
		}
		rate := lr
		if i > 0 {
			rate = potLR
		}
		switch o := g.opts[i].(type) {
		case *gpu.RMSProp:
			o.LR = rate
		case *gpu.Adam:
			o.LR = rate
		}
		if err := g.opts[i].Step(g.e, p.params, p.grads); err != nil {
			return err
		}
		g.steps[i]++
	}
	if err := g.d.Sync(); err != nil {
		return err
	}
	return g.d.Download(g.snap, g.vals)
}

func (g *gpuTrainer) watched(i int) float64 { return float64(g.vals[i]) }

func (g *gpuTrainer) toHost() error {
	for i, p := range g.phases {
		for _, n := range p.params {
			if err := g.e.ReadInto(n); err != nil {
				return err
			}
		}
		var bufs [][]float32
		var err error
		steps := g.steps[i]
		switch o := g.opts[i].(type) {
		case *gpu.RMSProp:
			bufs, err = o.State(g.e, p.params)
		case *gpu.Adam:
			bufs, steps, err = o.State(g.e, p.params)
		}
		if err != nil {
			return err
		}
		if bufs == nil {
			continue // no step taken: the host optimiser's state is current
		}
		wide := make([][]float64, len(bufs))
		for j, b := range bufs {
			wide[j] = make([]float64, len(b))
			for k, v := range b {
				wide[j][k] = float64(v)
			}
		}
		if err := p.opt.SetState(wide, steps); err != nil {
			return err
		}
	}
	return nil
}

func (g *gpuTrainer) toDevice() error {
	params := nodesOf(g.t.net.Params())
	if g.t.potScope != nil {
		params = append(params, nodesOf(g.t.potScope.Params())...)
	}
	for _, n := range params {
		if _, held := g.e.Buf(n); !held {
			continue // not in the compiled graph
		}
		data, err := op.Data[float32](n.Value())
		if err != nil {
			return fmt.Errorf("parameter %s: %w", n.Name(), err)
		}
		if err := g.e.LetData(n, data); err != nil {
			return err
		}
	}
	for i, p := range g.phases {
		wide, steps := p.opt.State()
		var bufs [][]float32
		if wide != nil {
			bufs = make([][]float32, len(wide))
			for j, w := range wide {
				bufs[j] = make([]float32, len(w))
				for k, v := range w {
					bufs[j][k] = float32(v)
				}
			}
		}
		var err error
		switch o := g.opts[i].(type) {
		case *gpu.RMSProp:
			err = o.SetState(g.e, p.params, bufs)
		case *gpu.Adam:
			err = o.SetState(g.e, p.params, bufs, steps)
		}
		if err != nil {
			return err
		}
		g.steps[i] = steps
	}
	return g.d.Err()
}

func (g *gpuTrainer) close() {
	for _, o := range g.opts {
		switch o := o.(type) {
		case *gpu.RMSProp:
			o.Free(g.e)
		case *gpu.Adam:
			o.Free(g.e)
		}
	}
	if g.snap.N > 0 {
		g.d.Free(g.snap)
		g.snap = gpu.Buf{}
	}
	if g.e != nil {
		g.e.Close()
		g.e = nil
	}
}
