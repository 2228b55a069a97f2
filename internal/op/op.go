// Package op turns plain Go kernels into Gorgonia operations.
//
// Gorgonia lacks the fused operations a Restormer needs (grouped convolution,
// channel LayerNorm, GELU gating, pixel shuffles, attention). Each of those is
// a Kernel here: it sees the flat float32 or float64 data of its inputs (their
// shapes are fixed when the graph is built) and fills its output. A kernel
// that can be differentiated also says how to build its gradient nodes, so
// gorgonia.Grad and the tape machine work through it.
package op

import (
	"fmt"
	"hash"
	"hash/fnv"
	"reflect"
	"sort"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Kernel is the computation behind one custom op. Input shapes are known when
// the kernel is made, so OutShape needs no arguments.
type Kernel interface {
	// Name identifies the kernel and all its parameters; equal names must
	// mean equal computations (Gorgonia merges nodes by it).
	Name() string
	// OutShape is the shape of the output; an empty shape means a scalar.
	OutShape() tensor.Shape
	// Forward32 and Forward64 fill out (zeroed, unless the kernel is an
	// Overwriter) from the inputs.
	Forward32(out []float32, in [][]float32)
	Forward64(out []float64, in [][]float64)
}

// Differentiable is a Kernel with a gradient.
type Differentiable interface {
	Kernel
	// Grad returns one gradient node per input (nil where DiffWRT is false),
	// given the inputs, the op's output node and the gradient of the cost
	// with respect to that output.
	Grad(in G.Nodes, out, dOut *G.Node) (G.Nodes, error)
	// DiffWRT says which inputs have gradients.
	DiffWRT() []bool
}

// Apply adds the kernel to the graph of its inputs and returns the output node.
func Apply(k Kernel, in ...*G.Node) (*G.Node, error) {
	for i, n := range in {
		if n == nil {
			return nil, fmt.Errorf("%s: input %d is nil", k.Name(), i)
		}
	}
	// A backward kernel that embeds its forward kernel would inherit its
	// gradient methods; Gorgonia would then misread the graph.
	if d, ok := k.(Differentiable); ok && len(d.DiffWRT()) != len(in) {
		return nil, fmt.Errorf("%s: gradient declared for %d inputs, applied to %d", k.Name(), len(d.DiffWRT()), len(in))
	}
	o := newOp(k, in, 0)
	n, err := G.ApplyOp(o, in...)
	// Gorgonia merges a new node into an earlier one whose node hash and op
	// hash (32 bits each) are equal, without comparing inputs. An earlier
	// node of an equal kernel on the same inputs is the same computation;
	// anything else is a chance collision, and the op is applied again with
	// a salt in its hash until the node is its own.
	for salt := 1; err == nil && !isApplication(n, o, k, in); salt++ {
		if salt > maxSalt {
			return nil, fmt.Errorf("%s: the graph merges every salted node with another", k.Name())
		}
		o = newOp(k, in, salt)
		n, err = G.ApplyOp(o, in...)
	}
	if err == nil {
		// Gorgonia may hand back an equal node made earlier; its own op then
		// keeps its own record and this one is dropped.
		if b := bufOf(o); b != nil && bufOf(n.Op()) == b {
			b.node = n
		}
	}
	return n, err
}

// maxSalt bounds Apply's retries; each meets a collision with odds 2^-32.
const maxSalt = 8

// isApplication reports whether n, the node Gorgonia returned for op o
// (kernel k) on in, is that application: o's own node, or an earlier node
// of an equal kernel (all fields, not only the name) on the same inputs.
func isApplication(n *G.Node, o G.Op, k Kernel, in []*G.Node) bool {
	if b := bufOf(o); b != nil && bufOf(n.Op()) == b {
		return true
	}
	nk, ok := KernelOf(n.Op())
	return ok && reflect.DeepEqual(nk, k) && HasInputs(n, in...) == nil
}

// HasInputs checks that n's inputs are exactly in, in order. Gorgonia hands
// back an earlier node when a new one's hash and op hash match it, without
// comparing inputs; builders that apply Gorgonia's own ops check with it
// that a chance 32-bit collision did not swap their node for another.
func HasInputs(n *G.Node, in ...*G.Node) error {
	it := n.Graph().From(n.ID())
	ok := it.Len() == len(in)
	for i := 0; ok && it.Next(); i++ {
		ok = it.Node() == in[i]
	}
	if !ok {
		return fmt.Errorf("node %s: the graph merged it into an earlier node of other inputs (a hash collision)", n.Name())
	}
	return nil
}

func bufOf(o G.Op) *outBuf {
	switch o := o.(type) {
	case kernelOp:
		return o.out
	case diffOp:
		return o.out
	}
	return nil
}

func newOp(k Kernel, in []*G.Node, salt int) G.Op {
	dims := make([]int, len(in))
	for i, n := range in {
		dims[i] = n.Dims()
	}
	base := kernelOp{k: k, inDims: dims, salt: salt, out: new(outBuf)}
	if d, ok := k.(Differentiable); ok {
		return diffOp{kernelOp: base, d: d}
	}
	return base
}

type kernelOp struct {
	k      Kernel
	inDims []int
	salt   int     // nonzero only to part the node from a colliding one (see Apply)
	out    *outBuf // the node's output, reused from run to run
}

// outBuf is the output memory of one kernel node. Outputs come from the
// region a memory plan gave the node in its machine's arena (see Plan), or
// else from a pool of buffers (see pool), and go back as soon as every
// consumer of the node has run in the current run of a machine, so nodes
// whose lives do not overlap share memory (as PyTorch frees activations
// and gradients once used) and steps allocate nothing. A node is released
// early only when all its consumers are kernels of this package (they
// report that they have read it); a node read by a Gorgonia op, or by
// nothing (outputs, gradients of parameters), keeps its buffer until it is
// computed again (or the Releaser frees it). A value read from an
// intermediate node after a run may therefore have been reused; copy what
// must be kept. Scalars are always fresh.
type outBuf struct {
	node      *G.Node
	counted   bool
	consumers int // kernel consumers, or 0 if any consumer is not a kernel
	live      int // consumers yet to run in this run
	cur       *tensor.Dense
	raw       any // cur's backing array, from the pool
	// slot is the node's place in the arena of the plan now active, if
	// any; held is that slot while cur is its region.
	slot, held *planSlot
}

// free hands the node's buffer back to the pool, or its region back to
// the arena.
func (b *outBuf) free() {
	if b.held != nil {
		b.held.plan.arena.drop(b.held)
		b.cur, b.held = nil, nil
		return
	}
	if b.cur != nil {
		release(b.cur, b.raw)
		b.cur, b.raw = nil, nil
	}
}

// kernelConsumers counts the consumers of n that are kernel nodes, or
// returns 0 if some consumer is not (or n has none).
func kernelConsumers(n *G.Node) int {
	if n == nil {
		return 0
	}
	g := n.Graph()
	it := g.To(n.ID())
	c := 0
	for it.Next() {
		p, ok := it.Node().(*G.Node)
		if !ok || bufOf(p.Op()) == nil {
			return 0
		}
		c++
	}
	return c
}

// pool holds the free output buffers of every machine, by dtype, each list
// sorted by capacity. A buffer serves any output that fits in it and is not
// much smaller (see poolSlack), so outputs of different sizes whose lives
// do not overlap share memory too: the pool grows to about the largest
// set of outputs live at once, not to the sum over sizes of the most live
// at each size.
var pool = struct {
	sync.Mutex
	free map[tensor.Dtype][]pooled
}{free: map[tensor.Dtype][]pooled{}}

// pooled is one buffer: its whole backing array ([]float32 or []float64),
// that array's length, and the tensor it last backed (reused when the
// next output has its shape, so a node that gets its buffer back run
// after run gets the same tensor).
type pooled struct {
	raw any
	n   int
	t   *tensor.Dense
}

// poolSlack bounds the waste of reuse: an output takes a free buffer at
// most this many times its size (else a small output could hold a large
// buffer that a large one then has to allocate again). Measured on the
// Paper preset: 2 holds a 64x64 training step's pool to 1586 MiB where 4
// let it reach 1893 (1511 MiB live at most), with inference's unchanged.
const poolSlack = 2

// acquire returns a tensor of the shape and dtype (zeroed if zero) and the
// backing array it lives in, taken from the pool when a buffer fits.
func acquire(dt tensor.Dtype, shape tensor.Shape, zero bool) (*tensor.Dense, any) {
	n := shape.TotalSize()
	var raw any
	var last *tensor.Dense
	pool.Lock()
	l := pool.free[dt]
	if i := sort.Search(len(l), func(i int) bool { return l[i].n >= n }); i < len(l) && l[i].n <= poolSlack*n {
		raw, last = l[i].raw, l[i].t
		pool.free[dt] = append(l[:i], l[i+1:]...)
	}
	pool.Unlock()
	if last != nil && last.Shape().Eq(shape) {
		if zero {
			switch r := raw.(type) {
			case []float32:
				clear(r[:n])
			case []float64:
				clear(r[:n])
			}
		}
		return last, raw
	}
	var backing any
	switch dt {
	case tensor.Float32:
		if raw == nil {
			raw = make([]float32, n)
		} else if zero {
			clear(raw.([]float32)[:n])
		}
		backing = raw.([]float32)[:n]
	case tensor.Float64:
		if raw == nil {
			raw = make([]float64, n)
		} else if zero {
			clear(raw.([]float64)[:n])
		}
		backing = raw.([]float64)[:n]
	default:
		return tensor.New(tensor.Of(dt), tensor.WithShape(shape.Clone()...)), nil
	}
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(backing)), raw
}

