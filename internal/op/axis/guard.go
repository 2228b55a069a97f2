package axis

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/op"
)

// SafeLength is the longest axis Gorgonia's own slice ops can slice without
// two different slices hashing alike: their hashes keep the low byte of
// each start, end and step, and bounds within [0, 256] differ in it (but
// for an end of 256 against one of 0, which no slice has).
const SafeLength = 256

// CheckGorgoniaSlices returns an error naming the first node of g made by
// Gorgonia's own slice op (gorgonia.Slice) or its gradient (made by
// gorgonia.Grad through gorgonia.Slice and gorgonia.Concat) whose input is
// longer than SafeLength along the sliced axis. Once the graph has merged
// two such slices only the first survives, so their bounds cannot be
// checked afterwards; the length that allows a merge is what is refused.
func CheckGorgoniaSlices(g *G.ExprGraph) error {
	for _, n := range g.AllNodes() {
		gs, ok := op.GorgoniaSliceOf(n.Op())
		if !ok || gs.Whole {
			continue // not Gorgonia's slice, or the whole axis: no bounds to confuse
		}
		along, isGrad := gs.Along, gs.Grad
		s := n.Shape() // a slice gradient has its input's shape
		if !isGrad {
			it := g.From(n.ID())
			if !it.Next() {
				continue
			}
			s = it.Node().(*G.Node).Shape()
		}
		if along < 0 || along >= len(s) || s[along] <= SafeLength {
			continue
		}
		what := "gorgonia.Slice"
		if isGrad {
			what = "the gradient of gorgonia.Slice or gorgonia.Concat"
		}
		return fmt.Errorf("node %q (%s) slices axis %d of length %d with %s, whose hash keeps only the low byte of each bound, so the graph merges slices 256 apart into one node: slice with layers.Slice and concatenate with layers.ConcatAxis, or opt in to Gorgonia's slices (AllowGorgoniaSlices)",
			n.Name(), n.Op(), along, s[along], what)
	}
	return nil
}
