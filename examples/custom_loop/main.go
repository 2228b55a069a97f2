// Command custom_loop is a BaryIR training loop of a user's own, written
// only with the public API: the network, latent potentials and objective
// of package baryir (σ·L1, the MWB terms of the dual of the paper's Eq. (6),
// and IRC/BRO), one extra term of our own (total variation of the output, from
// plain Gorgonia ops), a Machine on the CPU or the GPU (-device), and the
// public optimisers alternating the map and potential steps. It prints the
// losses while training and the PSNR gain on the embedded test photos.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/ot"
)

type options struct {
	steps, batch, patch int
	lr, potLR, tv       float64
	seed                uint64
	device              string
}

func main() {
	var o options
	flag.IntVar(&o.steps, "steps", 1500, "training steps (each: one map step, one potentials step)")
	flag.IntVar(&o.batch, "batch", 4, "patches per step")
	flag.IntVar(&o.patch, "patch", 64, "patch side (multiple of 8)")
	flag.Float64Var(&o.lr, "lr", 2e-3, "Adam learning rate of the network (tenfold lower every 15 epochs, as three_degradation)")
	flag.Float64Var(&o.potLR, "pot-lr", 1e-4, "Adam learning rate of the potentials")
	flag.Float64Var(&o.tv, "tv", 1e-2, "weight of our own term: the total variation of the restored patches")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of weights and batches")
	flag.StringVar(&o.device, "device", "cpu", "cpu or gpu (gpu needs -tags baryirgpu)")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custom_loop:", err)
		os.Exit(1)
	}
}

// loop is the training graph and what runs it.
type loop struct {
	cfg                  baryir.Config
	net                  *baryir.Network
	weights              []float64 // barycenter weights of the sources
	x, y, sw, ids        *G.Node
	gen, l1, tv, potLoss *G.Node
	netParams, potParams G.Nodes
	netGrads, potGrads   G.Nodes
	m                    *baryir.Machine
	netStep, potStep     ot.Phase
	netOpt, potOpt       baryir.Optimizer
}

// newLoop builds Tiny BaryNet with its potentials for sources of the given
// sample counts: the map minimises BaryIR's objective (σ L1 + MWB + β (IRC +
// BRO), baryir.NewObjective) + tv TV, the potentials the other side of the
// max-min game of Eq. (6).
func newLoop(o options, counts []int) (*loop, error) {
	l := &loop{cfg: baryir.Tiny()}
	netOpt, err := baryir.NewOptimizer(baryir.OptimizerAdam, o.lr)
	if err != nil {
		return nil, err
	}
	potOpt, err := baryir.NewOptimizer(baryir.OptimizerAdam, o.potLR)
	if err != nil {
		return nil, err
	}
	l.netOpt, l.potOpt = netOpt, potOpt
	g, b := G.NewGraph(), &layers.Builder{}
	net, err := l.cfg.Build(layers.NewScope(g, tensor.Float32, o.seed))
	if err != nil {
		return nil, err
	}
	l.net = net
	img := G.WithShape(o.batch, 3, o.patch, o.patch)
	l.x = G.NewTensor(g, tensor.Float32, 4, img, G.WithName("degraded"))
	l.y = G.NewTensor(g, tensor.Float32, 4, img, G.WithName("clean"))
	out, err := net.Forward(l.x)
	if err != nil {
		return nil, err
	}
	if l.weights, err = ot.Weights(counts, ot.Proportional); err != nil {
		return nil, err
	}
	l.sw = G.NewMatrix(g, tensor.Float32, G.WithShape(o.batch, len(counts)), G.WithName("sample_weights"))
	l.ids = G.NewVector(g, tensor.Float32, G.WithShape(o.batch), G.WithName("degradation_ids"))
	lat := out.Source.Shape()
	pots, err := baryir.NewLatentPotentials(layers.NewScope(g, tensor.Float32, o.seed+1), ot.PotentialsConfig{Weights: l.weights}, lat[1], lat[2], lat[3])
	if err != nil {
		return nil, err
	}
	obj, err := baryir.NewObjective(baryir.ObjectiveInputs{Out: out, Clean: l.y, Potentials: pots, SampleWeights: l.sw, Sources: l.ids}, baryir.PaperTraining(l.cfg).ObjectiveConfig)
	if err != nil {
		return nil, err
	}
	l.l1, l.gen = obj.L1, obj.MapLoss
	if o.tv > 0 { // our own term: mean |vertical| + mean |horizontal| differences
		p := o.patch
		diff := func(axis int) *G.Node {
			hi, lo := b.N(layers.Slice(out.Restored, axis, 1, p)), b.N(layers.Slice(out.Restored, axis, 0, p-1))
			return b.N(G.Mean(b.N(G.Abs(b.Sub(hi, lo)))))
		}
		l.tv = b.Add(diff(2), diff(3))
		l.gen = b.Add(l.gen, b.N(layers.Scale(l.tv, o.tv)))
	}
	if b.Err() != nil {
		return nil, b.Err()
	}
	for _, p := range net.Scope.Params() {
		l.netParams = append(l.netParams, p.Node)
	}
	l.potParams, l.potLoss = pots.Learnables(), obj.PotentialLoss
	if l.netGrads, err = G.Grad(l.gen, l.netParams...); err != nil {
		return nil, err
	}
	if l.potGrads, err = G.Grad(l.potLoss, l.potParams...); err != nil {
		return nil, err
	}
	netRoots := append(G.Nodes{l.gen, l.l1}, l.netGrads...)
	potRoots := append(G.Nodes{l.potLoss}, l.potGrads...)
	l.m, err = baryir.NewMachine(g, baryir.MachineOptions{Device: baryir.Device(o.device), Keep: append(netRoots, potRoots...)})
	if err != nil {
		return nil, err
	}
	if l.netStep, err = l.m.Phase(netRoots...); err != nil {
		return nil, err
	}
	l.potStep, err = l.m.Phase(potRoots...)
	return l, err
}

