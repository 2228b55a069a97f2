package op

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GradCheck compares the symbolic gradients of a graph with central finite
// differences, in float64. build receives one node per input (shaped as the
// inputs) and returns a node of any shape; the checked cost is sum(out * proj)
// with a fixed pseudo-random proj, so every output element matters. It returns
// the largest absolute difference between analytic and numeric gradients.
func GradCheck(build func(in []*G.Node) (*G.Node, error), inputs ...*tensor.Dense) (float64, error) {
	return GradCheckAt(build, nil, inputs...)
}

// GradCheckAt is GradCheck at some elements only: at[i] lists the flat
// indices of input i to perturb (all of them where at is nil or at[i] is
// nil), for inputs too large to perturb every element of.
func GradCheckAt(build func(in []*G.Node) (*G.Node, error), at [][]int, inputs ...*tensor.Dense) (float64, error) {
	if at != nil && len(at) != len(inputs) {
		return 0, fmt.Errorf("gradcheck: %d index lists for %d inputs", len(at), len(inputs))
	}
	cost := func() (float64, []*tensor.Dense, error) {
		g := G.NewGraph()
		nodes := make([]*G.Node, len(inputs))
		for i, x := range inputs {
			nodes[i] = G.NodeFromAny(g, x.Clone().(*tensor.Dense), G.WithName(fmt.Sprintf("in%d", i)))
		}
		out, err := build(nodes)
		if err != nil {
			return 0, nil, err
		}
		proj := make([]float64, out.Shape().TotalSize())
		for i := range proj {
			proj[i] = math.Sin(float64(i)*1.7 + 0.3)
		}
		var pn *G.Node
		if out.IsScalar() {
			pn = G.NewScalar(g, tensor.Float64, G.WithValue(proj[0]))
		} else {
			pn = G.NewTensor(g, tensor.Float64, out.Dims(), G.WithShape(out.Shape()...), G.WithValue(tensor.New(tensor.WithShape(out.Shape()...), tensor.WithBacking(proj))))
		}
		prod, err := G.HadamardProd(out, pn)
		if err != nil {
			return 0, nil, err
		}
		c, err := G.Sum(prod)
		if err != nil {
			return 0, nil, err
		}
		if _, err := G.Grad(c, nodes...); err != nil {
			return 0, nil, err
		}
		m := G.NewTapeMachine(g, G.BindDualValues(nodes...))
		defer m.Close()
		if err := m.RunAll(); err != nil {
			return 0, nil, err
		}
		grads := make([]*tensor.Dense, len(nodes))
		for i, n := range nodes {
			gv, err := n.Grad()
			if err != nil {
				return 0, nil, err
			}
			grads[i] = gv.(*tensor.Dense).Clone().(*tensor.Dense)
		}
		return c.Value().Data().(float64), grads, nil
	}
	_, analytic, err := cost()
	if err != nil {
		return 0, err
	}
	const h = 1e-5
	worst := 0.0
	for i, x := range inputs {
		data := x.Data().([]float64)
		want := analytic[i].Data().([]float64)
		idx := make([]int, len(data))
		for j := range idx {
			idx[j] = j
		}
		if at != nil && at[i] != nil {
			idx = at[i]
		}
		for _, j := range idx {
			if j < 0 || j >= len(data) {
				return 0, fmt.Errorf("gradcheck: index %d of input %d, which has %d elements", j, i, len(data))
			}
			orig := data[j]
			data[j] = orig + h
			up, _, err := cost()
			if err != nil {
				return 0, err
			}
			data[j] = orig - h
			down, _, err := cost()
			data[j] = orig
			if err != nil {
				return 0, err
			}
			worst = math.Max(worst, math.Abs((up-down)/(2*h)-want[j]))
		}
	}
	return worst, nil
}
