package baryir

import (
	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/layers"
	"github.com/x/baryir/losses"
	"github.com/x/baryir/ot"
)

// ObjectiveConfig weighs the terms of BaryIR's objective, the paper's
// Eq. (15). defaultObjective gives the paper's and the authors' values.
type ObjectiveConfig struct {
	Sigma float64 // weight σ of the L1 restoration loss (DefaultSigma)
	Beta  float64 // weight β of IRC + BRO, the paper's λ (losses.DefaultBeta)
	Tau   float64 // IRC temperature τ (losses.DefaultTau)
	Cost  ot.Cost // transport cost of the MWB terms (ot.HalfSquared in the paper)

	// NoMWB, NoIRC and NoBRO switch terms off, for the ablations of the
	// paper's Tab. IX (the zero values keep every term): NoIRC and NoBRO
	// with NoMWB unset are "MWB + BRO" and "MWB + IRC"; all three set is
	// the backbone trained with σ·L1 alone.
	//
	// NoMWB drops the barycenter terms Σ_k w_k E[c(s, b) - f_k(b)] from the
	// map's loss (the potentials still train, on b, but steer nothing).
	NoMWB bool `json:",omitempty"`
	NoIRC bool `json:",omitempty"` // drops the residual contrastive loss
	NoBRO bool `json:",omitempty"` // drops the barycenter-residual orthogonality loss
}

// defaultObjective is the paper's objective: σ = DefaultSigma, β and τ as
// losses.DefaultBeta and losses.DefaultTau, half-squared cost, every term.
func defaultObjective() ObjectiveConfig {
	return ObjectiveConfig{Sigma: DefaultSigma, Beta: losses.DefaultBeta, Tau: losses.DefaultTau, Cost: ot.HalfSquared}
}

// Objective is the graph of BaryIR's objective on one batch. The map's
// loss (minimised by the network, the map included) is
//
//	σ·L1(restored, clean) + Σ_k w_k E_k[c(s, b) - f_k(b)] + β Σ_i sw_i (IRC_i + BRO_i)
//
// with sample i's weight sw_i = Σ_k sw[i, k], and the potentials' loss
// (minimised by the potentials) is ot.Terms.PotentialLoss. For a network
// without a map the map's loss is σ·L1 alone and the rest is nil.
type Objective struct {
	MapLoss, PotentialLoss *G.Node
	// The terms, for logs (nil where ablated or absent): L1, the transport
	// and potential parts of the MWB terms, and the weighted IRC + BRO sum
	// before β.
	L1, Transport, PotentialTerm, Residual *G.Node
	// PenaltyStep is the authors' second potentials' step, for
	// ot.TrainerConfig (set with ot.PenaltyLastSample).
	PenaltyStep ot.PenaltyStep
}

// ObjectiveInputs are the nodes an Objective is built from.
type ObjectiveInputs struct {
	Out   Output  // the network's forward pass
	Clean *G.Node // the clean images, Out.Restored's shape
	// Potentials are the congruent potentials f_k on the latents (see
	// NewLatentPotentials); nil only for a network without a map.
	Potentials *ot.Potentials
	// SampleWeights (B, K) weighs sample i for source k (ot.SampleWeights),
	// and Sources (B) holds each sample's source index, for IRC; both are
	// fed per batch.
	SampleWeights, Sources *G.Node
}

// NewObjective builds the objective of in, weighted by cfg.
func NewObjective(in ObjectiveInputs, cfg ObjectiveConfig) (Objective, error) {
	if in.Out.Restored == nil || in.Clean == nil {
		return Objective{}, errorf("objective: no restored or clean images")
	}
	b := &layers.Builder{}
	var o Objective
	o.L1 = b.N(losses.L1(in.Out.Restored, in.Clean))
	o.MapLoss = b.N(layers.Scale(o.L1, cfg.Sigma))
	if in.Out.Bary == nil {
		return o, b.Err()
	}
	if in.Potentials == nil || in.SampleWeights == nil || in.Sources == nil {
		return Objective{}, errorf("objective: a network with a map needs potentials, sample weights and sources")
	}
	terms, err := ot.Objective(in.Potentials, in.Out.Source, in.Out.Bary, in.SampleWeights, cfg.Cost)
	if err != nil {
		return Objective{}, errorf("objective: %w", err)
	}
	o.PotentialLoss, o.PenaltyStep = terms.PotentialLoss, terms.PenaltyStep
	o.Transport, o.PotentialTerm = terms.Transport, terms.Potential

	// IRC + BRO per sample, weighted like the objective's samples.
	var resid *G.Node
	if !cfg.NoIRC || !cfg.NoBRO {
		var irc, bro *G.Node
		if !cfg.NoIRC {
			irc = b.N(losses.IRC(in.Out.Residual, in.Sources, cfg.Tau))
		}
		if !cfg.NoBRO {
			bro = b.N(losses.BRO(in.Out.Bary, in.Out.Residual))
		}
		weight := b.N(G.Sum(in.SampleWeights, 1))
		perSample := irc
		switch {
		case irc == nil:
			perSample = bro
		case bro != nil:
			perSample = b.Add(irc, bro)
		}
		resid = b.N(G.Sum(b.N(G.HadamardProd(weight, perSample))))
		o.Residual = resid
	}
	switch {
	case !cfg.NoMWB && resid != nil:
		o.MapLoss = b.Add(b.Add(terms.Loss, b.N(layers.Scale(resid, cfg.Beta))), o.MapLoss)
	case !cfg.NoMWB:
		o.MapLoss = b.Add(terms.Loss, o.MapLoss)
	case resid != nil:
		o.MapLoss = b.Add(b.N(layers.Scale(resid, cfg.Beta)), o.MapLoss)
	}
	if cfg.NoMWB {
		o.Transport, o.PotentialTerm = nil, nil
	}
	if b.Err() != nil {
		return Objective{}, errorf("objective: %w", b.Err())
	}
	return o, nil
}