// release hands a backing array from acquire, and the tensor it backed,
// back to the pool.
func release(t *tensor.Dense, raw any) {
	dt := t.Dtype()
	var n int
	switch r := raw.(type) {
	case []float32:
		n = len(r)
	case []float64:
		n = len(r)
	default:
		return
	}
	pool.Lock()
	l := pool.free[dt]
	i := sort.Search(len(l), func(i int) bool { return l[i].n >= n })
	l = append(l, pooled{})
	copy(l[i+1:], l[i:])
	l[i] = pooled{raw: raw, n: n, t: t}
	pool.free[dt] = l
	pool.Unlock()
}

// pooling switches early release on; off, every node keeps its own buffer
// (for tests that compare the two).
var pooling = true

// SetPooling turns the early release of kernel outputs on or off and
// returns the previous setting. Tests use it; it must not change while a
// machine runs.
func SetPooling(on bool) bool {
	old := pooling
	pooling = on
	return old
}

// output gives the node its output tensor for this run: its buffer from the
// previous run (dead now: every node runs once per run) goes back to the
// pool first. The tensor is the node's region of the active plan's arena
// when the run follows the plan, else a pooled buffer.
func (b *outBuf) output(dt tensor.Dtype, shape tensor.Shape, zero bool) *tensor.Dense {
	b.free()
	if !b.counted {
		b.consumers, b.counted = kernelConsumers(b.node), true
	}
	if s := b.slot; s != nil && s.take(dt, shape, zero) {
		b.cur, b.held = s.t, s
	} else {
		b.cur, b.raw = acquire(dt, shape, zero)
	}
	b.live = b.consumers
	if !pooling {
		b.live = 0
	}
	return b.cur
}

