package ot

import (
	"errors"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/build"
	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/internal/op/axis"
)

// Cost is the transport cost c(x, y) between a sample and its image.
type Cost int

const (
	// HalfSquared is c = 1/2 |x - y|^2 (the paper), for which the MWB
	// objective's value is 1/2 sum_k w_k W2^2(P_k, Q*).
	HalfSquared Cost = iota
	// RMS is c = sqrt(mean((x - y)^2) + 1e-12) per sample (the authors' code;
	// the tiny constant keeps the gradient finite at x = y).
	RMS
)

func (c Cost) String() string {
	switch c {
	case HalfSquared:
		return "half-squared"
	case RMS:
		return "rms"
	}
	return fmt.Sprintf("Cost(%d)", int(c))
}

// Terms are the nodes of the MWB objective
// L(T, f) = sum_k w_k E_{P_k}[c(x, T(x)) - f_k(T(x))].
type Terms struct {
	// Loss is L = Transport - Potential: the map minimises it.
	Loss *G.Node
	// Transport is sum_k w_k E_k[c(x, T(x))].
	Transport *G.Node
	// Potential is sum_k w_k E_k[f_k(T(x))]; zero at the optimum by congruence.
	Potential *G.Node
	// Penalty is the congruence penalty (Penalized mode), else nil: in
	// PotentialLoss for PenaltyMean, PenaltyStep.Loss for PenaltyLastSample.
	Penalty *G.Node
	// PotentialLoss is what the potentials minimise: Potential (+ Penalty
	// for PenaltyMean), which is -L up to the Transport term that does not
	// depend on f. It is built on a stop-gradient copy of the map's output
	// (see Detach), so the map's and the potentials' gradients can be taken
	// in one graph.
	PotentialLoss *G.Node
	// PenaltyStep is the potentials' second step of PenaltyLastSample
	// (pass it to TrainerConfig.PenaltyStep); zero otherwise.
	PenaltyStep PenaltyStep
	// F is the (N, K) potentials' output f_k(T(x_i)), for diagnostics.
	F *G.Node
}

// Objective builds the MWB objective for one batch: samples x (N, ...), their
// images y = T(x) of the same shape, and sw (N, K) sample weights, the
// weight of sample i under source k: w_k/n_k if i comes from source k (n_k
// samples of source k in the batch), else 0 (see SampleWeights). Then
// sum_i sw[i,k] h_i = w_k * mean over source k's samples of h, the batch
// estimate of w_k E_{P_k}[h]. sw is an input node so that one graph serves
// batches whose source ids change from step to step.
func Objective(p *Potentials, x, y, sw *G.Node, c Cost) (Terms, error) {
	if p == nil {
		return Terms{}, errors.New("ot: no potentials")
	}
	n, _, err := flatSize(x)
	if err != nil {
		return Terms{}, err
	}
	if y == nil || !y.Shape().Eq(x.Shape()) {
		return Terms{}, fmt.Errorf("ot: map output must have the samples' shape %v", x.Shape())
	}
	if sw == nil || !sw.Shape().Eq(tensor.Shape{n, p.K()}) {
		return Terms{}, fmt.Errorf("ot: sample weights must have shape (%d, %d)", n, p.K())
	}
	if y.Dtype() != x.Dtype() || sw.Dtype() != x.Dtype() {
		return Terms{}, fmt.Errorf("ot: samples, map output and sample weights must share a dtype, got %v, %v, %v", x.Dtype(), y.Dtype(), sw.Dtype())
	}
	if x.Graph() != y.Graph() || x.Graph() != sw.Graph() {
		return Terms{}, errors.New("ot: samples, map output and sample weights live in different graphs")
	}
	// Gorgonia's builders panic on nil nodes, so errors are checked before
	// each node that feeds another builder.
	b := &build.Builder{}
	cost := sampleCost(b, x, y, c)
	var t Terms
	t.F = b.N(p.Apply(y))
	if b.Err() != nil {
		return Terms{}, b.Err()
	}
	perSample := b.N(G.Sum(sw, 1))
	t.Transport = b.N(G.Sum(b.N(G.HadamardProd(perSample, cost))))
	t.Potential = b.N(G.Sum(b.N(G.HadamardProd(sw, t.F))))
	t.Loss = b.Sub(t.Transport, t.Potential)
	// The potentials' side reads y through a stop-gradient: see detach.
	yd := b.Do(stopGradient, y)
	fd := b.N(p.Apply(yd))
	if b.Err() != nil {
		return Terms{}, b.Err()
	}
	t.PotentialLoss = b.N(G.Sum(b.N(G.HadamardProd(sw, fd))))
	if p.Mode() == Penalized && b.Err() == nil {
		if p.Penalty() == PenaltyLastSample {
			t.PenaltyStep = lastSamplePenalty(b, p, yd)
			t.Penalty = t.PenaltyStep.Loss
		} else {
			t.Penalty = penalty(b, p, fd)
			t.PotentialLoss = b.Add(t.PotentialLoss, t.Penalty)
		}
	}
	if b.Err() != nil {
		return Terms{}, b.Err()
	}
	return t, nil
}

