package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// Linear is torch.nn.Linear on (N, in) inputs: y = x W^T + b.
type Linear struct {
	Weight *G.Node // (out, in)
	Bias   *G.Node // (out), nil without bias
}

// LinearConfig names the arguments of nn.Linear.
type LinearConfig struct {
	In, Out int // features
	// Bias adds a learnable bias. It is off unless set, unlike nn.Linear,
	// as Conv2dConfig's.
	Bias bool
}

// NewLinear makes the Linear c describes with PyTorch's default
// initialisation, its parameters `weight` (and `bias`) created in s.
func NewLinear(s *Scope, c LinearConfig) *Linear {
	l := &Linear{Weight: s.Param("weight", []int{c.Out, c.In}, FanIn(c.In))}
	if c.Bias {
		l.Bias = s.Param("bias", []int{c.Out}, FanIn(c.In))
	}
	return l
}

// Forward maps x (N, in) to (N, out).
func (l *Linear) Forward(x *G.Node) (*G.Node, error) {
	if err := checkFloat("linear", x); err != nil {
		return nil, err
	}
	xs, ws := x.Shape(), l.Weight.Shape()
	if len(xs) != 2 || xs[1] != ws[1] {
		return nil, fmt.Errorf("linear: input %v does not fit weight %v", xs, ws)
	}
	k := linearFwd{n: xs[0], in: ws[1], out: ws[0]}
	if l.Bias == nil {
		return op.Apply(k, x, l.Weight)
	}
	k.bias = true
	return op.Apply(k, x, l.Weight, l.Bias)
}

// linearFwd: inputs x, w (and bias); output x w^T + bias.
type linearFwd struct {
	n, in, out int
	bias       bool
}

func (k linearFwd) Name() string {
	return fmt.Sprintf("linear_%dx%d_%d_bias%v", k.n, k.in, k.out, k.bias)
}
func (k linearFwd) OutShape() tensor.Shape                { return tensor.Shape{k.n, k.out} }
func (k linearFwd) Forward32(o []float32, in [][]float32) { linearForward(k, o, in) }
func (k linearFwd) Forward64(o []float64, in [][]float64) { linearForward(k, o, in) }
func (k linearFwd) DiffWRT() []bool {
	if k.bias {
		return []bool{true, true, true}
	}
	return []bool{true, true}
}
func (k linearFwd) Grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	b := &Builder{}
	grads := G.Nodes{b.N(op.Apply(linearGrad{k, 0}, in[1], dy)), b.N(op.Apply(linearGrad{k, 1}, in[0], dy))}
	if k.bias {
		grads = append(grads, b.N(op.Apply(linearGrad{k, 2}, dy)))
	}
	return grads, b.Err()
}

func linearForward[T op.Float](k linearFwd, o []T, in [][]T) {
	if k.bias {
		for i := range k.n {
			copy(o[i*k.out:(i+1)*k.out], in[2])
		}
	}
	op.Gemm(false, true, k.n, k.out, k.in, 1, in[0], k.in, in[1], k.in, 1, o, k.out)
}

// linearGrad is the gradient of linearFwd with respect to input wrt:
// 0 x (from w, dy), 1 w (from x, dy), 2 bias (from dy).
type linearGrad struct {
	f   linearFwd
	wrt int
}

func (k linearGrad) Name() string { return fmt.Sprintf("%s_grad%d", k.f.Name(), k.wrt) }
func (k linearGrad) OutShape() tensor.Shape {
	return []tensor.Shape{{k.f.n, k.f.in}, {k.f.out, k.f.in}, {k.f.out}}[k.wrt]
}
func (k linearGrad) Forward32(o []float32, in [][]float32) { linearBackward(k, o, in) }
func (k linearGrad) Forward64(o []float64, in [][]float64) { linearBackward(k, o, in) }

func linearBackward[T op.Float](g linearGrad, o []T, in [][]T) {
	k := g.f
	switch g.wrt {
	case 0: // dx = dy w
		op.Gemm(false, false, k.n, k.in, k.out, 1, in[1], k.out, in[0], k.in, 0, o, k.in)
	case 1: // dw = dy^T x
		op.Gemm(true, false, k.out, k.in, k.n, 1, in[1], k.out, in[0], k.in, 0, o, k.in)
	case 2:
		for i := range k.n {
			for j, v := range in[0][i*k.out : (i+1)*k.out] {
				o[j] += v
			}
		}
	}
}

// MACs counts the multiply-accumulates of x w^T.
func (k linearFwd) MACs() int64 { return int64(k.n) * int64(k.in) * int64(k.out) }
