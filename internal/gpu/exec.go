//go:build baryirgpu

package gpu

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// Kernel is implemented by the op.Kernels that run on the GPU (in the
// *_gpu.go files beside them): LaunchGPU queues the computation of out
// (OutShape elements) from the inputs, all device buffers.
type Kernel interface {
	LaunchGPU(d *Device, out Buf, in []Buf)
}

// step is one node of the executed graph.
type step struct {
	node *G.Node
	run  func(out Buf, in []Buf)
	in   []*G.Node
}

// Executor runs a Gorgonia graph on the GPU. Inputs with values
// (parameters, constant vectors) are uploaded once at Compile and stay
// resident; placeholders are set with Let; every op is queued as CUDA
// kernels on one stream with no host round trip until Run's final sync.
// Buffers of intermediate nodes are planned at Compile: a node's buffer
// returns to the plan's pool after its last reader, so later nodes reuse it.
type Executor struct {
	// HostOps names the ops that run on the host (see Compile).
	HostOps []string

	d       *Device
	prec    Precision
	steps   []step
	bufs    map[*G.Node]Buf
	keep    map[*G.Node]bool
	holders map[*G.Node]bool // inputs: Let or uploaded values
	let     map[*G.Node]bool
	planned []Buf
}

func size(n *G.Node) int { return max(n.Shape().TotalSize(), 1) }

// Options are the choices of Compile.
type Options struct {
	// HostFallback runs an op without a GPU implementation on the host: the
	// stream is synchronised, its inputs are downloaded, the op's own Do
	// computes the output, which is uploaded (Executor.HostOps lists them).
	// Without it, Compile fails on such ops and names every one.
	HostFallback bool
	// Precision is the arithmetic of the graph's matrix products and
	// convolutions (Device.Gemm's callers); FP32 by default. TF32 and BF16
	// load cuBLASLt at Compile, which fails if it cannot.
	Precision Precision
}

// Compile plans the subgraph of g that computes the nodes in keep (all of g
// when keep is empty) and uploads the values of its input nodes that have
// one. The values of keep nodes can be read after Run.
func Compile(d *Device, g *G.ExprGraph, opts Options, keep ...*G.Node) (*Executor, error) {
	sub := g
	if len(keep) > 0 {
		sub = g.SubgraphRoots(keep...)
	}
	sorted, err := G.Sort(sub)
	if err != nil {
		return nil, fmt.Errorf("gpu: sorting graph: %w", err)
	}
	for i, j := 0, len(sorted)-1; i < j; i, j = i+1, j-1 {
		sorted[i], sorted[j] = sorted[j], sorted[i]
	}
	switch opts.Precision {
	case FP32:
	case TF32, BF16:
		if _, _, err := d.LoadBLAS(); err != nil {
			return nil, fmt.Errorf("gpu: precision %s: %w", opts.Precision, err)
		}
	default:
		return nil, fmt.Errorf("gpu: unknown precision %d", int(opts.Precision))
	}
	e := &Executor{d: d, prec: opts.Precision, bufs: map[*G.Node]Buf{}, keep: map[*G.Node]bool{}, holders: map[*G.Node]bool{}, let: map[*G.Node]bool{}}
	for _, n := range keep {
		e.keep[n] = true
	}
	if len(keep) == 0 {
		for _, n := range sorted {
			e.keep[n] = true
		}
	}
	for _, n := range sorted {
		if n.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("gpu: node %s has dtype %v; the GPU executor runs float32 graphs", n.Name(), n.Dtype())
		}
	}
	last := map[*G.Node]int{}
	for i, n := range sorted {
		for _, c := range children(n) {
			last[c] = i
		}
	}
	free := map[int][]Buf{}
	var unsupported []string
	get := func(n int) Buf {
		if l := free[n]; len(l) > 0 {
			b := l[len(l)-1]
			free[n] = l[:len(l)-1]
			return b
		}
		b := d.Alloc(n)
		e.planned = append(e.planned, b)
		return b
	}
	for i, n := range sorted {
		o := n.Op()
		if o == nil || isConstant(o) || isSizeOp(o) {
			// Inputs and data-independent nodes: a resident buffer with the value if known.
			b := d.Alloc(size(n))
			e.bufs[n] = b
			e.holders[n] = true
			v := n.Value()
			if o != nil && v == nil {
				in := make([]G.Value, len(children(n)))
				for j, c := range children(n) {
					if c.Shape().IsScalar() {
						in[j] = G.NewF32(0)
					} else {
						in[j] = tensor.New(tensor.WithShape(c.Shape().Clone()...), tensor.Of(tensor.Float32))
					}
				}
				if v, err = o.Do(in...); err != nil {
					return nil, fmt.Errorf("gpu: evaluating %s: %w", o, err)
				}
			}
			if v != nil {
				if err := e.upload(n, v); err != nil {
					return nil, err
				}
				e.let[n] = true
			}
			continue
		}
		run, err := e.lower(n)
		if err != nil {
			if !opts.HostFallback {
				unsupported = append(unsupported, fmt.Sprintf("%s (%v)", n.Name(), err))
				continue
			}
			run = e.hostFallback(n)
			e.HostOps = append(e.HostOps, n.Op().String())
		}
		e.bufs[n] = get(size(n))
		e.steps = append(e.steps, step{node: n, run: run, in: children(n)})
		// Release inputs read for the last time, and this node if nobody reads it.
		rel := append(G.Nodes{}, children(n)...)
		if _, read := last[n]; !read {
			rel = append(rel, n)
		}
		seen := map[*G.Node]bool{}
		for _, c := range rel {
			if seen[c] || e.holders[c] || e.keep[c] {
				continue
			}
			seen[c] = true
			if c != n && last[c] != i {
				continue
			}
			b := e.bufs[c]
			free[b.N] = append(free[b.N], b)
		}
	}
	if len(unsupported) > 0 {
		e.Close()
		return nil, fmt.Errorf("gpu: %d ops have no GPU implementation (allow host fallback to run them on the host): %s",
			len(unsupported), strings.Join(unsupported, "; "))
	}
	return e, d.Err()
}

