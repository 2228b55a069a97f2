package baryir

import (
	"errors"
	"fmt"
	"math"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/losses"
	"github.com/x/baryir/ot"
)

// TrainConfig configures training: the overall loss of the paper's
// Eq. (15), with the max-min dual of Eq. (6) for the barycenter, and the
// setup of its Sec. 5 (implementation details). Start from PaperTraining or
// AuthorsTraining; they differ where the paper and the authors' code do.
type TrainConfig struct {
	Net          Config
	Batch, Patch int     // patches per step and their side (a multiple of 8)
	Optimizer    string  // "rmsprop" or "adam", for the network and the potentials
	LR           float64 // the network's optimiser runs at LR/2 * 0.1^(epoch/LRStepEpochs)
	PotentialLR  float64 // the same for the potentials' optimiser; 0 means LR
	LRStepEpochs int     // 0 keeps the rate constant
	Sigma        float64 // weight of the L1 restoration loss
	Beta         float64 // weight of IRC + BRO
	Tau          float64 // IRC temperature
	Cost         ot.Cost
	Congruence   ot.Congruence
	// Penalty is how Penalized congruence is enforced: ot.PenaltyMean (one
	// combined step) or the authors' ot.PenaltyLastSample (a second
	// potentials' step per iteration).
	Penalty ot.PenaltyForm
	Weights ot.WeightScheme
	// BatchAverage weights sample i by w_{k_i}/B, the authors'
	// (1/B) sum_i w_{k_i}[...]; otherwise by w_k/n_k, so each source's batch
	// mean estimates E_{P_k} as in the paper's objective.
	BatchAverage bool
	Seed         uint64
	// Device is where the steps run: DeviceCPU ("" too) or DeviceGPU (a
	// build with -tags baryirgpu; see DeviceGPU for what differs there).
	Device Device
	// Precision is the arithmetic of the matrix products and convolutions
	// (PrecisionFP32, the default; TF32 and BF16 need DeviceGPU). See
	// Precision for what stays float32.
	Precision Precision `json:",omitempty"`
	// Comm is the data-parallel job this trainer is a rank of (nil: a job
	// of one; JoinJob finds it). Its sampler must draw the rank's shard
	// (data.Shard); the gradients are averaged over the ranks before each
	// step (see train_parallel.go). The trainer does not close it.
	Comm Comm `json:"-"`
}

// PaperTraining is the paper's setup for net: RMSprop at 2e-4 decayed
// tenfold every 50 epochs, half-squared cost, potentials congruent by
// construction, weights proportional to sample counts.
func PaperTraining(net Config) TrainConfig {
	return TrainConfig{Net: net, Batch: 8, Patch: 128, Optimizer: "rmsprop", LR: 2e-4, LRStepEpochs: 50,
		Sigma: 1e4, Beta: losses.DefaultBeta, Tau: losses.DefaultTau,
		Cost: ot.HalfSquared, Congruence: ot.Exact, Weights: ot.Proportional}
}

// AuthorsTraining is the setup of the authors' code: RMS cost, penalised
// congruence with their second potentials' step (ot.PenaltyLastSample),
// inverse-frequency weights and batch averaging. One Step is one iteration
// of their training loop: the network's step, the potentials' step on the
// latents the updated network makes, then the penalty step.
func AuthorsTraining(net Config) TrainConfig {
	c := PaperTraining(net)
	c.Cost, c.Congruence, c.Penalty, c.Weights, c.BatchAverage = ot.RMS, ot.Penalized, ot.PenaltyLastSample, ot.Inverse, true
	return c
}

