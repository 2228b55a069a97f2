// Package build holds the Builder every graph builder of this module is
// written with. It sits below both layers (which re-exports it as
// layers.Builder) and ot, so that ot does not depend on the image layers.
package build

import (
	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/op"
)

// Builder keeps graph-building code flat: it holds the first error, and once
// one is held every later call is a no-op returning nil, so a forward pass
// reads as a list of layers with one error check at the end:
//
//	b := &layers.Builder{}
//	h := b.Do(conv.Forward, x)
//	h = b.Add(h, x)
//	if err := b.Err(); err != nil { ... }
//
// Every builder of this module (layers, ot, losses and the networks) is
// written with it, and user code can mix it with plain Gorgonia calls through N.
type Builder struct {
	err error
}

// Err returns the first error met, or nil.
func (b *Builder) Err() error { return b.err }

// Fail records err unless an earlier error is held.
func (b *Builder) Fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// N records the error of any node-returning call (a Gorgonia op, a layer's
// Forward, a loss) and returns its node; nil once an error is held.
func (b *Builder) N(n *G.Node, err error) *G.Node {
	if b.err != nil {
		return nil
	}
	if err != nil {
		b.err = err
		return nil
	}
	return n
}

// Do calls f on x unless an error is held.
func (b *Builder) Do(f func(*G.Node) (*G.Node, error), x *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	return b.N(f(x))
}

// Add returns x + y (same shapes) unless an error is held.
func (b *Builder) Add(x, y *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	return b.applied(G.Add(x, y))(x, y)
}

// Sub returns x - y (same shapes) unless an error is held.
func (b *Builder) Sub(x, y *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	return b.applied(G.Sub(x, y))(x, y)
}

// applied records the error of a Gorgonia op applied to in, and fails if
// the graph handed back an earlier node of other inputs (op.HasInputs).
func (b *Builder) applied(n *G.Node, err error) func(in ...*G.Node) *G.Node {
	return func(in ...*G.Node) *G.Node {
		if n = b.N(n, err); n != nil {
			b.Fail(op.HasInputs(n, in...))
		}
		if b.err != nil {
			return nil
		}
		return n
	}
}
