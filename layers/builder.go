package layers

import "github.com/x/baryir/internal/build"

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
// written with it, and user code can mix it with plain Gorgonia calls
// through N.
type Builder = build.Builder
