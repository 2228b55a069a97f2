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
// A Restorer is safe for concurrent use: each Restore takes a runner (a
// graph and its Machine for one tile size) from a pool, making one when
// none is idle, so n goroutines hold at most n runners per tile size. Set
// Tile, Overlap and the device before sharing it.
type Restorer struct {
	cfg Config
	// weights are the parameters as float32 tensors, converted once and
	// bound (not copied) into every runner's graph: runners only read them.
	weights map[string]*tensor.Dense
	// Tile is the largest side (a multiple of 8) run in one pass; Overlap is
	// how much neighbouring tiles share. Within the overlap a tile's weight
	// ramps linearly from its edge, so seams do not show.
	Tile, Overlap int

	mu        sync.Mutex
	device    Device
	precision Precision // see SetPrecision
	idle      map[[2]int][]*tileRunner
}

// tileRunner is one tile size's inference graph on a Machine.
type tileRunner struct {
	m      *Machine
	x, out *G.Node
}

// NewRestorer checks that sd fits cfg and returns a Restorer with 256-pixel
// tiles overlapping by 32, on the CPU. The Restorer keeps one float32 copy of
// the weights, shared by all its graphs; it does not keep sd.
func NewRestorer(cfg Config, sd StateDict) (*Restorer, error) {
	weights := make(map[string]*tensor.Dense, len(sd))
	for name, t := range sd {
		if !slices.Contains(unusedAuthorTensors, name) {
			weights[name] = denseOf(t, tensor.Float32)
		}
	}
	r := &Restorer{cfg: cfg, weights: weights, Tile: 256, Overlap: 32, device: DeviceCPU, idle: map[[2]int][]*tileRunner{}}
	tr, err := r.newRunner(8, 8)
	if err != nil {
		return nil, err
	}
	r.put(8, 8, tr)
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

// newRunner builds the inference graph of one (h, w) tile on the device.
func (r *Restorer) newRunner(h, w int) (*tileRunner, error) {
	r.mu.Lock()
	device, precision := r.device, r.precision
	r.mu.Unlock()
	g := G.NewGraph()
	net, err := NewNetwork(layers.NewScope(g, tensor.Float32, 0).WithValues(r.weights), r.cfg)
	if err != nil {
		return nil, err
	}
	if err := checkBound(net, r.weights); err != nil {
		return nil, err
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, h, w), G.WithName("input"))
	out, err := net.Forward(x)
	if err != nil {
		return nil, err
	}
	m, err := NewMachine(g, OnDevice(device), WithPrecision(precision), Keep(out.Restored))
	if err != nil {
		return nil, fmt.Errorf("restore: %dx%d tile: %w", h, w, err)
	}
	return &tileRunner{m: m, x: x, out: out.Restored}, nil
}

// checkBound reports, as Load would, the parameters of net that did not get
// their value from weights (missing, or of another shape) and the tensors
// of weights that net has no parameter for.
func checkBound(net Network, weights map[string]*tensor.Dense) error {
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
		return fmt.Errorf("weights do not fit the %s network: %w", net.Config().Arch, err)
	}
	return nil
}

// get takes an idle runner for (h, w), or makes one.
func (r *Restorer) get(h, w int) (*tileRunner, error) {
	r.mu.Lock()
	l := r.idle[[2]int{h, w}]
	if len(l) > 0 {
		tr := l[len(l)-1]
		r.idle[[2]int{h, w}] = l[:len(l)-1]
		r.mu.Unlock()
		return tr, nil
	}
	r.mu.Unlock()
	return r.newRunner(h, w)
}

