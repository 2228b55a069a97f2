package ot

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/x/baryir/internal/build"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Net is a learnable function of a batch: the maps and potentials of the MWB
// objective. Forward may be called on several inputs; every call shares the
// same learnable nodes. A potential maps (N, ...) to (N) or (N, 1); a map
// maps (N, ...) to the same shape. The BaryIR trainer's conv potentials
// implement it over (N, C, H, W) latents; MLP covers vectors.
type Net interface {
	Forward(x *G.Node) (*G.Node, error)
	Learnables() G.Nodes
}

// MLPConfig sizes a fully connected net with LeakyReLU between layers.
type MLPConfig struct {
	// Sizes are the widths: input, hidden..., output (at least two). Inputs
	// of more than two dims are flattened to (N, Sizes[0]).
	Sizes []int
	// Residual makes the net x + MLP(x), starting near the identity: the
	// natural start for a transport map. Needs output width = input width.
	Residual bool
	// Activation between layers; the zero value is LeakyReLU.
	Activation Activation
	// Slope of the LeakyReLU; 0 means the authors' 0.2.
	Slope float64
	// Seed of the weight initialisation.
	Seed uint64
	// Name prefixes the node names. Nets of one graph need distinct names
	// (Gorgonia merges equally named nodes); empty means a unique "mlpN".
	Name string
}

// Activation is an MLP's nonlinearity.
type Activation int

const (
	// LeakyReLU with MLPConfig.Slope, as the authors' potentials.
	LeakyReLU Activation = iota
	// Softplus log(1+e^x): smooth, so potentials and maps are smooth too.
	Softplus
	// Tanh.
	Tanh
)

// MLP is a Net for vector samples. A 1-wide output gives (N) values, so an
// MLP with Sizes {d, ..., 1} is a potential.
type MLP struct {
	cfg    MLPConfig
	ws, bs G.Nodes
}

// NewMLP adds the weights of an MLP to g, initialised uniformly in
// ±1/sqrt(fan_in) (a residual net's last layer 100 times smaller).
func NewMLP(g *G.ExprGraph, dt tensor.Dtype, cfg MLPConfig) (*MLP, error) {
	if len(cfg.Sizes) < 2 {
		return nil, errors.New("ot: an MLP needs at least input and output sizes")
	}
	for i, s := range cfg.Sizes {
		if s <= 0 {
			return nil, fmt.Errorf("ot: MLP layer %d has size %d", i, s)
		}
	}
	if cfg.Residual && cfg.Sizes[0] != cfg.Sizes[len(cfg.Sizes)-1] {
		return nil, fmt.Errorf("ot: residual MLP needs equal input and output sizes, got %v", cfg.Sizes)
	}
	if cfg.Activation < LeakyReLU || cfg.Activation > Tanh {
		return nil, fmt.Errorf("ot: unknown activation %d", cfg.Activation)
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("ot: unsupported dtype %v", dt)
	}
	if cfg.Name == "" {
		cfg.Name = uniqueName("mlp")
	}
	if cfg.Slope == 0 {
		cfg.Slope = 0.2
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6f74))
	m := &MLP{cfg: cfg}
	for l := 0; l+1 < len(cfg.Sizes); l++ {
		in, out := cfg.Sizes[l], cfg.Sizes[l+1]
		scale := 1 / math.Sqrt(float64(in))
		if cfg.Residual && l+2 == len(cfg.Sizes) {
			scale /= 100
		}
		w := uniform(rng, dt, scale, in, out)
		b := uniform(rng, dt, scale, 1, out)
		m.ws = append(m.ws, G.NewMatrix(g, dt, G.WithShape(in, out), G.WithName(fmt.Sprintf("%s.w%d", cfg.Name, l)), G.WithValue(w)))
		m.bs = append(m.bs, G.NewMatrix(g, dt, G.WithShape(1, out), G.WithName(fmt.Sprintf("%s.b%d", cfg.Name, l)), G.WithValue(b)))
	}
	return m, nil
}

func uniform(rng *rand.Rand, dt tensor.Dtype, scale float64, r, c int) *tensor.Dense {
	v := make([]float64, r*c)
	for i := range v {
		v[i] = scale * (2*rng.Float64() - 1)
	}
	if dt == tensor.Float32 {
		f := make([]float32, len(v))
		for i := range v {
			f[i] = float32(v[i])
		}
		return tensor.New(tensor.WithShape(r, c), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(r, c), tensor.WithBacking(v))
}

// Forward applies the MLP to a batch (N, ...).
func (m *MLP) Forward(x *G.Node) (*G.Node, error) {
	n, d, err := flatSize(x)
	if err != nil {
		return nil, err
	}
	if d != m.cfg.Sizes[0] {
		return nil, fmt.Errorf("ot: %s: samples have %d features, MLP takes %d", m.cfg.Name, d, m.cfg.Sizes[0])
	}
	b := &build.Builder{}
	h := x
	if x.Dims() != 2 {
		h = b.N(G.Reshape(x, tensor.Shape{n, d}))
	}
	in := h
	for l := range m.ws {
		h = b.N(G.BroadcastAdd(b.N(G.Mul(h, m.ws[l])), m.bs[l], nil, []byte{0}))
		if l+1 < len(m.ws) && b.Err() == nil {
			switch m.cfg.Activation {
			case Softplus:
				h = b.N(G.Softplus(h))
			case Tanh:
				h = b.N(G.Tanh(h))
			default:
				h = b.N(G.LeakyRelu(h, m.cfg.Slope))
			}
		}
	}
	switch {
	case m.cfg.Residual:
		h = b.Add(in, h)
		if x.Dims() != 2 {
			h = b.N(G.Reshape(h, x.Shape().Clone()))
		}
	case m.cfg.Sizes[len(m.cfg.Sizes)-1] == 1:
		h = b.N(G.Reshape(h, tensor.Shape{n}))
	}
	return h, b.Err()
}

// Learnables lists the weights and biases.
func (m *MLP) Learnables() G.Nodes {
	out := make(G.Nodes, 0, 2*len(m.ws))
	for l := range m.ws {
		out = append(out, m.ws[l], m.bs[l])
	}
	return out
}

// flatSize returns the batch size and the number of features per sample.
func flatSize(x *G.Node) (n, d int, err error) {
	if x == nil || x.Dims() < 1 {
		return 0, 0, errors.New("ot: samples must be a batch node of shape (N, ...)")
	}
	s := x.Shape()
	d = 1
	for _, v := range s[1:] {
		d *= v
	}
	if s[0] <= 0 || d <= 0 {
		return 0, 0, fmt.Errorf("ot: empty batch of shape %v", s)
	}
	return s[0], d, nil
}
