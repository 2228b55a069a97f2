package baryir

import (
	"fmt"
	"image"
	"math"
	"slices"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/layers"
)

// Defaults of RestorerOptions' tiling.
const (
	defaultOverlap = 32
	defaultPasses  = 3
)

// RestorerOptions configure a Restorer. The zero value restores on the CPU
// in float32, each image in one pass when it fits DefaultMemoryBudget and
// in tiles that fit it otherwise.
type RestorerOptions struct {
	// Device is where the network runs: DeviceCPU ("" means the same) or
	// DeviceGPU, where each tile size's graph is compiled once with the
	// weights uploaded once (a build with -tags baryirgpu; other builds
	// fail with an error that wraps ErrNoGPU).
	Device Device
	// Precision is the arithmetic of the matrix products and convolutions:
	// PrecisionFP32 (the zero value), or TF32 or BF16 on DeviceGPU.
	Precision Precision
	// MemoryBudget bounds, in bytes, what restoring one image takes (0
	// means DefaultMemoryBudget): the network's activations on the tile it
	// runs, as Restore estimates them, and the image's input and output.
	// An image whose working set fits runs in one pass; a larger one is
	// cut into the largest tiles that fit. Concurrent Restores take a
	// budget each, and the runners a Restorer keeps idle for the next
	// image hold at most one budget in all. The estimate comes from the
	// CPU's memory plan; on DeviceGPU it stands for the device's memory,
	// where it has not been measured.
	MemoryBudget int64
	// Tile, when positive, is the largest tile side (a multiple of 8): an
	// image larger than Tile along an axis is tiled along it, whatever the
	// budget. 0 lets MemoryBudget decide.
	Tile int
	// Overlap is how many pixels neighbouring tiles share at least (0
	// means 32). Across the middle of an overlap a tile's weight ramps
	// linearly over Overlap pixels, so seams do not show.
	Overlap int
	// Passes is how many times the tiles of an image of more than one tile
	// run (0 means 3): 1 gives every tile its own attention, 2 or more
	// share the whole image's, each pass closer to one pass over the image.
	Passes int
	// OnTile, if not nil, is called after each tile run of a Restore with
	// the tiles done and the total (tiles x passes, as Tiles gives them),
	// e.g. to draw a progress bar on a large photo. Concurrent Restores
	// call it concurrently.
	OnTile func(done, total int)
}

// resolve fills in the defaults and checks the options.
func (o RestorerOptions) resolve() (RestorerOptions, error) {
	if err := o.Device.check(); err != nil {
		return o, err
	}
	if o.Device == "" {
		o.Device = DeviceCPU
	}
	if err := o.Precision.checkOn(o.Device); err != nil {
		return o, err
	}
	if o.MemoryBudget == 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	if o.Overlap == 0 {
		o.Overlap = defaultOverlap
	}
	if o.Passes == 0 {
		o.Passes = defaultPasses
	}
	switch {
	case o.MemoryBudget < 0:
		return o, errorf("memory budget %d bytes: want at least 0", o.MemoryBudget)
	case o.Tile < 0 || o.Tile%8 != 0:
		return o, errorf("tile %d: want 0 or a positive multiple of 8", o.Tile)
	case o.Overlap < 0:
		return o, errorf("overlap %d: want at least 0", o.Overlap)
	case o.Tile > 0 && o.Overlap >= o.Tile:
		return o, errorf("overlap %d: want less than tile %d", o.Overlap, o.Tile)
	case o.Passes < 0:
		return o, errorf("%d passes: want at least 1", o.Passes)
	}
	return o, nil
}

