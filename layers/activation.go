package layers

import (
	"fmt"
	"strconv"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// LeakyReLU is torch.nn.functional.leaky_relu: x where x > 0, slope*x
// elsewhere (the potential networks use slope 0.2). x may have any shape.
func LeakyReLU(x *G.Node, slope float64) (*G.Node, error) {
	if err := checkFloat("LeakyReLU", x); err != nil {
		return nil, err
	}
	return op.Apply(leaky{shape: x.Shape().Clone(), slope: slope}, x)
}

type leaky struct {
	shape tensor.Shape
	slope float64
}

func (k leaky) Name() string {
	return fmt.Sprintf("leaky_relu%v_%s", k.shape, strconv.FormatFloat(k.slope, 'g', -1, 64))
}
func (k leaky) OutShape() tensor.Shape                { return k.shape }
func (k leaky) Forward32(o []float32, in [][]float32) { leakyForward(o, in[0], float32(k.slope)) }
func (k leaky) Forward64(o []float64, in [][]float64) { leakyForward(o, in[0], k.slope) }
func (k leaky) DiffWRT() []bool                       { return []bool{true} }
func (k leaky) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := op.Apply(leakyGrad(k), in[0], dy)
	return G.Nodes{dx}, err
}

// leakyGrad maps (x, dy) to dx; at x == 0 it takes the negative side, as PyTorch does.
type leakyGrad leaky

func (k leakyGrad) Name() string           { return "d" + leaky(k).Name() }
func (k leakyGrad) OutShape() tensor.Shape { return k.shape }
func (k leakyGrad) Forward32(o []float32, in [][]float32) {
	leakyBack(o, in[0], in[1], float32(k.slope))
}
func (k leakyGrad) Forward64(o []float64, in [][]float64) { leakyBack(o, in[0], in[1], k.slope) }

func leakyForward[T op.Float](y, x []T, slope T) {
	forChunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if v := x[i]; v > 0 {
				y[i] = v
			} else {
				y[i] = slope * v
			}
		}
	})
}

func leakyBack[T op.Float](dx, x, dy []T, slope T) {
	forChunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if x[i] > 0 {
				dx[i] = dy[i]
			} else {
				dx[i] = slope * dy[i]
			}
		}
	})
}

// elemChunk is the number of elements one goroutine handles in elementwise
// kernels: large enough that scheduling costs nothing next to the work.
const elemChunk = 1 << 15

// forChunks runs f over [0, n) in chunks of elemChunk, in parallel.
func forChunks(n int, f func(lo, hi int)) {
	op.ParallelFor((n+elemChunk-1)/elemChunk, func(i int) {
		f(i*elemChunk, min((i+1)*elemChunk, n))
	})
}

// checkFloat rejects nodes that no kernel can run on.
func checkFloat(name string, x *G.Node) error {
	if x == nil {
		return fmt.Errorf("%s: nil input", name)
	}
	if dt := x.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("%s: dtype %v, want float32 or float64", name, dt)
	}
	return nil
}

// nchw checks that x is a float NCHW tensor and returns its sizes.
func nchw(name string, x *G.Node) (b, c, h, w int, err error) {
	if err := checkFloat(name, x); err != nil {
		return 0, 0, 0, 0, err
	}
	s := x.Shape()
	if len(s) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("%s: input shape %v, want 4-D (B, C, H, W)", name, s)
	}
	for _, d := range s {
		if d <= 0 {
			return 0, 0, 0, 0, fmt.Errorf("%s: input shape %v has an empty axis", name, s)
		}
	}
	return s[0], s[1], s[2], s[3], nil
}

// ReLU is torch.nn.functional.relu: LeakyReLU with slope 0 (gradient 0 at 0, as PyTorch's).
func ReLU(x *G.Node) (*G.Node, error) { return LeakyReLU(x, 0) }