// consumed tells the node's kernel inputs that this node has read them.
func (b *outBuf) consumed() {
	if b.node == nil {
		return
	}
	it := b.node.Graph().From(b.node.ID())
	for it.Next() {
		c, ok := it.Node().(*G.Node)
		if !ok {
			continue
		}
		ib := bufOf(c.Op())
		if ib == nil || ib.cur == nil || ib.consumers == 0 || ib.live <= 0 {
			continue
		}
		ib.live--
		if ib.live == 0 {
			ib.free()
		}
	}
}

func (o kernelOp) Arity() int { return len(o.inDims) }

func (o kernelOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(o.inDims)+1)
	for _, d := range o.inDims {
		ts = append(ts, tensorType(d, a))
	}
	ts = append(ts, tensorType(len(o.k.OutShape()), a))
	return hm.NewFnType(ts...)
}

func tensorType(dims int, a hm.TypeVariable) hm.Type {
	if dims == 0 {
		return a
	}
	return G.TensorType{Dims: dims, Of: a}
}

func (o kernelOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return o.k.OutShape().Clone(), nil
}

func (o kernelOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != len(o.inDims) {
		return nil, fmt.Errorf("%s: got %d inputs, want %d", o.k.Name(), len(vals), len(o.inDims))
	}
	shape := o.k.OutShape()
	switch vals[0].Dtype() {
	case tensor.Float32:
		in := make([][]float32, len(vals))
		for i, v := range vals {
			d, err := Data[float32](v)
			if err != nil {
				return nil, fmt.Errorf("%s: input %d: %w", o.k.Name(), i, err)
			}
			in[i] = d
		}
		if len(shape) == 0 {
			out := make([]float32, 1)
			o.k.Forward32(out, in)
			o.out.consumed()
			return wrap(out, shape), nil
		}
		v := o.out.output(tensor.Float32, shape, !overwrites(o.k))
		o.k.Forward32(v.Data().([]float32), in)
		o.out.consumed()
		return v, nil
	case tensor.Float64:
		in := make([][]float64, len(vals))
		for i, v := range vals {
			d, err := Data[float64](v)
			if err != nil {
				return nil, fmt.Errorf("%s: input %d: %w", o.k.Name(), i, err)
			}
			in[i] = d
		}
		if len(shape) == 0 {
			out := make([]float64, 1)
			o.k.Forward64(out, in)
			o.out.consumed()
			return wrap(out, shape), nil
		}
		v := o.out.output(tensor.Float64, shape, !overwrites(o.k))
		o.k.Forward64(v.Data().([]float64), in)
		o.out.consumed()
		return v, nil
	}
	return nil, fmt.Errorf("%s: unsupported dtype %v", o.k.Name(), vals[0].Dtype())
}