// Restorer runs a trained network on whole images of any size. It pads an
// image to a multiple of 8 by reflection and runs it in one pass when its
// working set fits the memory budget (RestorerOptions.MemoryBudget): the
// network's activations, as the memory plan of its graph places them, a
// third more for the kernels' scratch buffers, and the image's input and
// output. The activations are measured on the network itself, once, when
// the Restorer is made; the working set comes to about 6.1 kB a pixel for
// the Paper preset and 1 kB for Tiny, so the default 2 GiB hold one pass
// over 0.35 megapixels (a 590x590 photo) with Paper and 2 megapixels with
// Tiny (TestRestorerOnePassWhenItFits prints them).
//
// A larger image is cut into the largest overlapping tiles that fit, which
// are blended back with a smooth window. Channel attention pools over all
// of its input, so a tile restored on its own differs from one pass over
// the image everywhere, not only at seams. An image of several tiles is
// therefore run Passes times: the first pass measures every attention's
// statistics over the whole image (each tile summing the pixels it owns,
// see layers.SharedAttention) and each further pass applies the whole
// image's attention, measured on the pass before. What remains at the
// seams is the convolutions' reach past a tile's edge. Against one pass,
// 256-pixel tiles over a 480x480 image, sharing the default 32 pixels, in
// the default 3 passes, give 42.9 dB PSNR with the Paper preset (51.3 dB
// with 96 pixels of overlap) and 53.6 dB with Tiny; over a 320x320 image,
// where they share 192 pixels, 62.7 and 65.2 dB (random weights;
// BenchmarkPaperTiledPSNR and TestDefaultTilesTiny measure them).
//
// A network that pools over the whole image beyond its attention
// (PromptIR: each prompt block weighs its prompts by a mean over the whole
// image, layers.PromptGenBlock) restores every image in one pass, whatever
// Tile says: a tile would weigh the prompts by its own mean, and no pass
// over tiles shares those yet. An image whose working set exceeds
// MemoryBudget is then refused with an error that gives what it needs.
//
// A Restorer is safe for concurrent use: each Restore takes a runner (a
// graph and its Machine for one tile size) from a pool, making one when
// none is idle, so n goroutines hold at most n runners at once.
type Restorer struct {
	arch Architecture
	// weights are the parameters as float32 tensors, converted once and
	// bound (not copied) into every runner's graph: runners only read them.
	weights map[string]*tensor.Dense
	opts    RestorerOptions // resolved: no zero values left
	cost    runCost
	// onePass is set for a network that pools over the whole image (a
	// PromptGenBlock): every image runs in one pass.
	onePass bool

	mu   sync.Mutex
	idle []idleRunner // least recently used first
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

// idleRunner is a runner in the pool, waiting for an image.
type idleRunner struct {
	key runnerKey
	tr  *tileRunner
}

// NewRestorer checks that sd fits the network arch builds (a Config, or a
// backbone of your own), measures the network's working set per pixel and
// returns a Restorer with opts (the zero value gives the defaults). The
// Restorer keeps one float32 copy of the weights, shared by all its graphs;
// it does not keep sd. Tiles share the whole image's channel attention
// wherever the network has MDTA layers (layers.SharedAttention reaches
// every one built in its scope). On DeviceGPU it makes its smallest runner
// there, so that a missing GPU or cuBLASLt is reported here.
func NewRestorer(arch Architecture, sd StateDict, opts RestorerOptions) (*Restorer, error) {
	if arch == nil {
		return nil, errorf("restore: no architecture")
	}
	o, err := opts.resolve()
	if err != nil {
		return nil, errorf("restore: %w", err)
	}
	if o.Device == DeviceGPU {
		if _, err := gpuName(); err != nil {
			return nil, errorf("restore: device gpu: %w", err)
		}
	}
	weights := make(map[string]*tensor.Dense, len(sd))
	for name, t := range sd {
		if !slices.Contains(unusedAuthorTensors, name) {
			weights[name] = denseOf(t, tensor.Float32)
		}
	}
	r := &Restorer{arch: arch, weights: weights, opts: o}
	if r.cost, r.onePass, err = r.measureCost(); err != nil {
		return nil, err
	}
	if o.Device == DeviceGPU {
		key := runnerKey{8, 8, false}
		tr, err := r.newRunner(key, o.Device, o.Precision)
		if err != nil {
			return nil, err
		}
		r.put(key, tr)
	}
	return r, nil
}

// runCost is what one run of the network on an h x w tile takes, in bytes:
// fixed + perPixel*h*w, the activations and scratch (see measureCost) and
// the tile's input and output.
type runCost struct{ fixed, perPixel int64 }

func (c runCost) bytes(h, w int) int64 { return c.fixed + c.perPixel*int64(h)*int64(w) }

// imageBytes is what an h x w image holds beyond its tiles' runs: its
// float32 input and the float32 accumulator that becomes the output.
func imageBytes(h, w int) int64 { return 24 * int64(h) * int64(w) }

// Probe sizes for measureCost: the plan is linear in the pixels (every
// activation is a fixed number of channels at a fixed scale, attention
// matrices aside), so two sizes give its slope and intercept.
const probeSmall, probeLarge = 16, 32

// measureCost builds the network's graph at two tile sizes on the CPU,
// plans their memory (without running them) and fits the live peak of
// their activations as fixed + perPixel*pixels. The kernels' scratch
// buffers (im2col bands, attention's normalised q and k) come from a pool
// outside the plan: a third of the activations is allowed for them. With
// the tile's input and output (24 bytes a pixel), a run of Tiny allocates
// 0.8 to 1.15 times the estimate (TestRestorerCostMatchesARun); Paper's
// run at 200x152 allocated 1.10 times it (allocations count garbage too,
// so they bound the live peak from above). It also reports whether the
// network pools over the whole image (op.PoolsImage).
func (r *Restorer) measureCost() (cost runCost, poolsImage bool, err error) {
	var planned [2]int64
	for i, side := range []int{probeSmall, probeLarge} {
		tr, err := r.newRunner(runnerKey{side, side, false}, DeviceCPU, PrecisionFP32)
		if err != nil {
			return runCost{}, false, err
		}
		poolsImage = op.PoolsImage(tr.x.Graph())
		planned[i], err = tr.m.plannedBytes()
		tr.m.Close()
		if err != nil {
			return runCost{}, false, errorf("restore: %w", err)
		}
	}
	small, large := int64(probeSmall*probeSmall), int64(probeLarge*probeLarge)
	perPixel := (planned[1] - planned[0] + large - small - 1) / (large - small)
	fixed := max(planned[1]-perPixel*large, 0)
	return runCost{fixed: fixed * 4 / 3, perPixel: perPixel*4/3 + 24}, poolsImage, nil
}

// plannedBytes compiles the machine's run of all its kept nodes (as RunAll
// would, without running it) and returns the arena its memory plan needs.
func (m *Machine) plannedBytes() (int64, error) {
	if m.all == nil {
		p, err := m.be.Phase(m.keep...)
		if err != nil {
			return 0, err
		}
		m.all = p
	}
	rp, ok := m.all.(releasingPhase)
	if !ok {
		return 0, errorf("no memory plan on %s", m.device)
	}
	return rp.plan.Bytes(), nil
}

// newRunner builds the inference graph of one tile size and attention on
// device at precision. Shared attention has no GPU kernel: those graphs
// run it on the host.
func (r *Restorer) newRunner(key runnerKey, device Device, precision Precision) (*tileRunner, error) {
	g := G.NewGraph()
	s := layers.NewScope(g, tensor.Float32, 0).WithValues(r.weights)
	var sa *layers.SharedAttention
	opts := MachineOptions{Device: device, Precision: precision}
	if key.shared {
		sa = layers.NewSharedAttention(g, tensor.Float32, key.h, key.w)
		s = s.WithSharedAttention(sa)
		opts.HostFallback = true
	}
	net, err := buildNetwork(s, r.arch)
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
	opts.Keep = keep
	if tr.m, err = NewMachine(g, opts); err != nil {
		return nil, errorf("restore: %dx%d tile: %w", key.h, key.w, err)
	}
	return tr, nil
}

// checkBound reports, as Load would, the parameters of net that did not get
// their value from weights (missing, or of another shape) and the tensors
// of weights that net has no parameter for.
func checkBound(net *Network, weights map[string]*tensor.Dense) error {
	var problems []string
	known := map[string]bool{}
	for _, p := range net.Scope.Params() {
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
		return errorf("weights do not fit the network: %w", err)
	}
	return nil
}

// get takes the most recently used idle runner for key, or makes one.
func (r *Restorer) get(key runnerKey) (*tileRunner, error) {
	r.mu.Lock()
	for i := len(r.idle) - 1; i >= 0; i-- {
		if r.idle[i].key == key {
			tr := r.idle[i].tr
			r.idle = slices.Delete(r.idle, i, i+1)
			r.mu.Unlock()
			return tr, nil
		}
	}
	r.mu.Unlock()
	return r.newRunner(key, r.opts.Device, r.opts.Precision)
}

// put returns a runner to the pool, closing the least recently used
// others while the idle runners' working sets add up to more than the
// budget.
func (r *Restorer) put(key runnerKey, tr *tileRunner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.idle = append(r.idle, idleRunner{key, tr})
	var held int64
	for _, e := range r.idle {
		held += r.cost.bytes(e.key.h, e.key.w)
	}
	for len(r.idle) > 1 && held > r.opts.MemoryBudget {
		held -= r.cost.bytes(r.idle[0].key.h, r.idle[0].key.w)
		r.idle[0].tr.m.Close()
		r.idle = r.idle[1:]
	}
}

// Close releases the idle runners' machines. The Restorer stays usable:
// a later Restore makes runners again.
func (r *Restorer) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.idle {
		e.tr.m.Close()
	}
	r.idle = nil
}