// children lists the inputs of n in order.
func children(n *G.Node) G.Nodes {
	var out G.Nodes
	it := n.Graph().From(n.ID())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

func isConstant(o G.Op) bool {
	_, ok := o.(interface{ Value() G.Value })
	return ok
}

func isSizeOp(o G.Op) bool { return opName(o) == "sizeOp" }

// opName is the name of an op's type, without the pointer.
func opName(o G.Op) string {
	t := reflect.TypeOf(o)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func (e *Executor) upload(n *G.Node, v G.Value) error {
	data, err := op.Data[float32](v)
	if err != nil {
		return fmt.Errorf("gpu: value of %s: %w", n.Name(), err)
	}
	if len(data) != size(n) {
		return fmt.Errorf("gpu: value of %s has %d elements, want %d", n.Name(), len(data), size(n))
	}
	return e.d.Upload(e.bufs[n], data)
}

func (e *Executor) hostFallback(n *G.Node) func(Buf, []Buf) {
	d := e.d
	o := n.Op()
	ch := children(n)
	shape := n.Shape().Clone()
	return func(out Buf, in []Buf) {
		if d.Err() != nil {
			return
		}
		vals := make([]G.Value, len(in))
		for i, c := range ch {
			data := make([]float32, size(c))
			if err := d.Download(in[i], data); err != nil {
				return
			}
			if c.Shape().IsScalar() {
				vals[i] = G.NewF32(data[0])
			} else {
				vals[i] = tensor.New(tensor.WithShape(c.Shape().Clone()...), tensor.WithBacking(data))
			}
		}
		v, err := o.Do(vals...)
		if err != nil {
			d.fail(fmt.Errorf("gpu: host fallback %s: %w", o, err))
			return
		}
		data, err := op.Data[float32](v)
		if err != nil {
			d.fail(fmt.Errorf("gpu: host fallback %s: %w", o, err))
			return
		}
		if len(data) != max(shape.TotalSize(), 1) {
			d.fail(fmt.Errorf("gpu: host fallback %s: %d values for shape %v", o, len(data), shape))
			return
		}
		d.Upload(out, data)
	}
}

// lower returns the launcher of an op node.
func (e *Executor) lower(n *G.Node) (func(Buf, []Buf), error) {
	o := n.Op()
	d := e.d
	if k, ok := op.KernelOf(o); ok {
		gk, ok := k.(Kernel)
		if !ok {
			return nil, fmt.Errorf("gpu: kernel %s (%T) has no GPU implementation", k.Name(), k)
		}
		return func(out Buf, in []Buf) { gk.LaunchGPU(d, out, in) }, nil
	}
	ch := children(n)
	total := size(n)
	name := opName(o)
	str := o.String()
	switch name {
	case "elemBinOp":
		if len(ch) != 2 {
			return nil, fmt.Errorf("gpu: %s with %d inputs", str, len(ch))
		}
		na, nb := size(ch[0]), size(ch[1])
		if (na != total && na != 1) || (nb != total && nb != 1) {
			return nil, fmt.Errorf("gpu: %s of shapes %v and %v needs broadcasting the GPU executor lacks", str, ch[0].Shape(), ch[1].Shape())
		}
		code := -1
		switch strings.Fields(str)[0] {
		case "+":
			code = OpAdd
		case "-":
			code = OpSub
		case "⊙", "*":
			code = OpMul
		case "÷", "/":
			code = OpDiv
		}
		if code < 0 {
			return nil, fmt.Errorf("gpu: binary op %q not supported", str)
		}
		return func(out Buf, in []Buf) { d.Binary(out, in[0], in[1], total, na, nb, code) }, nil
	case "elemUnaryOp":
		codes := map[string]int{"neg": OpNeg, "abs": OpAbs, "square": OpSquare, "sqrt": OpSqrt, "exp": OpExp,
			"ln": OpLog, "log": OpLog, "tanh": OpTanh, "sigmoid": OpSigmoid, "inverse": OpInverse, "sign": OpSign,
			"cube": OpCube, "ReLU": OpReLU, "relu": OpReLU}
		code, ok := codes[strings.Fields(str)[0]]
		if !ok {
			return nil, fmt.Errorf("gpu: unary op %q not supported", str)
		}
		return func(out Buf, in []Buf) { d.Unary(out, in[0], total, code) }, nil
	case "reshapeOp":
		return func(out Buf, in []Buf) { d.Copy(out, in[0], total) }, nil
	case "repeatOp":
		is, os := []int(ch[0].Shape()), []int(n.Shape())
		if size(ch[0]) != 1 && (len(is) != len(os) || len(os) > 4) {
			return nil, fmt.Errorf("gpu: repeat from %v to %v not supported", ch[0].Shape(), n.Shape())
		}
		if len(os) > 4 {
			return nil, fmt.Errorf("gpu: repeat to %v: more than 4 axes", n.Shape())
		}
		return func(out Buf, in []Buf) { d.Repeat(out, in[0], os, is) }, nil
	case "linAlgBinOp":
		if len(ch) == 2 && ch[0].Dims() == 2 && ch[1].Dims() == 1 && n.Dims() == 1 && strings.Contains(str, "×") {
			// Matrix-vector product: b as a k x 1 matrix.
			as := ch[0].Shape()
			ta := strings.Contains(strings.SplitN(str, "×", 2)[0], "ᵀ")
			m, k := as[0], as[1]
			if ta {
				m, k = as[1], as[0]
			}
			return func(out Buf, in []Buf) { d.GemmFP32(ta, false, m, 1, k, 1, in[0], as[1], in[1], 1, 0, out, 1, One) }, nil
		}
		if len(ch) == 2 && ch[0].Dims() == 1 && ch[1].Dims() == 1 && n.Dims() == 2 && strings.Contains(str, "⊗") {
			// Outer product: an m x 1 times a 1 x n matrix.
			m, nn := size(ch[0]), size(ch[1])
			return func(out Buf, in []Buf) { d.GemmFP32(false, false, m, nn, 1, 1, in[0], 1, in[1], nn, 0, out, nn, One) }, nil
		}
		if len(ch) == 2 && ch[0].Dims() == 2 && ch[1].Dims() == 2 && n.Dims() == 2 && strings.Contains(str, "×") {
			as, bs, os := ch[0].Shape(), ch[1].Shape(), n.Shape()
			parts := strings.SplitN(str, "×", 2)
			ta, tb := strings.Contains(parts[0], "ᵀ"), strings.Contains(parts[1], "ᵀ")
			k := as[1]
			if ta {
				k = as[0]
			}
			m, nn := os[0], os[1]
			return func(out Buf, in []Buf) {
				d.GemmFP32(ta, tb, m, nn, k, 1, in[0], as[1], in[1], bs[1], 0, out, nn, One)
			}, nil
		}
	case "sliceOp":
		along, start, step, ok := sliceParams(o)
		is := []int(ch[0].Shape())
		if !ok || along >= len(is) {
			break
		}
		outer, inner := prod(is[:along]), prod(is[along+1:])
		count := total / max(outer*inner, 1)
		if outer*count*inner != total || start+(count-1)*step >= is[along] {
			break
		}
		return func(out Buf, in []Buf) { d.SliceAxis(out, in[0], outer, is[along], inner, start, step, count) }, nil
	case "sliceIncrOp":
		// Gorgonia's slice gradient: zeros of the input's shape with the slice set to the second input.
		along, start, step, ok := sliceParams(o)
		os := []int(n.Shape())
		if !ok || along >= len(os) || step != 1 || len(ch) != 2 {
			break
		}
		outer, inner := prod(os[:along]), prod(os[along+1:])
		count := size(ch[1]) / max(outer*inner, 1)
		if outer*count*inner != size(ch[1]) || start+count > os[along] {
			break
		}
		return func(out Buf, in []Buf) {
			d.Fill(out, total, 0)
			d.ChannelCopy(out, in[1], outer, count, inner, os[along], start, true)
		}, nil
	case "concatOp":
		axis := int(reflect.ValueOf(o).FieldByName("axis").Int())
		os := []int(n.Shape())
		if axis < 0 || axis >= len(os) {
			break
		}
		outer, inner := prod(os[:axis]), prod(os[axis+1:])
		sizes := make([]int, len(ch))
		for i, c := range ch {
			cs := c.Shape()
			if len(cs) != len(os) {
				return nil, fmt.Errorf("gpu: %s of ranks %d and %d", str, len(cs), len(os))
			}
			sizes[i] = cs[axis]
		}
		return func(out Buf, in []Buf) {
			from := 0
			for i, a := range sizes {
				d.ChannelCopy(out, in[i], outer, a, inner, os[axis], from, true)
				from += a
			}
		}, nil
	case "softmaxOp", "softmaxDiffOp":
		v := reflect.ValueOf(o).Elem()
		if name == "softmaxDiffOp" {
			v = v.Field(0).Elem()
		}
		axis, isLog := int(v.FieldByName("axis").Int()), v.FieldByName("isLog").Bool()
		dims := n.Dims()
		if isLog || (axis != -1 && axis != dims-1) || dims == 0 {
			return nil, fmt.Errorf("gpu: %s: only softmax over the last axis runs on the GPU", str)
		}
		row := n.Shape()[dims-1]
		rows := total / max(row, 1)
		one := d.Alloc(1)
		d.Fill(one, 1, 1)
		e.planned = append(e.planned, one)
		if name == "softmaxOp" {
			return func(out Buf, in []Buf) { d.RowSoftmax(out, in[0], one, rows, row) }, nil
		}
		// (x, y, dy) -> y * (dy - sum_j y_j dy_j), in place over a copy of dy.
		scratch := d.Alloc(rows)
		e.planned = append(e.planned, scratch)
		return func(out Buf, in []Buf) {
			d.Copy(out, in[2], total)
			d.RowSoftmaxBack(out, scratch, in[1], one, rows, row)
		}, nil
	case "sumOp":
		axes, err := parseAxes(str)
		if err != nil {
			return nil, err
		}
		return e.lowerSum(ch[0].Shape(), axes)
	}
	return nil, fmt.Errorf("gpu: op %s (%s) not supported", str, name)
}

// sliceParams reads the axis, start and step of a Gorgonia sliceOp (or the
// sliceOp inside a sliceIncrOp); ok is false if they cannot be read.
func sliceParams(o G.Op) (along, start, step int, ok bool) {
	s, ok := op.GorgoniaSliceOf(o)
	return s.Along, s.Start, s.Step, ok
}

// parseAxes reads "Σ[0 2]".
func parseAxes(s string) ([]int, error) {
	i, j := strings.Index(s, "["), strings.LastIndex(s, "]")
	if i < 0 || j < i {
		return nil, fmt.Errorf("gpu: cannot read axes of %q", s)
	}
	var axes []int
	for _, f := range strings.Fields(s[i+1 : j]) {
		a, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("gpu: cannot read axes of %q", s)
		}
		axes = append(axes, a)
	}
	return axes, nil
}

// lowerSum sums over the given axes, one axis at a time (largest first).
func (e *Executor) lowerSum(shape tensor.Shape, axes []int) (func(Buf, []Buf), error) {
	d := e.d
	dims := []int(shape.Clone())
	if len(dims) == 0 {
		return func(out Buf, in []Buf) { d.Copy(out, in[0], 1) }, nil
	}
	set := map[int]bool{}
	for _, a := range axes {
		if a < 0 || a >= len(dims) {
			return nil, fmt.Errorf("gpu: sum over axis %d of shape %v", a, shape)
		}
		set[a] = true
	}
	// Collapse: successive reductions, each (outer, red, inner).
	type red struct{ outer, red, inner int }
	var plan []red
	cur := append([]int{}, dims...)
	for a := len(dims) - 1; a >= 0; a-- {
		if !set[a] {
			continue
		}
		outer, inner := prod(cur[:a]), prod(cur[a+1:])
		plan = append(plan, red{outer, cur[a], inner})
		cur = append(append([]int{}, cur[:a]...), cur[a+1:]...)
	}
	return func(out Buf, in []Buf) {
		src := in[0]
		var tmp []Buf
		for i, r := range plan {
			dst := out
			if i < len(plan)-1 {
				dst = d.Alloc(r.outer * r.inner)
				tmp = append(tmp, dst)
			}
			d.ReduceSum(dst, src, r.outer, r.red, r.inner, 1, 0)
			src = dst
		}
		for _, b := range tmp {
			d.Free(b)
		}
	}, nil
}

// Let sets the value of an input node (a placeholder or a parameter).
func (e *Executor) Let(n *G.Node, v G.Value) error {
	if !e.holders[n] {
		return fmt.Errorf("gpu: %s is not an input of the compiled graph", n.Name())
	}
	if err := e.upload(n, v); err != nil {
		return err
	}
	e.let[n] = true
	return nil
}

// LetData is Let from a flat slice.
func (e *Executor) LetData(n *G.Node, data []float32) error {
	if !e.holders[n] {
		return fmt.Errorf("gpu: %s is not an input of the compiled graph", n.Name())
	}
	if len(data) != size(n) {
		return fmt.Errorf("gpu: %d values for %s of shape %v", len(data), n.Name(), n.Shape())
	}
	e.let[n] = true
	return e.d.Upload(e.bufs[n], data)
}

// Enqueue queues every step without waiting (see Run).
func (e *Executor) Enqueue() error { return e.enqueue(nil) }

// enqueue queues the steps listed (all when nil).
func (e *Executor) enqueue(only []int) error {
	for n := range e.holders {
		if !e.let[n] {
			return fmt.Errorf("gpu: input %s has no value; Let it first", n.Name())
		}
	}
	defer e.atPrecision()()
	in := make([]Buf, 0, 8)
	run := func(s step) {
		in = in[:0]
		for _, c := range s.in {
			in = append(in, e.bufs[c])
		}
		s.run(e.bufs[s.node], in)
	}
	if only == nil {
		for _, s := range e.steps {
			run(s)
		}
	} else {
		for _, i := range only {
			run(e.steps[i])
		}
	}
	return e.d.Err()
}

// atPrecision sets the device's precision to the executor's for the steps
// it queues (the device is shared by executors of different precisions);
// call the returned function to restore the previous one.
func (e *Executor) atPrecision() func() {
	old := e.d.prec
	e.d.prec = e.prec
	return func() { e.d.prec = old }
}

// Precision is the precision the executor's matrix products run at.
func (e *Executor) Precision() Precision { return e.prec }

// Run executes the graph once and waits for it.
func (e *Executor) Run() error {
	if err := e.Enqueue(); err != nil {
		return err
	}
	return e.d.Sync()
}

// Phase is the part of an executor's graph that some of its kept nodes
// need, e.g. one side of the alternating max-min training of BaryIR: the
// map's loss and gradients, then the potentials' loss and gradients after
// the map's update. Phases share the executor's buffers and parameters.
type Phase struct {
	e     *Executor
	steps []int
}

// Phase selects the steps that compute roots (kept nodes of the executor).
func (e *Executor) Phase(roots ...*G.Node) (*Phase, error) {
	index := map[*G.Node]int{}
	for i, s := range e.steps {
		index[s.node] = i
	}
	need := map[int]bool{}
	var stack []*G.Node
	for _, r := range roots {
		if !e.keep[r] && !e.holders[r] {
			return nil, fmt.Errorf("gpu: phase root %s is not kept by the compiled graph", r.Name())
		}
		stack = append(stack, r)
	}
	seen := map[*G.Node]bool{}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		i, ok := index[n]
		if !ok {
			continue // an input
		}
		need[i] = true
		stack = append(stack, e.steps[i].in...)
	}
	p := &Phase{e: e}
	for i := range e.steps {
		if need[i] {
			p.steps = append(p.steps, i)
		}
	}
	return p, nil
}