// Data returns the flat data of a Gorgonia value as a slice of T.
func Data[T float32 | float64](v G.Value) ([]T, error) {
	switch v := v.(type) {
	case *tensor.Dense:
		if v.IsView() {
			v = v.Materialize().(*tensor.Dense)
		}
		d, ok := v.Data().([]T)
		if !ok {
			if s, isScalar := v.Data().(T); isScalar {
				return []T{s}, nil
			}
			return nil, fmt.Errorf("dtype %v, want %T", v.Dtype(), *new(T))
		}
		return d, nil
	case *G.F32:
		if x, ok := any(float32(*v)).(T); ok {
			return []T{x}, nil
		}
	case *G.F64:
		if x, ok := any(float64(*v)).(T); ok {
			return []T{x}, nil
		}
	}
	return nil, fmt.Errorf("unsupported value %T (%v)", v, v.Dtype())
}

func wrap[T float32 | float64](out []T, shape tensor.Shape) G.Value {
	if len(shape) == 0 {
		switch x := any(out[0]).(type) {
		case float32:
			return G.NewF32(x)
		case float64:
			return G.NewF64(x)
		}
	}
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(out))
}

func (o kernelOp) ReturnsPtr() bool     { return false }
func (o kernelOp) CallsExtern() bool    { return false }
func (o kernelOp) OverwritesInput() int { return -1 }
func (o kernelOp) String() string       { return o.k.Name() }