// Validate reports the first unusable setting.
func (c TrainConfig) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	if err := c.checkNumbers(); err != nil { // runsafety.go: NaN, Inf and absurd values, by field
		return err
	}
	if c.Optimizer != "rmsprop" && c.Optimizer != "adam" {
		return fmt.Errorf("train: unknown optimizer %q (want rmsprop or adam)", c.Optimizer)
	}
	if err := c.Device.check(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if c.Device == DeviceGPU && !GPUAvailable {
		return fmt.Errorf("train: device %s: %w", c.Device, ErrNoGPU)
	}
	if err := c.Precision.checkOn(c.Device); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// Losses are one step's loss values. For the Restormer baseline only L1
// and Generator are set.
type Losses struct {
	Generator float64 `json:"generator"` // what the network's step minimised
	Potential float64 `json:"potential"` // what the potentials' step minimised
	L1        float64 `json:"l1"`        // mean |restored - clean|
	Transport float64 `json:"transport"` // sum_k w_k E_k[c(s, b)]
	PotTerm   float64 `json:"pot_term"`  // sum_k w_k E_k[f_k(b)]
	Residual  float64 `json:"irc_bro"`   // weighted IRC + BRO
	// Penalty is the loss of the authors' congruence step
	// (ot.PenaltyLastSample) before its update; 0 otherwise.
	Penalty float64 `json:"penalty,omitempty"`
}

// Trainer trains a network (and, for BaryNet, its potentials) on batches
// from a data.Sampler. Its graph is built once and reused for every step.
type Trainer struct {
	cfg     TrainConfig
	sampler *data.Sampler
	weights []float64 // barycenter weights per source

	g        *G.ExprGraph
	net      Network
	potScope *layers.Scope
	x, y     *G.Node  // degraded input and clean target
	sw, ids  *G.Node  // (B, K) sample weights and (B) degradation labels
	report   []string // names of the reported losses, in watch order
	watch    G.Nodes  // the reported losses
	netOpt   Optimizer
	potOpt   Optimizer
	m        *Machine    // runs every step, on cfg.Device
	ot       *ot.Trainer // BaryNet: the alternating max-min steps on m
	phase    ot.Phase    // Restormer: the one step on m
	netGrads G.Nodes     // Restormer: the parameters' gradients
	step     int

	netStep, potStep ot.Solver     // the optimisers, averaging gradients over Comm's ranks
	dp               *dataParallel // nil outside a data-parallel job
}

// NewTrainer builds the training graph of cfg for batches of sampler.
func NewTrainer(cfg TrainConfig, sampler *data.Sampler) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sampler == nil {
		return nil, errors.New("train: no data sampler")
	}
	w, err := ot.Weights(sampler.Counts(), cfg.Weights)
	if err != nil {
		return nil, fmt.Errorf("train: barycenter weights: %w", err)
	}
	t := &Trainer{cfg: cfg, sampler: sampler, weights: w, g: G.NewGraph()}
	t.netOpt, t.potOpt = newOptimizer(cfg), newOptimizer(cfg)
	t.netStep, t.potStep = t.netOpt, t.potOpt
	if err := t.build(); err != nil {
		return nil, fmt.Errorf("train: building the graph: %w", err)
	}
	if err := t.joinJob(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func newOptimizer(c TrainConfig) Optimizer {
	if c.Optimizer == "adam" {
		return NewAdam(c.LR / 2)
	}
	return NewRMSProp(c.LR / 2)
}

func (t *Trainer) build() error {
	c, b := t.cfg, &layers.Builder{}
	net, err := NewNetwork(layers.NewScope(t.g, tensor.Float32, c.Seed), c.Net)
	if err != nil {
		return err
	}
	t.net = net
	img := []int{c.Batch, 3, c.Patch, c.Patch}
	t.x = G.NewTensor(t.g, tensor.Float32, 4, G.WithShape(img...), G.WithName("degraded"))
	t.y = G.NewTensor(t.g, tensor.Float32, 4, G.WithShape(img...), G.WithName("clean"))
	out, err := net.Forward(t.x)
	if err != nil {
		return err
	}
	l1 := b.N(losses.L1(out.Restored, t.y))
	gen := b.N(layers.Scale(l1, c.Sigma))
	params := nodesOf(net.Params())
	if c.Net.Arch == ArchRestormer {
		if b.Err() != nil {
			return b.Err()
		}
		t.report, t.watch = []string{"l1", "generator"}, G.Nodes{l1, gen}
		if t.netGrads, err = G.Grad(gen, params...); err != nil {
			return err
		}
		roots := append(G.Nodes{gen, l1}, t.netGrads...)
		if t.m, err = NewMachine(t.g, OnDevice(c.Device), WithPrecision(c.Precision), Keep(roots...)); err != nil {
			return err
		}
		t.phase, err = t.m.Phase(roots...)
		return err
	}

	k := len(t.weights)
	t.sw = G.NewMatrix(t.g, tensor.Float32, G.WithShape(c.Batch, k), G.WithName("sample_weights"))
	t.ids = G.NewVector(t.g, tensor.Float32, G.WithShape(c.Batch), G.WithName("degradation_ids"))
	lat := out.Source.Shape()
	t.potScope = layers.NewScope(t.g, tensor.Float32, c.Seed+1)
	pots, err := NewLatentPotentials(t.potScope, ot.PotentialsConfig{Weights: t.weights, Mode: c.Congruence, Penalty: c.Penalty}, lat[1], lat[2], lat[3])
	if err != nil {
		return err
	}
	terms, err := ot.Objective(pots, out.Source, out.Bary, t.sw, c.Cost)
	if err != nil {
		return err
	}
	// IRC + BRO per sample, weighted like the objective's samples.
	irc := b.N(losses.IRCNode(out.Residual, t.ids, c.Tau))
	bro := b.N(losses.BRO(out.Bary, out.Residual))
	perSample := b.N(G.Sum(t.sw, 1))
	resid := b.N(G.Sum(b.N(G.HadamardProd(perSample, b.Add(irc, bro)))))
	gen = b.Add(b.Add(terms.Loss, b.N(layers.Scale(resid, c.Beta))), gen)
	if b.Err() != nil {
		return b.Err()
	}
	t.report = []string{"l1", "generator", "potential", "transport", "pot_term", "irc_bro"}
	t.watch = G.Nodes{l1, gen, terms.PotentialLoss, terms.Transport, terms.Potential, resid}
	t.ot, err = ot.NewTrainer(ot.TrainerConfig{
		MapLoss: gen, PotentialLoss: terms.PotentialLoss,
		MapParams: params, PotentialParams: pots.Learnables(),
		MapSolver: t.netOpt, PotentialSolver: t.potOpt,
		PenaltyStep: terms.PenaltyStep,
		Watch:       t.watch,
		Machine: func(g *G.ExprGraph, keep G.Nodes) (ot.Machine, error) {
			m, err := NewMachine(g, OnDevice(c.Device), WithPrecision(c.Precision), Keep(keep...))
			t.m = m
			return m, err
		},
	})
	return err
}

func nodesOf(ps []layers.Param) G.Nodes {
	ns := make(G.Nodes, len(ps))
	for i, p := range ps {
		ns[i] = p.Node
	}
	return ns
}

// Network is the network being trained.
func (t *Trainer) Network() Network { return t.net }

// Weights are the barycenter weights of the sources.
func (t *Trainer) Weights() []float64 { return append([]float64(nil), t.weights...) }

// StepCount is the number of steps taken.
func (t *Trainer) StepCount() int { return t.step }

// Epoch is the number of completed passes over the training samples.
func (t *Trainer) Epoch() int { return t.sampler.Epoch() }

// LR is the network optimiser's learning rate at the current epoch.
func (t *Trainer) LR() float64 { return t.scheduled(t.cfg.LR) }

// PotentialLR is the potentials optimiser's learning rate at the current epoch.
func (t *Trainer) PotentialLR() float64 {
	if t.cfg.PotentialLR > 0 {
		return t.scheduled(t.cfg.PotentialLR)
	}
	return t.LR()
}

// scheduled is base/2 decayed tenfold every LRStepEpochs epochs (the paper's schedule, Sec. 5).
func (t *Trainer) scheduled(base float64) float64 {
	lr := base / 2
	if t.cfg.LRStepEpochs > 0 {
		lr *= math.Pow(0.1, float64(t.Epoch()/t.cfg.LRStepEpochs))
	}
	return lr
}

// ErrDiverged is returned (wrapped, naming the phase and the step) when a
// loss becomes NaN or infinite, or, in BaryIR's max-min game, grows past
// ot.DefaultDivergenceFactor times its running mean. It is ot.ErrDiverged.
var ErrDiverged = ot.ErrDiverged

// Step draws a batch and takes one step of the network (then, for BaryNet,
// one of the potentials). A NaN or infinite loss is ErrDiverged.
func (t *Trainer) Step() (Losses, error) {
	batch, err := t.sampler.Next(t.cfg.Batch)
	if err != nil {
		return Losses{}, err
	}
	return t.StepOn(batch)
}

// StepOn takes one step, as Step does, on a given batch instead of one drawn
// from the sampler (benchmarks use it to leave data synthesis out of the
// timing). The batch must have the trainer's batch size and patch size.
func (t *Trainer) StepOn(batch *data.Batch) (Losses, error) {
	if batch == nil || batch.B != t.cfg.Batch || batch.P != t.cfg.Patch || len(batch.Source) != batch.B {
		return Losses{}, fmt.Errorf("train: batch does not fit batch %d of %dx%d patches", t.cfg.Batch, t.cfg.Patch, t.cfg.Patch)
	}
	if err := t.feed(batch); err != nil {
		return Losses{}, err
	}
	t.netOpt.SetLR(t.LR())
	t.potOpt.SetLR(t.PotentialLR())
	var err error
	var ol ot.Losses
	if t.ot != nil {
		ol, err = t.ot.Step()
	} else if err = t.phase.Run(); err == nil {
		err = t.netStep.Update(t.m, nodesOf(t.net.Params()), t.netGrads)
	}
	if err != nil {
		return Losses{}, fmt.Errorf("train: step %d: %w", t.step+1, err)
	}
	t.step++
	l, err := t.losses(ol)
	if err == nil {
		l, err = t.averageLosses(l)
	}
	if err != nil {
		return Losses{}, fmt.Errorf("train: step %d: %w", t.step, err)
	}
	for name, v := range map[string]float64{"generator": l.Generator, "potential": l.Potential} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return l, fmt.Errorf("%w at step %d: %s loss is %v", ErrDiverged, t.step, name, v)
		}
	}
	return l, nil
}

