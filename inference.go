package baryir

import (
	"fmt"
	"math"
	"slices"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// Restorer runs a trained network on whole images of any size: it pads to a
// multiple of 8 by reflection, cuts large images into overlapping tiles so
// memory stays bounded, and blends the tiles back with a smooth window.
//
// Channel attention pools over all of its input, so a tile restored on its
// own differs from one pass over the image everywhere, not only at seams.
// An image of several tiles is therefore run Passes times: the first pass
// measures every attention's statistics over the whole image (each tile
// summing the pixels it owns, see layers.SharedAttention) and each further
// pass applies the whole image's attention, measured on the pass before.
//
// A Restorer is safe for concurrent use: each Restore takes a runner (a
// graph and its Machine for one tile size) from a pool, making one when
// none is idle, so n goroutines hold at most n runners per tile size. Set
// Tile, Overlap, Passes and the device before sharing it.
type Restorer struct {
	arch Architecture
	// weights are the parameters as float32 tensors, converted once and
	// bound (not copied) into every runner's graph: runners only read them.
	weights map[string]*tensor.Dense
	// Tile is the largest side (a multiple of 8) run in one pass; Overlap is
	// how much neighbouring tiles share at least. Across the middle of an
	// overlap a tile's weight ramps linearly, over Overlap pixels (in one
	// pass, over all that the tiles share), so seams do not show.
	Tile, Overlap int
	// Passes is how many times the tiles of an image of more than one tile
	// are run (at least 1): 1 gives every tile its own attention, 2 or more
	// share the whole image's, each pass closer to one pass over the image.
	Passes int

	mu        sync.Mutex
	device    Device
	precision Precision // see SetPrecision
	idle      map[runnerKey][]*tileRunner
}

// runnerKey names a runner: its tile size, and whether its attention is
// shared with the other tiles (layers.SharedAttention).
type runnerKey struct {
	h, w   int
	shared bool
}

// tileRunner is one tile size's inference graph on a Machine.
type tileRunner struct {
	m      *Machine
	x, out *G.Node
	shared *layers.SharedAttention // nil unless the key is shared
	zeros  []float32               // the first pass's priors, as long as the longest (read only)
}

// NewRestorer checks that sd fits the network arch builds (a Config, or a
// backbone of your own) and returns a Restorer with 256-pixel tiles
// overlapping by 32, run in 3 passes, on the CPU. The Restorer keeps one
// float32 copy of the weights, shared by all its graphs; it does not keep
// sd. Tiles share the whole image's channel attention wherever the network
// has MDTA layers (layers.SharedAttention reaches every one built in its
// scope).
func NewRestorer(arch Architecture, sd StateDict) (*Restorer, error) {
	if arch == nil {
		return nil, fmt.Errorf("restore: no architecture")
	}
	weights := make(map[string]*tensor.Dense, len(sd))
	for name, t := range sd {
		if !slices.Contains(unusedAuthorTensors, name) {
			weights[name] = denseOf(t, tensor.Float32)
		}
	}
	r := &Restorer{arch: arch, weights: weights, Tile: 256, Overlap: 32, Passes: 3, device: DeviceCPU,
		idle: map[runnerKey][]*tileRunner{}}
	key := runnerKey{8, 8, false}
	tr, err := r.newRunner(key)
	if err != nil {
		return nil, err
	}
	r.put(key, tr)
	return r, nil
}

// SetDevice chooses where the tiles run: DeviceCPU (the default) or
// DeviceGPU, where each tile size's graph is compiled once with the weights
// uploaded once (a build with -tags baryirgpu; otherwise the error wraps
// ErrNoGPU). Runners made for the other device are released.
func (r *Restorer) SetDevice(d Device) error {
	if err := d.check(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if d == "" {
		d = DeviceCPU
	}
	if d == DeviceGPU {
		if _, err := GPUName(); err != nil {
			return fmt.Errorf("restore: device gpu: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.precision.checkOn(d); err != nil {
		return fmt.Errorf("restore: %w (set precision fp32 first)", err)
	}
	if d != r.device {
		r.closeIdle()
		r.device = d
	}
	return nil
}

// Device is where the tiles run.
func (r *Restorer) Device() Device {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.device
}

// newRunner builds the inference graph of one tile size and attention on
// the device. Shared attention has no GPU kernel: those graphs run it on
// the host.
func (r *Restorer) newRunner(key runnerKey) (*tileRunner, error) {
	r.mu.Lock()
	device, precision := r.device, r.precision
	r.mu.Unlock()
	g := G.NewGraph()
	s := layers.NewScope(g, tensor.Float32, 0).WithValues(r.weights)
	var sa *layers.SharedAttention
	opts := []MachineOption{OnDevice(device), WithPrecision(precision)}
	if key.shared {
		sa = layers.NewSharedAttention(g, tensor.Float32, key.h, key.w)
		s = s.WithSharedAttention(sa)
		opts = append(opts, WithHostFallback())
	}
	net, err := NewNetwork(s, r.arch)
	if err != nil {
		return nil, err
	}
	if err := checkBound(net, r.weights); err != nil {
		return nil, err
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, key.h, key.w), G.WithName("input"))
	out, err := net.Forward(x)
	if err != nil {
		return nil, err
	}
	tr := &tileRunner{x: x, out: out.Restored, shared: sa}
	keep := G.Nodes{out.Restored}
	if sa != nil {
		keep = append(keep, sa.Outputs()...)
		n := 0
		for _, l := range sa.Layers {
			n = max(n, l.Prior.Shape().TotalSize())
		}
		tr.zeros = make([]float32, n)
	}
	if tr.m, err = NewMachine(g, append(opts, Keep(keep...))...); err != nil {
		return nil, fmt.Errorf("restore: %dx%d tile: %w", key.h, key.w, err)
	}
	return tr, nil
}

// checkBound reports, as Load would, the parameters of net that did not get
// their value from weights (missing, or of another shape) and the tensors
// of weights that net has no parameter for.
func checkBound(net *Network, weights map[string]*tensor.Dense) error {
	var problems []string
	known := map[string]bool{}
	for _, p := range net.Params() {
		known[p.Name] = true
		t, ok := weights[p.Name]
		switch {
		case !ok:
			problems = append(problems, "missing "+p.Name)
		case p.Node.Value() != G.Value(t):
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", p.Name, t.Shape(), p.Node.Shape()))
		}
	}
	for name := range weights {
		if !known[name] {
			problems = append(problems, "unexpected "+name)
		}
	}
	if err := problemsError(problems); err != nil {
		return fmt.Errorf("weights do not fit the network: %w", err)
	}
	return nil
}

// get takes an idle runner for key, or makes one.
func (r *Restorer) get(key runnerKey) (*tileRunner, error) {
	r.mu.Lock()
	l := r.idle[key]
	if len(l) > 0 {
		tr := l[len(l)-1]
		r.idle[key] = l[:len(l)-1]
		r.mu.Unlock()
		return tr, nil
	}
	r.mu.Unlock()
	return r.newRunner(key)
}

// put returns a runner to the pool (or closes it if the device changed).
func (r *Restorer) put(key runnerKey, tr *tileRunner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr.m.Device() != r.device || tr.m.Precision() != r.precision {
		tr.m.Close()
		return
	}
	r.idle[key] = append(r.idle[key], tr)
}

// Close releases the idle runners' machines.
func (r *Restorer) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeIdle()
}

func (r *Restorer) closeIdle() {
	for _, l := range r.idle {
		for _, tr := range l {
			tr.m.Close()
		}
	}
	r.idle = map[runnerKey][]*tileRunner{}
}

// Restore restores img, a (3, h, w) image in [0,1] stored channel by channel,
// and returns the restored image of the same size, clipped to [0,1].
// Besides one tile's working set it holds the input (the caller's) and one
// float32 RGB accumulator, which becomes the output: 12 bytes per pixel of
// its own (the blend weights are separable, so their sums are two lines,
// not a plane).
func (r *Restorer) Restore(img []float32, h, w int) ([]float32, error) {
	return r.RestoreTiles(img, h, w, nil)
}

// Tiles is the number of tiles Restore cuts an h x w image into with the
// Restorer's Tile and Overlap, and how many passes it makes over them.
func (r *Restorer) Tiles(h, w int) (tiles, passes int, err error) {
	if err := r.checkSizes(h, w); err != nil {
		return 0, 0, err
	}
	t := r.tiling(h, w)
	return len(t.ys) * len(t.xs), t.passes(r.Passes), nil
}

func (r *Restorer) checkSizes(h, w int) error {
	if h < 8 || w < 8 {
		return fmt.Errorf("restore: image is %dx%d; it must be at least 8x8", h, w)
	}
	if r.Tile < 8 || r.Tile%8 != 0 || r.Overlap < 0 || r.Overlap >= r.Tile {
		return fmt.Errorf("restore: tile %d must be a positive multiple of 8 larger than overlap %d", r.Tile, r.Overlap)
	}
	if r.Passes < 1 {
		return fmt.Errorf("restore: %d passes; at least 1 is needed", r.Passes)
	}
	return nil
}

// tiling is where the tiles of an image lie: (th, tw) tiles starting at
// rows ys and columns xs of the image padded to (ph, pw). Every start is a
// multiple of 8, so a tile's levels (down to 1/8) align with the image's.
type tiling struct {
	ph, pw, th, tw int
	ys, xs         []int
}

func (r *Restorer) tiling(h, w int) tiling {
	ph, pw := roundUp8(h), roundUp8(w)
	th, tw := min(ph, r.Tile), min(pw, r.Tile)
	return tiling{ph: ph, pw: pw, th: th, tw: tw, ys: tileStarts(ph, th, r.Overlap), xs: tileStarts(pw, tw, r.Overlap)}
}

// passes is how many passes of at most passes the tiles need: one tile is
// the whole image, and one pass restores it.
func (t tiling) passes(passes int) int {
	if len(t.ys)*len(t.xs) == 1 {
		return 1
	}
	return passes
}

// RestoreTiles is Restore that calls onTile(done, total) after each tile
// run (total is tiles x passes, as Tiles gives them), e.g. to draw a
// progress bar on a large photo; a nil onTile is not called.
func (r *Restorer) RestoreTiles(img []float32, h, w int, onTile func(done, total int)) ([]float32, error) {
	if err := r.checkSizes(h, w); err != nil {
		return nil, err
	}
	if h > math.MaxInt32/w/3 || len(img) != 3*h*w {
		return nil, fmt.Errorf("restore: %d values for a 3x%dx%d image", len(img), h, w)
	}
	t := r.tiling(h, w)
	ph, pw, th, tw, ys, xs := t.ph, t.pw, t.th, t.tw, t.ys, t.xs
	sum := make([]float32, 3*ph*pw)
	oy, ox := ownedSpans(ys, th, ph), ownedSpans(xs, tw, pw)
	passes := t.passes(r.Passes)
	// In one pass each tile has its own attention, so tiles differ
	// everywhere: a ramp over all that neighbours share averages them most.
	ramp := r.Overlap
	if passes == 1 {
		ramp = max(th, tw)
	}
	// A tile's weight is wy[y] wx[x], so the weights summed over the grid
	// of tiles are the product of their sums along each axis.
	wys, wsy := axisWindows(ys, oy, th, ph, ramp)
	wxs, wsx := axisWindows(xs, ox, tw, pw, ramp)
	tile := make([]float32, 3*th*tw)
	done, total := 0, len(ys)*len(xs)*passes
	var prior [][]float32 // each shared layer's statistics over the image, from the last pass
	for pass := range passes {
		last := pass == passes-1
		var sums [][]float64 // each shared layer's statistics, summed over the tiles
		for i, y0 := range ys {
			for j, x0 := range xs {
				cropReflect(tile, img, h, w, y0, x0, th, tw)
				run := tileRun{tile: tile, key: runnerKey{th, tw, passes > 1}, prior: prior,
					owned: []float32{float32(oy[i] - y0), float32(oy[i+1] - y0), float32(ox[j] - x0), float32(ox[j+1] - x0)}}
				out, err := r.run(run, &sums, !last)
				if err != nil {
					return nil, err
				}
				if last {
					wy, wx := wys[i], wxs[j]
					for c := range 3 {
						for y := range th {
							dst := sum[(c*ph+y0+y)*pw+x0:][:tw]
							src := out[(c*th+y)*tw:][:tw]
							for x, v := range src {
								dst[x] += wy[y] * wx[x] * v
							}
						}
					}
				}
				done++
				if onTile != nil {
					onTile(done, total)
				}
			}
		}
		if !last {
			prior = make([][]float32, len(sums))
			for l, s := range sums {
				prior[l] = make([]float32, len(s))
				for k, v := range s {
					prior[l][k] = float32(v)
				}
			}
		}
	}
	// Normalise and crop in place: output index <= accumulator index.
	for c := range 3 {
		for y := range h {
			for x := range w {
				v := sum[(c*ph+y)*pw+x] / (wsy[y] * wsx[x])
				sum[(c*h+y)*w+x] = min(max(v, 0), 1)
			}
		}
	}
	return sum[: 3*h*w : 3*h*w], nil
}

// ownedSpans partitions [0, n) among tiles of size t starting at starts:
// tile i owns [s[i], s[i+1]), each border in the middle of an overlap,
// rounded down to a multiple of 8 (so within it, the starts being
// multiples of 8).
func ownedSpans(starts []int, t, n int) []int {
	s := make([]int, len(starts)+1)
	for i := 1; i < len(starts); i++ {
		s[i] = (starts[i] + starts[i-1] + t) / 2 / 8 * 8
	}
	s[len(starts)] = n
	return s
}

// axisWindows is, along an axis of n pixels, the blend window of each tile
// (of size t, at starts, owning the spans between borders) and their sum at
// every pixel.
func axisWindows(starts, borders []int, t, n, ramp int) (windows [][]float32, sum []float32) {
	windows, sum = make([][]float32, len(starts)), make([]float32, n)
	for i, s0 := range starts {
		windows[i] = blendWindow(starts, borders, i, t, ramp)
		for y, v := range windows[i] {
			sum[s0+y] += v
		}
	}
	return windows, sum
}

// blendWindow is the weight along one axis of tile i of size t (of the
// tiles at starts, which own the spans between borders): 1 inside, falling
// linearly to 0 across each border it shares with a neighbour, over
// overlap pixels centred on the border, or fewer where the tiles share
// fewer. A border lies mid-overlap, so the pixels a tile gives lie as far
// as they can from its edges, where its convolutions see zero padding
// instead of the image; the weights of two neighbours add to 1.
func blendWindow(starts, borders []int, i, t, overlap int) []float32 {
	wt := make([]float32, t)
	ramp := func(b, half int, y int, rising bool) float32 {
		d := float32(y-b) + 0.5 // signed distance from the border, in pixels
		if !rising {
			d = -d
		}
		if half == 0 {
			return min(max(d+0.5, 0), 1) // a step: 1 from the border on
		}
		return min(max((d+float32(half))/float32(2*half), 0), 1)
	}
	for y := range wt {
		gy := starts[i] + y
		wt[y] = 1
		if i > 0 {
			b := borders[i]
			half := min(overlap/2, b-starts[i], starts[i-1]+t-b)
			wt[y] = min(wt[y], ramp(b, half, gy, true))
		}
		if i < len(starts)-1 {
			b := borders[i+1]
			half := min(overlap/2, b-starts[i+1], starts[i]+t-b)
			wt[y] = min(wt[y], ramp(b, half, gy, false))
		}
	}
	return wt
}

// tileRun is one run of a tile: its pixels, the runner it needs, and for a
// shared attention the pixels it owns (in the tile: y0, y1, x0, x1) and the
// statistics of the whole image from the last pass (nil on the first, when
// each tile attends with its own).
type tileRun struct {
	tile  []float32
	key   runnerKey
	owned []float32
	prior [][]float32
}

// run restores one tile; when measure is set it adds the statistics of its
// shared attention to sums (allocated on the first call).
func (r *Restorer) run(t tileRun, sums *[][]float64, measure bool) ([]float32, error) {
	h, w := t.key.h, t.key.w
	tr, err := r.get(t.key)
	if err != nil {
		return nil, err
	}
	defer r.put(t.key, tr)
	if err := tr.m.Let(tr.x, tensor.New(tensor.WithShape(1, 3, h, w), tensor.WithBacking(t.tile))); err != nil {
		return nil, err
	}
	if err := tr.letShared(t); err != nil {
		return nil, err
	}
	if err := tr.m.RunAll(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if measure {
		if err := tr.addSums(sums); err != nil {
			return nil, err
		}
	}
	v, err := tr.m.Value(tr.out)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	out := v.Data().([]float32)
	for _, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("restore: the network produced %v; the weights may be corrupt", v)
		}
	}
	return out, nil
}

// letShared sets the shared attention's inputs for run t: the owned pixels,
// and either the tile's own statistics (the first pass) or the image's.
func (tr *tileRunner) letShared(t tileRun) error {
	sa := tr.shared
	if sa == nil {
		return nil
	}
	own := []float32{0}
	if t.prior == nil {
		own[0] = 1
	}
	if err := tr.m.Let(sa.Owned, tensor.New(tensor.WithShape(4), tensor.WithBacking(t.owned))); err != nil {
		return err
	}
	if err := tr.m.Let(sa.Own, tensor.New(tensor.WithShape(1), tensor.WithBacking(own))); err != nil {
		return err
	}
	for i, l := range sa.Layers {
		shape := l.Prior.Shape()
		p := tr.zeros[:shape.TotalSize()]
		if t.prior != nil {
			p = t.prior[i]
		}
		if err := tr.m.Let(l.Prior, tensor.New(tensor.WithShape(shape...), tensor.WithBacking(p))); err != nil {
			return err
		}
	}
	return nil
}

// addSums adds the statistics a shared-attention runner measured on its
// last run to sums, layer by layer.
func (tr *tileRunner) addSums(sums *[][]float64) error {
	layers := tr.shared.Layers
	if *sums == nil {
		*sums = make([][]float64, len(layers))
		for i, l := range layers {
			(*sums)[i] = make([]float64, l.Sums.Shape().TotalSize())
		}
	}
	for i, l := range layers {
		v, err := tr.m.Value(l.Sums)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		for j, x := range v.Data().([]float32) {
			(*sums)[i][j] += float64(x)
		}
	}
	return nil
}

func roundUp8(n int) int { return (n + 7) / 8 * 8 }

// tileStarts places tiles of size t over n pixels, neighbours sharing at
// least overlap pixels, the last tile flush with the end.
func tileStarts(n, t, overlap int) []int {
	if t >= n {
		return []int{0}
	}
	var s []int
	for y := 0; ; y += t - overlap {
		if y+t >= n {
			return append(s, n-t)
		}
		s = append(s, y)
	}
}

// cropReflect copies the (3, th, tw) tile at (y0, x0) of a (3, h, w) image
// into dst, reading past the bottom and right edges by reflection as
// torch's reflect padding does.
func cropReflect(dst, img []float32, h, w, y0, x0, th, tw int) {
	for c := range 3 {
		for y := range th {
			src := img[(c*h+reflect(y0+y, h))*w:]
			d := dst[(c*th+y)*tw : (c*th+y+1)*tw]
			if x0+tw <= w {
				copy(d, src[x0:x0+tw])
				continue
			}
			for x := range tw {
				d[x] = src[reflect(x0+x, w)]
			}
		}
	}
}

func reflect(i, n int) int {
	if i < n {
		return i
	}
	return 2*(n-1) - i
}