// WriteHash writes the kernel's name, which names all its parameters (see
// Kernel.Name), the inputs' ranks and the salt.
func (o kernelOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s%v#%d", o.k.Name(), o.inDims, o.salt) }

func (o kernelOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// DiffWRT says no input has a gradient. Declaring that (rather than being
// no SDOp at all) lets Gorgonia take several gradients of one graph: a
// second G.Grad walks the backward kernels of the first, which would
// otherwise look like a break in the graph.
func (o kernelOp) DiffWRT(n int) []bool { return make([]bool, n) }

func (o kernelOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("%s has no gradient", o.k.Name())
}

type diffOp struct {
	kernelOp
	d Differentiable
}

func (o diffOp) DiffWRT(int) []bool { return o.d.DiffWRT() }

func (o diffOp) SymDiff(in G.Nodes, out, dOut *G.Node) (G.Nodes, error) {
	return o.d.Grad(in, out, dOut)
}

// KernelOf returns the kernel behind a Gorgonia op made by Apply, so other
// executors (the GPU one) can run the same graphs.
func KernelOf(o G.Op) (Kernel, bool) {
	switch o := o.(type) {
	case kernelOp:
		return o.k, true
	case diffOp:
		return o.k, true
	}
	return nil, false
}

// ImagePool is implemented by kernels that pool over the whole image they
// are given (a mean over H and W, as PromptIR's prompt blocks take), so
// that a tile of an image gives another result than the whole image
// wherever the pooled value is used.
type ImagePool interface {
	PoolsImage()
}

// PoolsImage reports whether a kernel of g pools over the whole image
// (ImagePool).
func PoolsImage(g *G.ExprGraph) bool {
	for _, n := range g.AllNodes() {
		if k, ok := KernelOf(n.Op()); ok {
			if _, ok := k.(ImagePool); ok {
				return true
			}
		}
	}
	return false
}

// Overwriter is implemented by kernels that write every element of their
// output, so it need not be zeroed before Forward32/Forward64.
type Overwriter interface {
	OverwritesOutput() bool
}

func overwrites(k Kernel) bool {
	o, ok := k.(Overwriter)
	return ok && o.OverwritesOutput()
}

// Coster is implemented by forward kernels that do matrix products
// (convolutions, linear layers, attention): MACs is the number of
// multiply-accumulates of one forward call, for FLOP counts (2 per MAC).
type Coster interface {
	MACs() int64
}

// Releaser hands back to the pool, after a run, the output buffers of a
// graph's kernel nodes that nothing reads once the run is over. Without it
// a node whose consumers are not all kernels (Gorgonia's sums of gradient
// contributions, the losses) keeps its buffer until it is computed again,
// so the next run allocates beside them: a training step's memory would
// hold most of two steps' activations.
type Releaser struct{ bufs []*outBuf }

// NewReleaser lists the kernel nodes of g whose values need not outlive a
// run: those that are not kept, and from which no kept node can be reached
// through Gorgonia ops alone (such an op may return a view of its input,
// so a kept reshape protects the kernel output it reshapes).
func NewReleaser(g *G.ExprGraph, keep G.Nodes) *Releaser {
	protected := map[*G.Node]bool{}
	seen := map[*G.Node]bool{}
	stack := append(G.Nodes{}, keep...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == nil || seen[n] {
			continue
		}
		seen[n] = true
		if bufOf(n.Op()) != nil {
			protected[n] = true
			continue // a kernel writes its own output: no view below it
		}
		it := g.From(n.ID())
		for it.Next() {
			stack = append(stack, it.Node().(*G.Node))
		}
	}
	r := &Releaser{}
	for _, n := range g.AllNodes() {
		if b := bufOf(n.Op()); b != nil && b.node == n && !protected[n] {
			r.bufs = append(r.bufs, b)
		}
	}
	return r
}

// Release frees the listed buffers; call it after a run, before anything
// but kept values is read. The next run acquires them again.
func (r *Releaser) Release() {
	if !pooling {
		return
	}
	for _, b := range r.bufs {
		b.free()
	}
}
