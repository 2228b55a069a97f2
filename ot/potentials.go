package ot

import (
	"errors"
	"fmt"
	"sync/atomic"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/build"
	"github.com/x/baryir/internal/op/axis"
)

// Congruence says how the potentials are kept congruent (sum_k w_k f_k = 0),
// which the barycenter dual requires.
type Congruence int

const (
	// Exact builds congruence in (the paper): f_k = g_k - sum_j w_j g_j with
	// free nets g_k, so sum_k w_k f_k = 0 for every input.
	Exact Congruence = iota
	// Penalized uses the free nets as f_k and pushes them towards
	// congruence with the penalty PenaltyWeight * (sum_j w_j f_j(y))^2 (the
	// authors' code), in the form PotentialsConfig.Penalty says.
	Penalized
)

func (c Congruence) String() string {
	switch c {
	case Exact:
		return "exact"
	case Penalized:
		return "penalized"
	}
	return fmt.Sprintf("Congruence(%d)", int(c))
}

// PenaltyForm says how the Penalized congruence penalty enters the
// potentials' training.
type PenaltyForm int

const (
	// PenaltyMean adds PenaltyWeight * mean_i (sum_j w_j f_j(y_i))^2 over
	// the batch to PotentialLoss: one combined step.
	PenaltyMean PenaltyForm = iota
	// PenaltyLastSample is the authors' form: after their objective step
	// the potentials take a second optimiser step on
	// PenaltyWeight * (sum_j w_j f_j(y_N))^2 for the batch's last sample
	// alone, with the potentials as the first step left them (see
	// PenaltyStep).
	PenaltyLastSample
)

func (f PenaltyForm) String() string {
	switch f {
	case PenaltyMean:
		return "mean"
	case PenaltyLastSample:
		return "last-sample"
	}
	return fmt.Sprintf("PenaltyForm(%d)", int(f))
}

// PotentialsConfig configures a set of potentials.
type PotentialsConfig struct {
	Weights       []float64 // w_k: non-negative, summing to 1
	Mode          Congruence
	PenaltyWeight float64     // Penalized only; 0 means the authors' 10
	Penalty       PenaltyForm // Penalized only
}

// Potentials are K potential nets with barycenter weights w_k.
type Potentials struct {
	nets []Net
	cfg  PotentialsConfig
}

// NewPotentials groups one net per source. Each net maps (N, ...) to (N) or (N, 1).
func NewPotentials(nets []Net, cfg PotentialsConfig) (*Potentials, error) {
	if len(nets) == 0 {
		return nil, errors.New("ot: no potential nets")
	}
	if len(cfg.Weights) != len(nets) {
		return nil, fmt.Errorf("ot: %d weights for %d potentials", len(cfg.Weights), len(nets))
	}
	if err := CheckWeights(cfg.Weights); err != nil {
		return nil, err
	}
	for k, n := range nets {
		if n == nil {
			return nil, fmt.Errorf("ot: potential %d is nil", k)
		}
	}
	switch cfg.Mode {
	case Exact, Penalized:
	default:
		return nil, fmt.Errorf("ot: unknown congruence mode %d", cfg.Mode)
	}
	if cfg.Penalty != PenaltyMean && cfg.Penalty != PenaltyLastSample {
		return nil, fmt.Errorf("ot: unknown penalty form %d", cfg.Penalty)
	}
	if cfg.PenaltyWeight == 0 {
		cfg.PenaltyWeight = 10
	}
	cfg.Weights = append([]float64(nil), cfg.Weights...)
	return &Potentials{nets: append([]Net(nil), nets...), cfg: cfg}, nil
}

// K is the number of sources.
func (p *Potentials) K() int { return len(p.nets) }

// Weights returns a copy of w.
func (p *Potentials) Weights() []float64 { return append([]float64(nil), p.cfg.Weights...) }

// Mode is the congruence mode.
func (p *Potentials) Mode() Congruence { return p.cfg.Mode }

// Penalty is the form of the Penalized mode's penalty.
func (p *Potentials) Penalty() PenaltyForm { return p.cfg.Penalty }

// Learnables lists the nodes of all nets.
func (p *Potentials) Learnables() G.Nodes {
	var out G.Nodes
	for _, n := range p.nets {
		out = append(out, n.Learnables()...)
	}
	return out
}

// Apply evaluates every potential on a batch y (N, ...) and returns the
// (N, K) node F with F[i,k] = f_k(y_i). In Exact mode F = Gm (I - w 1^T)
// where Gm[i,k] = g_k(y_i), so F w = Gm w - Gm w (1^T w) = 0.
func (p *Potentials) Apply(y *G.Node) (*G.Node, error) {
	n, _, err := flatSize(y)
	if err != nil {
		return nil, err
	}
	b := &build.Builder{}
	cols := make(G.Nodes, len(p.nets))
	for k, net := range p.nets {
		v := b.N(net.Forward(y))
		if b.Err() != nil {
			return nil, fmt.Errorf("ot: potential %d: %w", k, b.Err())
		}
		if v == nil {
			return nil, fmt.Errorf("ot: potential %d returned no node", k)
		}
		if v.Shape().TotalSize() != n {
			return nil, fmt.Errorf("ot: potential %d returned shape %v for a batch of %d", k, v.Shape(), n)
		}
		cols[k] = b.N(G.Reshape(v, tensor.Shape{n, 1}))
	}
	f := cols[0]
	if len(cols) > 1 {
		f = b.N(axis.Concat(1, cols...))
	}
	if p.cfg.Mode == Exact {
		kk := len(p.nets)
		proj := make([]float64, kk*kk)
		for j := range kk {
			for k := range kk {
				proj[j*kk+k] = -p.cfg.Weights[j]
				if j == k {
					proj[j*kk+k]++
				}
			}
		}
		f = b.N(G.Mul(f, constant(y.Graph(), y.Dtype(), proj, kk, kk)))
	}
	return f, b.Err()
}

// Congruence returns the (N) node sum_k w_k f_k(y_i) for a potentials' output
// F of Apply: identically zero in Exact mode up to rounding.
func (p *Potentials) Congruence(f *G.Node) (*G.Node, error) {
	if f == nil || f.Dims() != 2 || f.Shape()[1] != p.K() {
		return nil, fmt.Errorf("ot: potentials' output must be (N, %d)", p.K())
	}
	return G.Mul(f, constant(f.Graph(), f.Dtype(), p.cfg.Weights, p.K()))
}

// constant makes a constant node of dtype dt from float64 data.
func constant(g *G.ExprGraph, dt tensor.Dtype, data []float64, shape ...int) *G.Node {
	var v *tensor.Dense
	if dt == tensor.Float32 {
		f := make([]float32, len(data))
		for i := range data {
			f[i] = float32(data[i])
		}
		v = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	} else {
		v = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), data...)))
	}
	return G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithValue(v), G.WithName(uniqueName("ot.const")))
}

var nameSeq atomic.Int64

// uniqueName names input nodes: Gorgonia merges input nodes of equal type,
// shape and name, so unnamed constants of one shape would share a value.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, nameSeq.Add(1))
}

func scalar(dt tensor.Dtype, x float64) *G.Node {
	if dt == tensor.Float32 {
		return G.NewConstant(float32(x))
	}
	return G.NewConstant(x)
}
