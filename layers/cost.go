package layers

import (
	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/op"
)

// MACs counts the multiply-accumulates of one run of g's kernels that
// report them (convolutions, linear layers, attention, and their
// gradients): 2 x MACs against a run's time is its FLOP rate.
func MACs(g *G.ExprGraph) int64 {
	var macs int64
	for _, n := range g.AllNodes() {
		if n.Op() == nil {
			continue
		}
		if k, ok := op.KernelOf(n.Op()); ok {
			if c, ok := k.(op.Coster); ok {
				macs += c.MACs()
			}
		}
	}
	return macs
}