// Steps is the number of op nodes the phase runs.
func (p *Phase) Steps() int { return len(p.steps) }

// Enqueue queues the phase's steps without waiting.
func (p *Phase) Enqueue() error { return p.e.enqueue(p.steps) }

// Run executes the phase once and waits for it.
func (p *Phase) Run() error {
	if err := p.Enqueue(); err != nil {
		return err
	}
	return p.e.d.Sync()
}

// NodeTime is one node's time in a profiled run.
type NodeTime struct {
	Op      string
	Seconds float64
}

// Profile runs the graph once, waiting after every node, and returns the
// seconds spent per kind of op (the kernel's type, or the Gorgonia op).
func (e *Executor) Profile() (map[string]float64, error) {
	_, m, err := e.ProfileNodes()
	return m, err
}

// ProfileNodes is Profile that also returns every node's time.
func (e *Executor) ProfileNodes() ([]NodeTime, map[string]float64, error) {
	var nodes []NodeTime
	if err := e.d.Sync(); err != nil {
		return nil, nil, err
	}
	defer e.atPrecision()()
	prof := map[string]float64{}
	in := make([]Buf, 0, 8)
	for _, s := range e.steps {
		in = in[:0]
		for _, c := range s.in {
			in = append(in, e.bufs[c])
		}
		start := time.Now()
		s.run(e.bufs[s.node], in)
		if err := e.d.Sync(); err != nil {
			return nil, nil, err
		}
		sec := time.Since(start).Seconds()
		key := reflect.TypeOf(s.node.Op()).String()
		if k, ok := op.KernelOf(s.node.Op()); ok {
			key = reflect.TypeOf(k).String()
		}
		prof[key] += sec
		nodes = append(nodes, NodeTime{Op: s.node.Op().String(), Seconds: sec})
	}
	return nodes, prof, nil
}