// lastSamplePenalty is the authors' penalty step: the penalty on an input
// node of one sample's shape, which the trainer sets to the last sample of
// the detached map output yd before the step.
func lastSamplePenalty(b *build.Builder, p *Potentials, yd *G.Node) PenaltyStep {
	if b.Err() != nil {
		return PenaltyStep{}
	}
	shape := yd.Shape().Clone()
	shape[0] = 1
	in := G.NewTensor(yd.Graph(), yd.Dtype(), len(shape), G.WithShape(shape...), G.WithName(uniqueName("ot.penalty_sample")),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.Of(yd.Dtype()))))
	return PenaltyStep{Loss: penalty(b, p, b.N(p.Apply(in))), Input: in, From: yd}
}

// penalty is PenaltyWeight * mean_i (sum_k w_k F[i,k])^2 for a potentials'
// output F (N, K).
func penalty(b *build.Builder, p *Potentials, f *G.Node) *G.Node {
	if b.Err() != nil {
		return nil
	}
	cong := b.N(p.Congruence(f))
	if b.Err() != nil {
		return nil
	}
	return b.N(G.Mul(b.N(G.Mean(b.N(G.Square(cong)))), scalar(f.Dtype(), p.cfg.PenaltyWeight)))
}

// ObjectiveBySource builds the objective for per-source batches: xs[k] are
// samples of source k and ys[k] their images (by a per-source map T_k, or a
// shared map). Every source needs at least one sample.
func ObjectiveBySource(p *Potentials, xs, ys []*G.Node, c Cost) (Terms, error) {
	if p == nil {
		return Terms{}, errors.New("ot: no potentials")
	}
	if len(xs) != p.K() || len(ys) != p.K() {
		return Terms{}, fmt.Errorf("ot: %d sample batches and %d images for %d sources", len(xs), len(ys), p.K())
	}
	var ids []int
	for k, x := range xs {
		n, _, err := flatSize(x)
		if err != nil {
			return Terms{}, fmt.Errorf("source %d: %w", k, err)
		}
		if ys[k] == nil || !ys[k].Shape().Eq(x.Shape()) {
			return Terms{}, fmt.Errorf("ot: source %d: map output must have the samples' shape %v", k, x.Shape())
		}
		if x.Dtype() != xs[0].Dtype() || ys[k].Dtype() != x.Dtype() {
			return Terms{}, fmt.Errorf("ot: source %d: dtypes differ", k)
		}
		for range n {
			ids = append(ids, k)
		}
	}
	sw, err := SampleWeights(ids, p.cfg.Weights, xs[0].Dtype())
	if err != nil {
		return Terms{}, err
	}
	b := &build.Builder{}
	x, y := xs[0], ys[0]
	if len(xs) > 1 {
		x = b.N(axis.Concat(0, xs...))
		y = b.N(axis.Concat(0, ys...))
	}
	if b.Err() != nil {
		return Terms{}, fmt.Errorf("ot: sources' batches do not concatenate: %w", b.Err())
	}
	swn := G.NewMatrix(x.Graph(), x.Dtype(), G.WithShape(sw.Shape()...), G.WithValue(sw), G.WithName(uniqueName("ot.sample_weights")))
	return Objective(p, x, y, swn, c)
}

// SampleWeights returns the (N, K) sample weights of a batch whose sample i
// comes from source ids[i]: w_k/n_k in column k for source k's samples, 0
// elsewhere. A source absent from the batch contributes nothing.
func SampleWeights(ids []int, w []float64, dt tensor.Dtype) (*tensor.Dense, error) {
	if len(ids) == 0 {
		return nil, errors.New("ot: empty batch")
	}
	if err := CheckWeights(w); err != nil {
		return nil, err
	}
	k := len(w)
	counts := make([]int, k)
	for i, id := range ids {
		if id < 0 || id >= k {
			return nil, fmt.Errorf("ot: sample %d has source id %d, want 0..%d", i, id, k-1)
		}
		counts[id]++
	}
	v := make([]float64, len(ids)*k)
	for i, id := range ids {
		v[i*k+id] = w[id] / float64(counts[id])
	}
	switch dt {
	case tensor.Float64:
		return tensor.New(tensor.WithShape(len(ids), k), tensor.WithBacking(v)), nil
	case tensor.Float32:
		f := make([]float32, len(v))
		for i := range v {
			f[i] = float32(v[i])
		}
		return tensor.New(tensor.WithShape(len(ids), k), tensor.WithBacking(f)), nil
	}
	return nil, fmt.Errorf("ot: unsupported dtype %v", dt)
}

