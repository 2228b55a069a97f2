// Package ot is the optimal-transport math behind BaryIR's Wasserstein
// barycenter: Gaussian closed forms (W2, OT maps, barycenters) to test
// against, congruent potentials, the max-min MWB objective
//
//	L(T, f) = sum_k w_k E_{x~P_k}[ c(x, T(x)) - f_k(T(x)) ]
//
// as a Gorgonia graph builder, and an alternating trainer for any
// map/potential pair.
//
// It knows nothing of images: samples are batches of shape (N, ...), so the
// same code serves 2-D toy Gaussians and (N, C, H, W) image latents. A
// trainer with one shared map and batches that mix sources wires it as:
//
//	sw := G.NewMatrix(g, dt, G.WithShape(n, k), G.WithName("sw")) // fed per batch
//	pot, _ := ot.NewPotentials(convNets, ot.PotentialsConfig{Weights: w})
//	terms, _ := ot.Objective(pot, latents, mapped, sw, ot.HalfSquared)
//	tr, _ := ot.NewTrainer(ot.TrainerConfig{
//		MapLoss: mapLoss /* terms.Loss + other terms */, PotentialLoss: terms.PotentialLoss,
//		MapParams: netParams, PotentialParams: pot.Learnables(),
//		MapSolver: sT, PotentialSolver: sF, // ot.Solvers: baryir's RMSProp/Adam, or ot.GorgoniaSolver(s)
//		Feed: func() error { /* G.Let inputs; G.Let(sw, ot.SampleWeights(ids, w, dt)) */ },
//	})
//	losses, _ := tr.Step()
//
// The phases run on a Machine: NewTapeMachine on the CPU by default, or any
// other (TrainerConfig.Machine), such as baryir.NewMachine on a GPU.
//
// # Graphs that Gorgonia merges
//
// Gorgonia (v0.9.18) merges a new node into an earlier one when their hashes
// and their ops' hashes match, without comparing inputs:
//   - Input nodes of equal shape and name merge, so name every input node
//     uniquely.
//   - Its slice op hashes start, end and step as single bytes, so x[0:10]
//     and x[256:266] become one node, and gorgonia.Concat's gradient, which
//     slices, gives three blocks of 128 rows (or two of 256) one gradient.
//     This package's builders concatenate with an op of their own
//     (layers.ConcatAxis and layers.Slice are its public face);
//     NewTapeMachine and the default machine of NewTrainer refuse a graph
//     in which Gorgonia's slice or its gradient slices an axis longer than
//     256, naming the node, unless the caller opts in
//     (NewTapeMachineAllowingSlices, TrainerConfig.AllowGorgoniaSlices).
//
// # Divergence
//
// A max-min game can diverge: the map's loss grows by orders of magnitude
// within tens of steps. Trainer.Step returns ErrDiverged, naming the phase
// and the step, when a loss is not finite or exceeds
// TrainerConfig.DivergenceFactor times the mean of its magnitude so far.
package ot