// step takes one map step then one potentials step on batch, and returns
// the map's loss, L1 and the potentials' loss.
func (l *loop) step(batch *data.Batch) (gen, l1, pot float64, err error) {
	sw, err := ot.SampleWeights(batch.Source, l.weights, tensor.Float32)
	if err != nil {
		return 0, 0, 0, err
	}
	ids := make([]float32, batch.B)
	for i, d := range batch.Degradation {
		ids[i] = float32(d)
	}
	shape := tensor.WithShape(batch.B, 3, batch.P, batch.P)
	for _, in := range []struct {
		n *G.Node
		v G.Value
	}{{l.x, tensor.New(shape, tensor.WithBacking(batch.Degraded))}, {l.y, tensor.New(shape, tensor.WithBacking(batch.Clean))},
		{l.sw, sw}, {l.ids, tensor.New(tensor.WithShape(batch.B), tensor.WithBacking(ids))}} {
		if err := l.m.Let(in.n, in.v); err != nil {
			return 0, 0, 0, err
		}
	}
	if err := l.netStep.Run(); err != nil {
		return 0, 0, 0, err
	}
	gen, _ = ot.Scalar(l.m, l.gen)
	l1, _ = ot.Scalar(l.m, l.l1)
	if err := l.netOpt.Update(l.m, l.netParams, l.netGrads); err != nil {
		return 0, 0, 0, err
	}
	if err := l.potStep.Run(); err != nil {
		return 0, 0, 0, err
	}
	pot, err = ot.Scalar(l.m, l.potLoss)
	if err != nil {
		return 0, 0, 0, err
	}
	return gen, l1, pot, l.potOpt.Update(l.m, l.potParams, l.potGrads)
}

func run(o options, w io.Writer) error {
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		return err
	}
	// As three_degradation: every source as often as the denoise one (which
	// holds each photo once per sigma), rain twice as often.
	for _, s := range src[1:] {
		s.Repeat = src[0].Len() / s.Len()
	}
	src[1].Repeat *= 2
	sampler, err := data.NewSampler(src, o.patch, o.seed)
	if err != nil {
		return err
	}
	l, err := newLoop(o, sampler.Counts())
	if err != nil {
		return err
	}
	defer l.m.Close()
	for s := 1; s <= o.steps; s++ {
		decay := math.Pow(0.1, float64(sampler.Epoch()/15))
		l.netOpt.SetLR(o.lr * decay)
		l.potOpt.SetLR(o.potLR * decay)
		batch, err := sampler.Next(o.batch)
		if err != nil {
			return err
		}
		gen, l1, pot, err := l.step(batch)
		if err != nil {
			return fmt.Errorf("step %d: %w", s, err)
		}
		if s%100 == 0 || s == o.steps {
			fmt.Fprintf(w, "step %4d  map loss %9.3f  L1 %.4f  potentials loss %9.3f\n", s, gen, l1, pot)
		}
	}
	// Evaluate through a Restorer made from the trained weights.
	if err := l.m.Pull(l.netParams...); err != nil {
		return err
	}
	sd, err := baryir.StateDictOf(l.net.Scope.Params())
	if err != nil {
		return err
	}
	r, err := baryir.NewRestorer(l.cfg, sd, baryir.RestorerOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	for _, d := range data.ThreeDegradations() {
		degraded, clean := data.EmbeddedEval(d, o.seed)
		var before, after float64
		for i := range degraded {
			restored, err := r.Restore(degraded[i])
			if err != nil {
				return err
			}
			p0, _ := data.PSNR(clean[i], degraded[i])
			p1, err := data.PSNR(clean[i], restored)
			if err != nil {
				return err
			}
			before, after = before+p0/float64(len(degraded)), after+p1/float64(len(degraded))
		}
		fmt.Fprintf(w, "%-8s degraded %.2f dB  restored %.2f dB  gain %+.2f dB\n", d, before, after, after-before)
	}
	return nil
}