// put returns a runner to the pool (or closes it if the device changed).
func (r *Restorer) put(h, w int, tr *tileRunner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr.m.Device() != r.device || tr.m.Precision() != r.precision {
		tr.m.Close()
		return
	}
	r.idle[[2]int{h, w}] = append(r.idle[[2]int{h, w}], tr)
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
	r.idle = map[[2]int][]*tileRunner{}
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
// Restorer's Tile and Overlap.
func (r *Restorer) Tiles(h, w int) (int, error) {
	if err := r.checkSizes(h, w); err != nil {
		return 0, err
	}
	ph, pw := roundUp8(h), roundUp8(w)
	return len(tileStarts(ph, min(ph, r.Tile), r.Overlap)) * len(tileStarts(pw, min(pw, r.Tile), r.Overlap)), nil
}

func (r *Restorer) checkSizes(h, w int) error {
	if h < 8 || w < 8 {
		return fmt.Errorf("restore: image is %dx%d; it must be at least 8x8", h, w)
	}
	if r.Tile < 8 || r.Tile%8 != 0 || r.Overlap < 0 || r.Overlap >= r.Tile {
		return fmt.Errorf("restore: tile %d must be a positive multiple of 8 larger than overlap %d", r.Tile, r.Overlap)
	}
	return nil
}

// RestoreTiles is Restore that calls onTile(done, total) after each tile
// (total as Tiles gives it), e.g. to draw a progress bar on a large photo;
// a nil onTile is not called.
func (r *Restorer) RestoreTiles(img []float32, h, w int, onTile func(done, total int)) ([]float32, error) {
	if err := r.checkSizes(h, w); err != nil {
		return nil, err
	}
	if h > math.MaxInt32/w/3 || len(img) != 3*h*w {
		return nil, fmt.Errorf("restore: %d values for a 3x%dx%d image", len(img), h, w)
	}
	ph, pw := roundUp8(h), roundUp8(w)
	th, tw := min(ph, r.Tile), min(pw, r.Tile)
	sum := make([]float32, 3*ph*pw)
	ys, xs := tileStarts(ph, th, r.Overlap), tileStarts(pw, tw, r.Overlap)
	// A tile's weight is wy[y] wx[x], so the weights summed over the grid
	// of tiles are the product of their sums along each axis.
	wsy, wsx := make([]float32, ph), make([]float32, pw)
	tile := make([]float32, 3*th*tw)
	for i, y0 := range ys {
		wy := blendRamp(th, r.Overlap, i > 0, i < len(ys)-1)
		for y, v := range wy {
			wsy[y0+y] += v
		}
	}
	for j, x0 := range xs {
		wx := blendRamp(tw, r.Overlap, j > 0, j < len(xs)-1)
		for x, v := range wx {
			wsx[x0+x] += v
		}
	}
	done, total := 0, len(ys)*len(xs)
	for i, y0 := range ys {
		wy := blendRamp(th, r.Overlap, i > 0, i < len(ys)-1)
		for j, x0 := range xs {
			wx := blendRamp(tw, r.Overlap, j > 0, j < len(xs)-1)
			cropReflect(tile, img, h, w, y0, x0, th, tw)
			out, err := r.run(tile, th, tw)
			if err != nil {
				return nil, err
			}
			for c := range 3 {
				for y := range th {
					dst := sum[(c*ph+y0+y)*pw+x0:][:tw]
					src := out[(c*th+y)*tw:][:tw]
					for x, v := range src {
						dst[x] += wy[y] * wx[x] * v
					}
				}
			}
			done++
			if onTile != nil {
				onTile(done, total)
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

// blendRamp is a tile's weight along one axis: 1 inside, rising linearly
// over the overlap on a side shared with a neighbouring tile.
func blendRamp(n, overlap int, before, after bool) []float32 {
	wt := make([]float32, n)
	for i := range wt {
		wt[i] = 1
		if before && i < overlap {
			wt[i] = min(wt[i], (float32(i)+0.5)/float32(overlap))
		}
		if after && n-1-i < overlap {
			wt[i] = min(wt[i], (float32(n-1-i)+0.5)/float32(overlap))
		}
	}
	return wt
}

func (r *Restorer) run(tile []float32, h, w int) ([]float32, error) {
	tr, err := r.get(h, w)
	if err != nil {
		return nil, err
	}
	defer r.put(h, w, tr)
	if err := tr.m.Let(tr.x, tensor.New(tensor.WithShape(1, 3, h, w), tensor.WithBacking(tile))); err != nil {
		return nil, err
	}
	if err := tr.m.RunAll(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
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
