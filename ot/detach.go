package ot

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// detach is the identity without a gradient (a stop-gradient). The
// potentials' loss reads the map's output through it, so that the map's and
// the potentials' gradients come from disjoint parts of one graph: Gorgonia
// reuses a node's derivative once set, so two gradient passes must not share
// active nodes.
type detach struct{ shape tensor.Shape }

func (k detach) Name() string                          { return fmt.Sprintf("ot.detach%v", k.shape) }
func (k detach) OutShape() tensor.Shape                { return k.shape }
func (k detach) Forward32(o []float32, in [][]float32) { copy(o, in[0]) }
func (k detach) Forward64(o []float64, in [][]float64) { copy(o, in[0]) }

// stopGradient returns x as a node that gradients do not flow through.
func stopGradient(x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, errors.New("ot: detach of a nil node")
	}
	return op.Apply(detach{x.Shape().Clone()}, x)
}

// DiffWRT is false: no gradient flows to the input. Gorgonia needs the op
// to say so rather than have no gradient at all.
func (k detach) DiffWRT() []bool { return []bool{false} }

func (k detach) Grad(in G.Nodes, _, _ *G.Node) (G.Nodes, error) { return G.Nodes{nil}, nil }
