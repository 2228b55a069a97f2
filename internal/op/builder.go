package op

import G "gorgonia.org/gorgonia"

// Builder keeps graph-building call sites flat: it holds the first error,
// and once one is held every later call is a no-op returning nil.
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

// N records the error of a builder call and returns its node.
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

// Apply adds a kernel to the graph unless an error is held.
func (b *Builder) Apply(k Kernel, in ...*G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	return b.N(Apply(k, in...))
}

// Add returns x + y (same shapes) unless an error is held.
func (b *Builder) Add(x, y *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	return b.N(G.Add(x, y))
}

// Sub returns x - y (same shapes) unless an error is held.
func (b *Builder) Sub(x, y *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	return b.N(G.Sub(x, y))
}