// Buf is the device buffer of a node (inputs, kept nodes: valid after Run).
func (e *Executor) Buf(n *G.Node) (Buf, bool) {
	b, ok := e.bufs[n]
	return b, ok && (e.holders[n] || e.keep[n])
}

// Read downloads the value of an input or kept node.
func (e *Executor) Read(n *G.Node) ([]float32, error) {
	b, ok := e.Buf(n)
	if !ok {
		return nil, fmt.Errorf("gpu: %s is not kept by the compiled graph", n.Name())
	}
	out := make([]float32, size(n))
	return out, e.d.Download(b, out)
}

// ReadInto downloads the node's value into its Gorgonia value (a dense
// float32 tensor), e.g. to bring trained parameters back to the host.
func (e *Executor) ReadInto(n *G.Node) error {
	data, err := e.Read(n)
	if err != nil {
		return err
	}
	if v := n.Value(); v != nil {
		if dst, err := op.Data[float32](v); err == nil && len(dst) == len(data) {
			copy(dst, data)
			return nil
		}
	}
	t := tensor.New(tensor.WithShape(n.Shape().Clone()...), tensor.WithBacking(data))
	return G.Let(n, t)
}

// Steps is the number of op nodes the executor runs.
func (e *Executor) Steps() int { return len(e.steps) }

// Close returns the executor's buffers to the device pool.
func (e *Executor) Close() {
	for _, b := range e.planned {
		e.d.Free(b)
	}
	for n := range e.holders {
		e.d.Free(e.bufs[n])
	}
	e.planned, e.bufs = nil, nil
}