// feed loads a batch into the graph's inputs.
func (t *Trainer) feed(batch *data.Batch) error {
	c := t.cfg
	img := []int{c.Batch, 3, c.Patch, c.Patch}
	if err := t.m.Let(t.x, tensor.New(tensor.WithShape(img...), tensor.WithBacking(batch.Degraded))); err != nil {
		return err
	}
	if err := t.m.Let(t.y, tensor.New(tensor.WithShape(img...), tensor.WithBacking(batch.Clean))); err != nil {
		return err
	}
	if t.sw == nil {
		return nil
	}
	sw, err := t.sampleWeights(batch.Source)
	if err != nil {
		return err
	}
	ids := make([]float32, len(batch.Degradation))
	for i, d := range batch.Degradation {
		ids[i] = float32(d)
	}
	if err := t.m.Let(t.sw, sw); err != nil {
		return err
	}
	return t.m.Let(t.ids, tensor.New(tensor.WithShape(len(ids)), tensor.WithBacking(ids)))
}

// sampleWeights is the (B, K) matrix whose row i holds sample i's weight in
// the column of its source: w_k/n_k (paper) or w_k/B (authors).
func (t *Trainer) sampleWeights(src []int) (*tensor.Dense, error) {
	if !t.cfg.BatchAverage {
		sw, err := ot.SampleWeights(src, t.weights, tensor.Float32)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		return sw, nil
	}
	k := len(t.weights)
	m := make([]float32, len(src)*k)
	for i, s := range src {
		m[i*k+s] = float32(t.weights[s] / float64(len(src)))
	}
	return tensor.New(tensor.WithShape(len(src), k), tensor.WithBacking(m)), nil
}