// sampleCost is the (N) per-sample cost c(x_i, y_i) for samples of any shape.
func sampleCost(b *build.Builder, x, y *G.Node, c Cost) *G.Node {
	n, d, err := flatSize(x)
	if err != nil {
		b.Fail(err)
		return nil
	}
	if c != HalfSquared && c != RMS {
		b.Fail(fmt.Errorf("ot: unknown cost %v", c))
		return nil
	}
	return b.N(op.Apply(costKernel{n: n, d: d, cost: c, shape: x.Shape().Clone()}, x, y))
}

// costKernel computes the per-sample cost in one pass. (Built from
// Gorgonia's Sub, Reshape and Square instead, the tape machine squared the
// difference in place through Reshape's view, and the difference node is
// shared, by Gorgonia's node merging, with any s - b the caller built: that
// corrupted BaryIR's residual before its gradients read it.)
type costKernel struct {
	n, d  int
	cost  Cost
	shape tensor.Shape
}

func (k costKernel) Name() string                          { return fmt.Sprintf("ot.cost_%v%v", k.cost, k.shape) }
func (k costKernel) OutShape() tensor.Shape                { return tensor.Shape{k.n} }
func (k costKernel) Forward32(o []float32, in [][]float32) { costForward(k, o, in[0], in[1]) }
func (k costKernel) Forward64(o []float64, in [][]float64) { costForward(k, o, in[0], in[1]) }
func (k costKernel) DiffWRT() []bool                       { return []bool{true, true} }
func (k costKernel) Grad(in G.Nodes, _, dOut *G.Node) (G.Nodes, error) {
	b := &build.Builder{}
	dx := b.N(op.Apply(costGrad{k, 1}, in[0], in[1], dOut))
	dy := b.N(op.Apply(costGrad{k, -1}, in[0], in[1], dOut))
	return G.Nodes{dx, dy}, b.Err()
}

// costs returns each sample's cost in float64.
func costs[T op.Float](k costKernel, x, y []T) []float64 {
	c := make([]float64, k.n)
	for i := range c {
		s := 0.0
		for j := i * k.d; j < (i+1)*k.d; j++ {
			v := float64(x[j] - y[j])
			s += v * v
		}
		if k.cost == HalfSquared {
			c[i] = s / 2
		} else {
			c[i] = math.Sqrt(s/float64(k.d) + rmsEps)
		}
	}
	return c
}

// rmsEps keeps the RMS cost's gradient finite at x = y.
const rmsEps = 1e-12

func costForward[T op.Float](k costKernel, o, x, y []T) {
	for i, c := range costs(k, x, y) {
		o[i] = T(c)
	}
}

// costGrad is the cost's gradient with respect to x (sign 1) or y (sign -1).
type costGrad struct {
	k    costKernel
	sign float64
}

func (g costGrad) Name() string                          { return fmt.Sprintf("%s_grad%+g", g.k.Name(), g.sign) }
func (g costGrad) OutShape() tensor.Shape                { return g.k.shape }
func (g costGrad) Forward32(o []float32, in [][]float32) { costBackward(g, o, in[0], in[1], in[2]) }
func (g costGrad) Forward64(o []float64, in [][]float64) { costBackward(g, o, in[0], in[1], in[2]) }

func costBackward[T op.Float](g costGrad, o, x, y, dOut []T) {
	k := g.k
	var c []float64
	if k.cost == RMS {
		c = costs(k, x, y)
	}
	for i := range k.n {
		// d(1/2 |x-y|^2)/dx = x - y; d sqrt(mean (x-y)^2)/dx = (x - y) / (d c).
		f := g.sign * float64(dOut[i])
		if k.cost == RMS {
			f /= float64(k.d) * c[i]
		}
		for j := i * k.d; j < (i+1)*k.d; j++ {
			o[j] = T(f * float64(x[j]-y[j]))
		}
	}
}
