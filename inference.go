package baryir

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// Restorer runs a trained network on whole images of any size: it pads to a
// multiple of 8 by reflection, cuts large images into overlapping tiles so
// memory stays bounded, and blends the tiles back.
type Restorer struct {
	cfg     Config
	weights StateDict
	// Tile is the largest side (a multiple of 8) run in one pass; Overlap is
	// how much neighbouring tiles share, blended by averaging.
	Tile, Overlap int
	graphs        map[[2]int]*inferGraph
	gpu           bool // SetDevice(DeviceGPU)
}

type inferGraph struct {
	x, out *G.Node
	m      G.VM       // on the CPU
	dev    tileRunner // on the GPU
}

// NewRestorer checks that sd fits cfg and returns a Restorer with 256-pixel
// tiles overlapping by 32.
func NewRestorer(cfg Config, sd StateDict) (*Restorer, error) {
	r := &Restorer{cfg: cfg, weights: sd, Tile: 256, Overlap: 32, graphs: map[[2]int]*inferGraph{}}
	if _, err := r.graph(8, 8); err != nil {
		return nil, err
	}
	return r, nil
}

// SetDevice chooses where the tile graphs run: DeviceCPU (the default) or
// DeviceGPU, where each tile size's graph is compiled once for the GPU with
// the weights uploaded once (a build with -tags baryirgpu; otherwise the
// error wraps ErrNoGPU). Graphs built for the other device are released.
func (r *Restorer) SetDevice(device string) error {
	useG, err := useGPU(device)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if useG {
		if err := checkGPU(); err != nil {
			return fmt.Errorf("restore: device gpu: %w", err)
		}
	}
	if useG != r.gpu {
		r.Close()
		r.gpu = useG
	}
	return nil
}

// Device is where the tile graphs run (DeviceCPU or DeviceGPU).
func (r *Restorer) Device() string {
	if r.gpu {
		return DeviceGPU
	}
	return DeviceCPU
}

// graph returns the inference graph for one (h, w) tile, building it once.
func (r *Restorer) graph(h, w int) (*inferGraph, error) {
	if ig, ok := r.graphs[[2]int{h, w}]; ok {
		return ig, nil
	}
	g := G.NewGraph()
	net, err := NewNetwork(layers.NewScope(g, tensor.Float32, 0), r.cfg)
	if err != nil {
		return nil, err
	}
	if err := Load(net, r.weights); err != nil {
		return nil, err
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, h, w), G.WithName("input"))
	out, err := net.Forward(x)
	if err != nil {
		return nil, err
	}
	ig := &inferGraph{x: x, out: out.Restored}
	if r.gpu {
		if ig.dev, err = newGPUTileRunner(g, x, out.Restored); err != nil {
			return nil, fmt.Errorf("restore: %dx%d tile on the GPU: %w", h, w, err)
		}
	} else {
		ig.m = G.NewTapeMachine(g)
	}
	r.graphs[[2]int{h, w}] = ig
	return ig, nil
}

// Close releases the graphs' machines.
func (r *Restorer) Close() {
	for _, ig := range r.graphs {
		if ig.m != nil {
			ig.m.Close()
		}
		if ig.dev != nil {
			ig.dev.close()
		}
	}
	r.graphs = map[[2]int]*inferGraph{}
}

// Restore restores img, a (3, h, w) image in [0,1] stored channel by channel,
// and returns the restored image of the same size, clipped to [0,1].
func (r *Restorer) Restore(img []float32, h, w int) ([]float32, error) {
	if len(img) != 3*h*w {
		return nil, fmt.Errorf("restore: %d values for a 3x%dx%d image", len(img), h, w)
	}
	if h < 8 || w < 8 {
		return nil, fmt.Errorf("restore: image is %dx%d; it must be at least 8x8", h, w)
	}
	if r.Tile < 8 || r.Tile%8 != 0 || r.Overlap < 0 || r.Overlap >= r.Tile {
		return nil, fmt.Errorf("restore: tile %d must be a positive multiple of 8 larger than overlap %d", r.Tile, r.Overlap)
	}
	ph, pw := roundUp8(h), roundUp8(w)
	padded := reflectPad(img, h, w, ph, pw)
	th, tw := min(ph, r.Tile), min(pw, r.Tile)
	sum := make([]float32, 3*ph*pw)
	count := make([]float32, ph*pw)
	for _, y0 := range tileStarts(ph, th, r.Overlap) {
		for _, x0 := range tileStarts(pw, tw, r.Overlap) {
			out, err := r.run(crop(padded, ph, pw, y0, x0, th, tw), th, tw)
			if err != nil {
				return nil, err
			}
			for c := range 3 {
				for y := range th {
					for x := range tw {
						sum[(c*ph+y0+y)*pw+x0+x] += out[(c*th+y)*tw+x]
					}
				}
			}
			for y := range th {
				for x := range tw {
					count[(y0+y)*pw+x0+x]++
				}
			}
		}
	}
	res := make([]float32, 3*h*w)
	for c := range 3 {
		for y := range h {
			for x := range w {
				v := sum[(c*ph+y)*pw+x] / count[y*pw+x]
				res[(c*h+y)*w+x] = min(max(v, 0), 1)
			}
		}
	}
	return res, nil
}

func (r *Restorer) run(tile []float32, h, w int) ([]float32, error) {
	ig, err := r.graph(h, w)
	if err != nil {
		return nil, err
	}
	var out []float32
	if ig.dev != nil {
		if out, err = ig.dev.run(tile); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	} else {
		defer ig.m.Reset()
		if err := G.Let(ig.x, tensor.New(tensor.WithShape(1, 3, h, w), tensor.WithBacking(tile))); err != nil {
			return nil, err
		}
		if err := ig.m.RunAll(); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		out = append([]float32{}, ig.out.Value().Data().([]float32)...)
	}
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

// reflectPad extends a (3, h, w) image to (3, ph, pw) by reflection at the
// bottom and right edges, as torch's reflect padding does.
func reflectPad(img []float32, h, w, ph, pw int) []float32 {
	out := make([]float32, 3*ph*pw)
	for c := range 3 {
		for y := range ph {
			sy := reflect(y, h)
			for x := range pw {
				out[(c*ph+y)*pw+x] = img[(c*h+sy)*w+reflect(x, w)]
			}
		}
	}
	return out
}

func reflect(i, n int) int {
	if i < n {
		return i
	}
	return 2*(n-1) - i
}

func crop(img []float32, h, w, y0, x0, th, tw int) []float32 {
	out := make([]float32, 3*th*tw)
	for c := range 3 {
		for y := range th {
			copy(out[(c*th+y)*tw:(c*th+y+1)*tw], img[(c*h+y0+y)*w+x0:])
		}
	}
	return out
}