// losses reads the reported losses: those of the map step (all of them for
// the Restormer), and the potentials' loss of their own step.
func (t *Trainer) losses(ol ot.Losses) (Losses, error) {
	vals := map[string]float64{}
	for i, name := range t.report {
		var v float64
		var err error
		if t.ot != nil {
			v, err = scalarOf(t.ot.Watched(i))
		} else {
			v, err = t.m.Scalar(t.watch[i])
		}
		if err != nil {
			return Losses{}, fmt.Errorf("%s: %w", name, err)
		}
		vals[name] = v
	}
	if t.ot != nil {
		vals["potential"], vals["penalty"] = ol.Potential, ol.Penalty
	}
	get := func(name string) float64 { return vals[name] }
	return Losses{Generator: get("generator"), Potential: get("potential"), L1: get("l1"),
		Transport: get("transport"), PotTerm: get("pot_term"), Residual: get("irc_bro"), Penalty: get("penalty")}, nil
}

func scalarOf(v G.Value) (float64, error) {
	switch x := v.Data().(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, fmt.Errorf("not a float scalar: %v", v)
}

// StateDict returns the network's current weights.
func (t *Trainer) StateDict() (StateDict, error) {
	if err := t.m.Pull(nodesOf(t.net.Params())...); err != nil {
		return nil, err
	}
	return Save(t.net.Params())
}

// Potentials returns the latent potentials' weights, named as the authors'
// Potentials module ("potentials.k...."); nil for the Restormer baseline.
func (t *Trainer) Potentials() (StateDict, error) {
	if t.potScope == nil {
		return nil, nil
	}
	if err := t.m.Pull(nodesOf(t.potScope.Params())...); err != nil {
		return nil, err
	}
	return Save(t.potScope.Params())
}

// LoadPotentials sets the latent potentials' weights, e.g. from ReadPotentials.
func (t *Trainer) LoadPotentials(sd StateDict) error {
	if t.potScope == nil {
		return errors.New("train: the Restormer baseline has no potentials")
	}
	if err := loadParams(t.potScope.Params(), sd, nil); err != nil {
		return fmt.Errorf("potentials do not fit: %w", err)
	}
	return t.m.Push(nodesOf(t.potScope.Params())...)
}

// Close releases the machine and the optimisers' device state.
func (t *Trainer) Close() {
	for _, o := range []Optimizer{t.netOpt, t.potOpt} {
		if c, ok := o.(interface{ Close() }); ok {
			c.Close()
		}
	}
	if t.m != nil {
		t.m.Close()
	}
}

// String summarises the setup for logs.
func (t *Trainer) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s dim %d blocks %v, batch %d of %dx%d, %s lr %g", t.cfg.Net.Arch, t.cfg.Net.Dim,
		t.cfg.Net.Blocks, t.cfg.Batch, t.cfg.Patch, t.cfg.Patch, t.cfg.Optimizer, t.cfg.LR)
	if t.m.Device() == DeviceGPU {
		name, _ := GPUName()
		fmt.Fprintf(&sb, ", on the GPU (%s, %s)", name, t.cfg.Precision)
	}
	if t.ot != nil {
		fmt.Fprintf(&sb, ", weights %.3f, cost %v, %v congruence", t.weights, t.cfg.Cost, t.cfg.Congruence)
	}
	return sb.String()
}
