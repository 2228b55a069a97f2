package baryir

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
	"github.com/x/baryir/ot"
)

// latentPotential is the authors' potential network on barycenter latents
// (C, h, w): Conv2d(C->C, k4, s4, pad 1, groups 4) -> LeakyReLU(0.2) ->
// Flatten -> Linear(F->F/4) -> Linear(F/4->64) -> LeakyReLU(0.2) ->
// Linear(64->1). Its parameters are named as one entry of the authors'
// Potentials.potentials ModuleList ("0.weight", "3.weight", ...).
type latentPotential struct {
	Conv           *layers.Conv2d
	Hidden, Narrow *layers.Linear
	Out            *layers.Linear
	params         G.Nodes
}

// potentialSlope is the LeakyReLU slope of the potentials.
const potentialSlope = 0.2

// newLatentPotential makes a potential for latents of c channels and h x w pixels.
func newLatentPotential(s *layers.Scope, c, h, w int) (*latentPotential, error) {
	if c%4 != 0 {
		return nil, errorf("potential: %d latent channels are not divisible into 4 groups", c)
	}
	if h < 2 || w < 2 {
		return nil, errorf("potential: latent %dx%d is too small for its 4x4 conv", h, w)
	}
	f := c * ((h+2-4)/4 + 1) * ((w+2-4)/4 + 1)
	before := len(s.Params())
	p := &latentPotential{
		Conv: layers.NewConv2d(s.Sub("0"), layers.Conv2dConfig{In: c, Out: c, Kernel: 4, Stride: 4, Padding: 1, Groups: 4,
			WeightInit: layers.Normal(0.02)}),
		Hidden: layers.NewLinear(s.Sub("3"), layers.LinearConfig{In: f, Out: f / 4, Bias: true}),
		Narrow: layers.NewLinear(s.Sub("4"), layers.LinearConfig{In: f / 4, Out: 64, Bias: true}),
		Out:    layers.NewLinear(s.Sub("6"), layers.LinearConfig{In: 64, Out: 1, Bias: true}),
	}
	for _, prm := range s.Params()[before:] {
		p.params = append(p.params, prm.Node)
	}
	return p, nil
}

// Forward maps latents (N, C, h, w) to potentials (N, 1).
func (p *latentPotential) Forward(x *G.Node) (*G.Node, error) {
	b := &layers.Builder{}
	h := b.Do(p.Conv.Forward, x)
	h = b.N(layers.LeakyReLU(h, potentialSlope))
	if b.Err() != nil {
		return nil, b.Err()
	}
	s := h.Shape()
	h = b.N(G.Reshape(h, tensor.Shape{s[0], s[1] * s[2] * s[3]}))
	h = b.Do(p.Hidden.Forward, h)
	h = b.Do(p.Narrow.Forward, h)
	h = b.N(layers.LeakyReLU(h, potentialSlope))
	return b.Do(p.Out.Forward, h), b.Err()
}

// Learnables lists the potential's parameters.
func (p *latentPotential) Learnables() G.Nodes { return p.params }

// NewLatentPotentials makes one potential per source of cfg (one per
// barycenter weight) on (c, h, wd) latents, under the state_dict prefix
// "potentials.k." of s.
func NewLatentPotentials(s *layers.Scope, cfg ot.PotentialsConfig, c, h, wd int) (*ot.Potentials, error) {
	nets := make([]ot.Net, len(cfg.Weights))
	for k := range cfg.Weights {
		p, err := newLatentPotential(s.Subf("potentials.%d", k), c, h, wd)
		if err != nil {
			return nil, err
		}
		nets[k] = p
	}
	return ot.NewPotentials(nets, cfg)
}
