package op

import (
	"slices"
	"sort"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Arena is the memory in which the Plans of one machine's phases place
// kernel outputs. The pool (acquire, release) reuses whole buffers, so
// differently sized outputs fragment it: on the Paper preset at 512x512 it
// grows to about three times the outputs live at once. A plan knows every
// output's size and life before the first run and gives each one a fixed
// offset, so the arena is close to the largest set of outputs live at once.
// The phases of a machine run one at a time and share the arena, which
// grows to the largest plan; it is allocated on the first run.
type Arena struct {
	need map[tensor.Dtype]int // elements the largest plan needs, by dtype
	mem  map[tensor.Dtype]any // []float32 or []float64 of need's length
	gen  int                  // bumped when mem is reallocated
	live []*planSlot          // slots whose outputs hold arena memory now
	// fallbacks counts the planned outputs that took a pooled buffer
	// because another output still held their region.
	fallbacks int
}

// Fallbacks is the number of planned outputs, over all runs so far, that
// took a pooled buffer because their run deviated from the plan: 0 when
// the plans hold, as they should for a tape machine's fixed order.
func (a *Arena) Fallbacks() int { return a.fallbacks }

// NewArena returns an empty arena.
func NewArena() *Arena {
	return &Arena{need: map[tensor.Dtype]int{}, mem: map[tensor.Dtype]any{}}
}

// Bytes is the size of the arena's memory once allocated.
func (a *Arena) Bytes() int64 {
	var b int64
	for dt, n := range a.need {
		b += int64(n) * int64(dt.Size())
	}
	return b
}

// grow makes the arena hold need elements of each dtype, reallocating (and
// dropping its old memory first) when it is too small.
func (a *Arena) grow() {
	for dt, n := range a.need {
		if cur := a.mem[dt]; cur != nil && arenaLen(cur) >= n {
			continue
		}
		a.mem[dt] = nil
		switch dt {
		case tensor.Float32:
			a.mem[dt] = make([]float32, n)
		case tensor.Float64:
			a.mem[dt] = make([]float64, n)
		}
		a.gen++
	}
}

func arenaLen(m any) int {
	switch m := m.(type) {
	case []float32:
		return len(m)
	case []float64:
		return len(m)
	}
	return 0
}

// claim marks s's region as in use, unless a live output overlaps it (the
// run deviates from the plan): then the caller takes a pooled buffer.
func (a *Arena) claim(s *planSlot) bool {
	for _, l := range a.live {
		if l.dt == s.dt && l.off < s.off+s.n && s.off < l.off+l.n {
			a.fallbacks++
			return false
		}
	}
	a.live = append(a.live, s)
	return true
}

// drop marks s's region free.
func (a *Arena) drop(s *planSlot) {
	if i := slices.Index(a.live, s); i >= 0 {
		a.live = slices.Delete(a.live, i, i+1)
	}
}

// Plan places the outputs of one phase's kernel nodes in an Arena. Call
// Activate before each run of the phase and Deactivate after it (after
// the Releaser's Release, which frees the outputs that outlive their
// consumers). A node the plan does not place, or one whose run deviates
// from the plan (another output still holds its region), takes a pooled
// buffer as before; with pooling off (SetPooling) the plan is not used.
type Plan struct {
	arena *Arena
	slots []*planSlot
	gen   int // the arena generation the slots' tensors were made for
	peak  map[tensor.Dtype]int
}

// planSlot is one output's place: elements [off, off+n) of the arena of
// its dtype, live from the step def of the phase's order to the step end.
type planSlot struct {
	b        *outBuf
	plan     *Plan
	dt       tensor.Dtype
	shape    tensor.Shape
	off, n   int
	def, end int
	t        *tensor.Dense // over the arena region, made on activation
}

// planAlign is the granularity of offsets, in elements: 64 bytes for
// float32, so every output starts on its own cache line.
const planAlign = 16

// Plan places, in a, the outputs of the kernel nodes in order (the order a
// tape machine runs them in) that the Releaser frees: outputs that no kept
// node needs after the run. An output lives from its node's step to that
// of its last consumer when every consumer is a kernel in order (the
// consumer counting of outBuf frees it then), else to the end of the run.
// Outputs are placed largest first, each at the lowest offset free over its
// life (the greedy-by-size placement of TFLite's memory planner).
func (r *Releaser) Plan(order G.Nodes, a *Arena) *Plan {
	p := &Plan{arena: a, peak: map[tensor.Dtype]int{}}
	step := make(map[*G.Node]int, len(order))
	for i, n := range order {
		step[n] = i
	}
	freed := make(map[*outBuf]bool, len(r.bufs))
	for _, b := range r.bufs {
		freed[b] = true
	}
	for i, n := range order {
		b := bufOf(n.Op())
		if b == nil || b.node != n || !freed[b] {
			continue
		}
		dt := n.Dtype()
		if dt != tensor.Float32 && dt != tensor.Float64 {
			continue
		}
		k, _ := KernelOf(n.Op())
		shape := k.OutShape()
		if len(shape) == 0 {
			continue // scalars are always fresh
		}
		p.slots = append(p.slots, &planSlot{b: b, plan: p, dt: dt, shape: shape.Clone(), n: shape.TotalSize(), def: i, end: lastUse(n, step, len(order))})
	}
	p.place()
	for dt, n := range p.peak {
		a.need[dt] = max(a.need[dt], n)
	}
	return p
}

// lastUse is the step after which n's output is freed: that of its last
// consumer if every consumer is a kernel in the phase, else the end.
func lastUse(n *G.Node, step map[*G.Node]int, end int) int {
	if kernelConsumers(n) == 0 {
		return end
	}
	last := step[n]
	it := n.Graph().To(n.ID())
	for it.Next() {
		s, ok := step[it.Node().(*G.Node)]
		if !ok {
			return end
		}
		last = max(last, s)
	}
	return last
}

// place gives every slot its offset, largest first, at the lowest aligned
// offset that no slot already placed and live at the same time overlaps.
func (p *Plan) place() {
	bySize := slices.Clone(p.slots)
	sort.SliceStable(bySize, func(i, j int) bool { return bySize[i].n > bySize[j].n })
	var placed []*planSlot
	for _, s := range bySize {
		var busy []*planSlot
		for _, q := range placed {
			if q.dt == s.dt && q.def <= s.end && s.def <= q.end {
				busy = append(busy, q)
			}
		}
		sort.Slice(busy, func(i, j int) bool { return busy[i].off < busy[j].off })
		off := 0
		for _, q := range busy {
			if off+s.n <= q.off {
				break
			}
			off = max(off, alignUp(q.off+q.n))
		}
		s.off = off
		p.peak[s.dt] = max(p.peak[s.dt], off+s.n)
		placed = append(placed, s)
	}
}

func alignUp(n int) int { return (n + planAlign - 1) / planAlign * planAlign }

// Bytes is the arena memory this plan needs.
func (p *Plan) Bytes() int64 {
	var b int64
	for dt, n := range p.peak {
		b += int64(n) * int64(dt.Size())
	}
	return b
}

// LiveBytes is the most output memory the plan's outputs hold at once
// (without alignment): no placement can need less than this.
func (p *Plan) LiveBytes() int64 {
	type ev struct {
		at    int
		bytes int64
	}
	var evs []ev
	for _, s := range p.slots {
		b := int64(s.n) * int64(s.dt.Size())
		evs = append(evs, ev{2 * s.def, b}, ev{2*s.end + 1, -b})
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	var cur, peak int64
	for _, e := range evs {
		cur += e.bytes
		peak = max(peak, cur)
	}
	return peak
}

// Activate readies the plan for a run of its phase: the arena is allocated
// (or grown), and each placed node takes its region when it runs.
func (p *Plan) Activate() {
	a := p.arena
	a.grow()
	for _, s := range slices.Clone(a.live) {
		s.b.free() // left over from a run that stopped early
	}
	if p.gen != a.gen || (len(p.slots) > 0 && p.slots[0].t == nil) {
		for _, s := range p.slots {
			var backing any
			switch m := a.mem[s.dt].(type) {
			case []float32:
				backing = m[s.off : s.off+s.n : s.off+s.n]
			case []float64:
				backing = m[s.off : s.off+s.n : s.off+s.n]
			}
			s.t = tensor.New(tensor.WithShape(s.shape.Clone()...), tensor.WithBacking(backing))
		}
		p.gen = a.gen
	}
	for _, s := range p.slots {
		s.b.slot = s
	}
}

// Deactivate ends the plan's run: its nodes take pooled buffers again
// until it is activated again (another phase may place them elsewhere).
func (p *Plan) Deactivate() {
	for _, s := range p.slots {
		if s.b.slot == s {
			s.b.slot = nil
		}
	}
}

// take gives b its planned region for this run if the run follows the plan.
func (s *planSlot) take(dt tensor.Dtype, shape tensor.Shape, zero bool) bool {
	if !pooling || s.dt != dt || !s.shape.Eq(shape) || !s.plan.arena.claim(s) {
		return false
	}
	if zero {
		switch d := s.t.Data().(type) {
		case []float32:
			clear(d)
		case []float64:
			clear(d)
		}
	}
	return true
}