// Tiles is the number of tiles Restore cuts an h x w image into, and how
// many passes it makes over them: (1, 1) for an image that fits the
// memory budget (and Tile) in one pass.
func (r *Restorer) Tiles(h, w int) (tiles, passes int, err error) {
	t, err := r.tiling(h, w)
	if err != nil {
		return 0, 0, err
	}
	return len(t.ys) * len(t.xs), t.passes(r.opts.Passes), nil
}

// tiling is where the tiles of an image lie: (th, tw) tiles starting at
// rows ys and columns xs of the image padded to (ph, pw). Every start is a
// multiple of 8, so a tile's levels (down to 1/8) align with the image's.
type tiling struct {
	ph, pw, th, tw int
	ys, xs         []int
}

// tiling lays out an h x w image: in one tile when Tile allows it and its
// working set fits the budget, else in tiles of Tile or, with Tile 0, in
// the largest tiles that fit the budget (at least twice the overlap).
func (r *Restorer) tiling(h, w int) (tiling, error) {
	if h < 8 || w < 8 {
		return tiling{}, errorf("restore: image is %dx%d; it must be at least 8x8", w, h)
	}
	if h > math.MaxInt32/w/3 {
		return tiling{}, errorf("restore: image is %dx%d, more than %d values", w, h, math.MaxInt32)
	}
	o := r.opts
	ph, pw := roundUp8(h), roundUp8(w)
	th, tw := ph, pw
	if r.onePass { // one tile, whatever Tile says: see Restorer
		if need := r.cost.bytes(ph, pw) + imageBytes(h, w); need > o.MemoryBudget {
			return tiling{}, errorf("restore: the network pools over the whole image, so it restores in one pass, and a %dx%d image needs %d MiB: more than the memory budget of %d MiB (RestorerOptions.MemoryBudget)",
				w, h, need>>20, o.MemoryBudget>>20)
		}
		return tiling{ph: ph, pw: pw, th: th, tw: tw, ys: []int{0}, xs: []int{0}}, nil
	}
	if o.Tile > 0 {
		th, tw = min(ph, o.Tile), min(pw, o.Tile)
	} else if need := r.cost.bytes(ph, pw) + imageBytes(h, w); need > o.MemoryBudget {
		avail := o.MemoryBudget - imageBytes(h, w) - r.cost.fixed // for the tile's pixels
		side := roundDown8(int(math.Sqrt(float64(max(avail, 0)) / float64(r.cost.perPixel))))
		least := max(16, roundUp8(2*o.Overlap))
		if side < least {
			return tiling{}, errorf("restore: a %dx%d image needs %d MiB in one pass, and tiles of %d pixels at least %d MiB: more than the memory budget of %d MiB",
				w, h, need>>20, least, (r.cost.bytes(least, least)+imageBytes(h, w))>>20, o.MemoryBudget>>20)
		}
		// The shorter side fits as a whole or takes the square's side; the
		// longer one takes what the budget leaves.
		short, long := &th, &tw
		if pw < ph {
			short, long = &tw, &th
		}
		*short = min(*short, side)
		*long = min(*long, roundDown8(int(avail/(r.cost.perPixel*int64(*short)))))
	}
	return tiling{ph: ph, pw: pw, th: th, tw: tw, ys: tileStarts(ph, th, o.Overlap), xs: tileStarts(pw, tw, o.Overlap)}, nil
}

