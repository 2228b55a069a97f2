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
// Gorgonia merges input nodes of equal shape and name, so name every input
// node uniquely.
package ot
