// Package layers holds Restormer's building blocks as Gorgonia graph builders.
//
// A layer is a struct that owns its parameters, made by a New function in the
// reading order of a PyTorch nn.Module, with a Forward method that builds its
// nodes. Parameters are named exactly as the PyTorch state_dict keys, so
// weights trained in PyTorch load as they are. The package knows nothing of
// BaryIR.
//
// A constructor with more than a size or two takes a config struct whose
// fields are the nn.Module's arguments (Conv2dConfig, LinearConfig,
// LayerNormConfig, TransformerBlockConfig, ViTBlockConfig,
// PromptGenBlockConfig). Their zero
// values are PyTorch's defaults, except Bias, which is off unless set, as
// in Restormer, whose layers are all built with bias=False.
package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Param is a learnable tensor with its full state_dict name.
type Param struct {
	Name string
	Node *G.Node
}

// Init fills n values of a new parameter.
type Init func(rng *rand.Rand, n int) []float64

// Const fills every value with v (Ones is Const(1)).
func Const(v float64) Init {
	return func(_ *rand.Rand, n int) []float64 {
		o := make([]float64, n)
		for i := range o {
			o[i] = v
		}
		return o
	}
}

// Uniform draws from U(-bound, bound), PyTorch's default for conv and linear
// layers with bound = 1/sqrt(fan_in).
func Uniform(bound float64) Init {
	return func(rng *rand.Rand, n int) []float64 {
		o := make([]float64, n)
		for i := range o {
			o[i] = (2*rng.Float64() - 1) * bound
		}
		return o
	}
}

// Normal draws from N(0, std^2).
func Normal(std float64) Init {
	return func(rng *rand.Rand, n int) []float64 {
		o := make([]float64, n)
		for i := range o {
			o[i] = rng.NormFloat64() * std
		}
		return o
	}
}

// FanIn is PyTorch's default initialiser for a weight whose fan-in is fanIn.
func FanIn(fanIn int) Init { return Uniform(1 / math.Sqrt(float64(fanIn))) }

// Scope creates the parameters of a network on one graph: it names them by
// their path in the module tree and keeps them in creation order.
type Scope struct {
	g      *G.ExprGraph
	dtype  tensor.Dtype
	rng    *rand.Rand
	prefix string
	params *[]Param
	values map[string]*tensor.Dense // see WithValues
	shared *SharedAttention         // see WithSharedAttention
}

// NewScope starts a module tree on g with parameters of dtype (Float32 or
// Float64), initialised from a generator seeded with seed.
func NewScope(g *G.ExprGraph, dtype tensor.Dtype, seed uint64) *Scope {
	return &Scope{g: g, dtype: dtype, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), params: new([]Param)}
}

// WithValues returns this scope with given parameter values: a parameter
// whose full name values holds, with its shape and dtype, is bound to that
// tensor itself, without drawing an initial value or copying, so that
// several graphs (one per image size, for inference) share one copy of
// loaded weights. Parameters values lacks are initialised as usual. The
// tensors must not change while a graph bound to them runs.
func (s *Scope) WithValues(values map[string]*tensor.Dense) *Scope {
	c := *s
	c.values = values
	return &c
}

// WithSharedAttention returns this scope with every MDTA built in it
// attending under sa (see SharedAttention).
func (s *Scope) WithSharedAttention(sa *SharedAttention) *Scope {
	c := *s
	c.shared = sa
	return &c
}

// Graph is the graph the scope builds on.
func (s *Scope) Graph() *G.ExprGraph { return s.g }

// Dtype is the element type of the scope's parameters.
func (s *Scope) Dtype() tensor.Dtype { return s.dtype }

// Sub returns the scope of a child module called name (a field name or an index).
func (s *Scope) Sub(name string) *Scope {
	c := *s
	c.prefix = s.prefix + name + "."
	return &c
}

// Subf is Sub with a formatted name, for numbered children such as "body.0".
func (s *Scope) Subf(format string, args ...any) *Scope { return s.Sub(fmt.Sprintf(format, args...)) }

// Param creates a parameter called name (under the scope's path) of the given shape.
func (s *Scope) Param(name string, shape []int, init Init) *G.Node {
	full := s.prefix + name
	sh := tensor.Shape(append([]int{}, shape...))
	if t, ok := s.values[full]; ok && t.Shape().Eq(sh) && t.Dtype() == s.dtype {
		n := G.NewTensor(s.g, s.dtype, len(sh), G.WithShape(sh...), G.WithName(full), G.WithValue(t))
		*s.params = append(*s.params, Param{Name: full, Node: n})
		return n
	}
	vals := init(s.rng, sh.TotalSize())
	var backing any = vals
	if s.dtype == tensor.Float32 {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		backing = f
	}
	t := tensor.New(tensor.WithShape(sh...), tensor.WithBacking(backing))
	n := G.NewTensor(s.g, s.dtype, len(sh), G.WithShape(sh...), G.WithName(full), G.WithValue(t))
	*s.params = append(*s.params, Param{Name: full, Node: n})
	return n
}

// Params lists every parameter created through this scope's tree, in creation order.
func (s *Scope) Params() []Param { return *s.params }
