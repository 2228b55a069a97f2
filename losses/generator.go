package losses

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// DefaultBeta is the weight of BRO + IRC in the generator loss of the
// authors' single-GPU trainer (their multi-GPU trainer uses 0.02).
const DefaultBeta = 0.05

// Generator builds the barycenter-map part of the generator loss,
//
//	(1/B) sum_i w_i [cost_i + beta (BRO_i + IRC_i) - pot_i],
//
// from per-sample vectors of length B: the transport cost of sample i, its
// IRC and BRO losses, the value f_{k_i}(b_i) of its source's potential, and
// w_i = w_{k_i}, the weight of its source (constants, hence a slice). The
// trainer adds Sigma * L1 itself. All four nodes must share one dtype.
func Generator(cost, irc, bro, pot *G.Node, w []float64, beta float64) (*G.Node, error) {
	nodes := []*G.Node{cost, irc, bro, pot}
	for i, n := range nodes {
		if n == nil {
			return nil, fmt.Errorf("losses.Generator: input %d is nil", i)
		}
		if n.Dims() != 1 || n.Shape()[0] != len(w) || len(w) == 0 {
			return nil, fmt.Errorf("losses.Generator: input %d has shape %v, want a vector of %d per-sample values (one per weight)", i, n.Shape(), len(w))
		}
		if n.Dtype() != cost.Dtype() {
			return nil, fmt.Errorf("losses.Generator: input %d is %v but cost is %v", i, n.Dtype(), cost.Dtype())
		}
	}
	if math.IsNaN(beta) || math.IsInf(beta, 0) {
		return nil, fmt.Errorf("losses.Generator: beta %v is not finite", beta)
	}
	// Folding 1/B and beta into two constant vectors keeps the graph to
	// elementwise products of equal shapes.
	nb := float64(len(w))
	wb, bwb := make([]float64, len(w)), make([]float64, len(w))
	for i, v := range w {
		wb[i], bwb[i] = v/nb, beta*v/nb
	}
	g, dt := cost.Graph(), cost.Dtype()
	b := &op.Builder{}
	data := b.Sub(cost, pot)
	reg := b.Add(bro, irc)
	sum := b.Add(b.N(G.HadamardProd(data, b.N(constVec(g, dt, wb)))), b.N(G.HadamardProd(reg, b.N(constVec(g, dt, bwb)))))
	return b.N(G.Sum(sum)), b.Err()
}

// constVec returns an input node holding v in dtype dt. Gorgonia merges input
// nodes by name, so the name carries the values.
func constVec(g *G.ExprGraph, dt tensor.Dtype, v []float64) (*G.Node, error) {
	var t *tensor.Dense
	switch dt {
	case tensor.Float32:
		d := make([]float32, len(v))
		for i, x := range v {
			d[i] = float32(x)
		}
		t = tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(d))
	case tensor.Float64:
		t = tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(append([]float64(nil), v...)))
	default:
		return nil, fmt.Errorf("losses: dtype %v, want float32 or float64", dt)
	}
	return G.NewTensor(g, dt, 1, G.WithShape(len(v)), G.WithValue(t), G.WithName(fmt.Sprintf("losses.const%v", t.Data()))), nil
}
