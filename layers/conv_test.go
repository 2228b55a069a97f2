package layers

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// randDense is a float64 tensor of smooth pseudo-random values of order 1.
func randDense(seed float64, shape ...int) *tensor.Dense {
	n := tensor.Shape(shape).TotalSize()
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Sin(seed+float64(i)*0.618) + 0.3*math.Cos(seed*float64(i)*0.37)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

func TestConvGradients(t *testing.T) {
	cases := []struct {
		name                        string
		b, cin, h, w, cout, k, s, p int
		groups                      int
		bias                        bool
	}{
		{"pointwise", 2, 4, 5, 3, 6, 1, 1, 0, 1, false},
		{"3x3 pad 1", 2, 3, 5, 4, 4, 3, 1, 1, 1, true},
		{"stride 2", 1, 2, 7, 6, 3, 3, 2, 1, 1, false},
		{"depthwise", 2, 4, 5, 5, 4, 3, 1, 1, 4, false},
		{"grouped k4 s4 (potential)", 1, 8, 9, 9, 8, 4, 4, 1, 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := randDense(1, c.b, c.cin, c.h, c.w)
			w := randDense(2, c.cout, c.cin/c.groups, c.k, c.k)
			inputs := []*tensor.Dense{x, w}
			if c.bias {
				inputs = append(inputs, randDense(3, c.cout))
			}
			worst, err := op.GradCheck(func(in []*G.Node) (*G.Node, error) {
				y, err := Conv(in[0], in[1], c.s, c.p, c.groups)
				if err != nil || !c.bias {
					return y, err
				}
				return AddChannelBias(y, in[2])
			}, inputs...)
			require.NoError(t, err)
			require.Less(t, worst, 1e-6)
		})
	}
}

func TestConvErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 4, 5, 5))
	for name, w := range map[string]*G.Node{
		"bad groups":     G.NewTensor(g, tensor.Float32, 4, G.WithShape(6, 3, 3, 3)),
		"too big kernel": G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 4, 7, 7)),
		"not square":     G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 4, 3, 1)),
		"wrong rank":     G.NewTensor(g, tensor.Float32, 2, G.WithShape(2, 4)),
	} {
		_, err := Conv(x, w, 1, 0, 1)
		require.Error(t, err, name)
	}
}

func TestLinearScaleConcatGradients(t *testing.T) {
	cases := []struct {
		name   string
		build  func(in []*G.Node) (*G.Node, error)
		inputs []*tensor.Dense
	}{
		{"linear", func(in []*G.Node) (*G.Node, error) {
			return (&Linear{Weight: in[1], Bias: in[2]}).Forward(in[0])
		}, []*tensor.Dense{randDense(1, 3, 5), randDense(2, 4, 5), randDense(3, 4)}},
		{"linear no bias", func(in []*G.Node) (*G.Node, error) {
			return (&Linear{Weight: in[1]}).Forward(in[0])
		}, []*tensor.Dense{randDense(1, 2, 3), randDense(2, 4, 3)}},
		{"scale", func(in []*G.Node) (*G.Node, error) { return Scale(in[0], 0.8) },
			[]*tensor.Dense{randDense(1, 2, 3, 2, 2)}},
		{"concat", func(in []*G.Node) (*G.Node, error) { return Concat(in[0], in[1], in[2]) },
			[]*tensor.Dense{randDense(1, 2, 3, 2, 2), randDense(2, 2, 1, 2, 2), randDense(3, 2, 2, 2, 2)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			worst, err := op.GradCheck(c.build, c.inputs...)
			require.NoError(t, err)
			require.Less(t, worst, 1e-6)
		})
	}
}

// A Conv2dConfig's zero Kernel, Stride and Groups are 1, as PyTorch's
// defaults (kernel_size aside), and draw the same parameters as the values
// written out; Bias adds `bias` of Out values; WeightInit replaces the
// weight's initialisation only.
func TestConv2dConfigDefaults(t *testing.T) {
	params := func(c Conv2dConfig) (*Conv2d, []Param) {
		s := NewScope(G.NewGraph(), tensor.Float64, 4)
		return NewConv2d(s, c), s.Params()
	}
	zero, zp := params(Conv2dConfig{In: 4, Out: 6})
	_, fp := params(Conv2dConfig{In: 4, Out: 6, Kernel: 1, Stride: 1, Groups: 1})
	require.Equal(t, [3]int{1, 0, 1}, [3]int{zero.Stride, zero.Padding, zero.Groups})
	require.Len(t, zp, 1)
	require.Equal(t, tensor.Shape{6, 4, 1, 1}, zp[0].Node.Shape())
	require.Equal(t, fp[0].Node.Value().Data(), zp[0].Node.Value().Data())

	_, bp := params(Conv2dConfig{In: 4, Out: 6, Kernel: 3, Groups: 2, Bias: true})
	require.Equal(t, []string{"weight", "bias"}, []string{bp[0].Name, bp[1].Name})
	require.Equal(t, tensor.Shape{6, 2, 3, 3}, bp[0].Node.Shape())
	require.Equal(t, tensor.Shape{6}, bp[1].Node.Shape())

	_, ip := params(Conv2dConfig{In: 4, Out: 6, Bias: true, WeightInit: Const(0.5)})
	for _, v := range ip[0].Node.Value().Data().([]float64) {
		require.Equal(t, 0.5, v)
	}
	require.NotEqual(t, 0.5, ip[1].Node.Value().Data().([]float64)[0])
}