// passes is how many passes of at most passes the tiles need: one tile is
// the whole image, and one pass restores it.
func (t tiling) passes(passes int) int {
	if len(t.ys)*len(t.xs) == 1 {
		return 1
	}
	return passes
}

// Restore restores im and returns the restored image, of the same size
// and name, clipped to [0,1]. An *data.Image is read as it is, float32
// values unquantised (a .npy input restores exactly as the PyTorch model
// sees it); any other image.Image is converted with data.FromImage first.
// Besides the network's working set on one tile, it holds the input and
// one float32 RGB accumulator, which becomes the output (the blend weights
// are separable, so their sums are two lines, not a plane).
func (r *Restorer) Restore(src image.Image) (*data.Image, error) {
	im, ok := src.(*data.Image)
	if src == nil || ok && im == nil {
		return nil, errorf("restore: no image")
	}
	h, w := src.Bounds().Dy(), src.Bounds().Dx()
	t, err := r.tiling(h, w) // before converting: a size refused costs nothing
	if err != nil {
		return nil, err
	}
	if !ok {
		im = data.FromImage("", src)
	}
	img := im.Pix
	if len(img) != 3*h*w {
		return nil, errorf("restore: %d values for a 3x%dx%d image", len(img), h, w)
	}
	ph, pw, th, tw, ys, xs := t.ph, t.pw, t.th, t.tw, t.ys, t.xs
	sum := make([]float32, 3*ph*pw)
	oy, ox := ownedSpans(ys, th, ph), ownedSpans(xs, tw, pw)
	passes := t.passes(r.opts.Passes)
	// In one pass each tile has its own attention, so tiles differ
	// everywhere: a ramp over all that neighbours share averages them most.
	ramp := r.opts.Overlap
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
				if r.opts.OnTile != nil {
					r.opts.OnTile(done, total)
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
	return &data.Image{Name: im.Name, H: h, W: w, Pix: sum[: 3*h*w : 3*h*w]}, nil
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
		return nil, errorf("restore: %w", err)
	}
	if measure {
		if err := tr.addSums(sums); err != nil {
			return nil, err
		}
	}
	v, err := tr.m.Value(tr.out)
	if err != nil {
		return nil, errorf("restore: %w", err)
	}
	out := v.Data().([]float32)
	for _, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, errorf("restore: the network produced %v; the weights may be corrupt", v)
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
			return errorf("restore: %w", err)
		}
		for j, x := range v.Data().([]float32) {
			(*sums)[i][j] += float64(x)
		}
	}
	return nil
}

func roundUp8(n int) int { return (n + 7) / 8 * 8 }

func roundDown8(n int) int { return n / 8 * 8 }

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

// OpenRestorer reads the checkpoint at path, infers its architecture
// (BaryNet, the Restormer, PromptIR or BaryIR on PromptIR) from the
// tensors' names and shapes, and returns a
// Restorer for it with opts (the zero value gives the defaults). For a
// network of your own, read its weights with ReadWeights and pass them to
// NewRestorer with the Architecture it was trained with.
func OpenRestorer(path string, opts RestorerOptions) (*Restorer, error) {
	sd, err := ReadWeights(path)
	if err != nil {
		return nil, err
	}
	arch, err := inferArchitecture(sd.shapes())
	if err != nil {
		return nil, errorf("%q: %w", path, err)
	}
	r, err := NewRestorer(arch, sd, opts)
	if err != nil {
		return nil, errorf("%q: %w", path, err)
	}
	return r, nil
}
