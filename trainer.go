package baryir

import (
	"fmt"
	"math"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/ot"
)

// TrainConfig configures training: the overall loss of the paper's
// Eq. (15), with the max-min dual of Eq. (6) for the barycenter, and the
// setup of its Sec. 5 (implementation details). Start from PaperTraining or
// AuthorsTraining; they differ where the paper and the authors' code do.
type TrainConfig struct {
	// Net is the network: a Config (BaryNet, or the Restormer baseline)
	// or a backbone of your own (see Backbone). A network with a map
	// trains by BaryIR's max-min game; one without trains on σ·L1 alone.
	Net          Architecture
	Batch, Patch int           // patches per step (1 to 4096) and their side (a multiple of 8, 16 to 4096)
	Optimizer    OptimizerKind // for the network and the potentials (the zero value is RMSProp)
	LR           float64       // the network's optimiser runs at LR/2 * 0.1^(epoch/LRStepEpochs)
	PotentialLR  float64       // the same for the potentials' optimiser; 0 means LR
	LRStepEpochs int           // 0 keeps the rate constant
	// ObjectiveConfig weighs the objective's terms (σ, β, τ, the cost)
	// and switches them off for Tab. IX's ablations.
	ObjectiveConfig
	Congruence ot.Congruence
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
func PaperTraining(net Architecture) TrainConfig {
	return TrainConfig{Net: net, Batch: 8, Patch: 128, Optimizer: OptimizerRMSProp, LR: 2e-4, LRStepEpochs: 50,
		ObjectiveConfig: defaultObjective(), Congruence: ot.Exact, Weights: ot.Proportional}
}

// AuthorsTraining is the setup of the authors' code: RMS cost, penalised
// congruence with their second potentials' step (ot.PenaltyLastSample),
// inverse-frequency weights and batch averaging. One Step is one iteration
// of their training loop: the network's step, the potentials' step on the
// latents the updated network makes, then the penalty step.
func AuthorsTraining(net Architecture) TrainConfig {
	c := PaperTraining(net)
	c.Cost, c.Congruence, c.Penalty, c.Weights, c.BatchAverage = ot.RMS, ot.Penalized, ot.PenaltyLastSample, ot.Inverse, true
	return c
}

// validate reports the first unusable setting.
func (c TrainConfig) validate() error {
	if c.Net == nil {
		return errorf("train: no network (TrainConfig.Net)")
	}
	if v, ok := c.Net.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return err
		}
	}
	if err := c.checkNumbers(); err != nil {
		return err
	}
	if err := c.Optimizer.check(); err != nil {
		return errorf("train: %w", err)
	}
	if err := c.Device.check(); err != nil {
		return errorf("train: %w", err)
	}
	if c.Device == DeviceGPU && !GPUAvailable {
		return errorf("train: device %s: %w", c.Device, ErrNoGPU)
	}
	if err := c.Precision.checkOn(c.Device); err != nil {
		return errorf("train: %w", err)
	}
	return nil
}

// Bounds of TrainConfig.validate beyond which a setting is a mistake rather
// than a choice: a patch or batch past them would ask for tens of gigabytes
// before the first step.
const (
	maxPatch = 4096
	maxBatch = 4096
)

// checkNumbers names the first TrainConfig field that is NaN, infinite or
// outside its sensible range.
func (c TrainConfig) checkNumbers() error {
	for _, f := range []struct {
		name   string
		v      float64
		lo, hi float64
		zeroOK bool // 0 is allowed (PotentialLR 0 means LR; Sigma or Beta 0 switch a loss off)
	}{
		{"LR", c.LR, 0, 1, false},
		{"PotentialLR", c.PotentialLR, 0, 1, true},
		{"Sigma", c.Sigma, 0, 1e12, true},
		{"Beta", c.Beta, 0, 1e12, true},
		{"Tau", c.Tau, 0, 1e6, false},
	} {
		switch {
		case math.IsNaN(f.v) || math.IsInf(f.v, 0):
			return errorf("train: %s is %g; want a finite number", f.name, f.v)
		case f.v < f.lo || f.v > f.hi || f.v == 0 && !f.zeroOK:
			lo := "above 0"
			if f.zeroOK {
				lo = "at least 0"
			}
			return errorf("train: %s %g out of range (want %s and at most %g)", f.name, f.v, lo, f.hi)
		}
	}
	switch {
	case c.Batch < 1 || c.Batch > maxBatch:
		return errorf("train: Batch %d out of range (want 1 to %d)", c.Batch, maxBatch)
	case c.Patch < 16 || c.Patch%8 != 0 || c.Patch > maxPatch:
		return errorf("train: Patch %d must be a multiple of 8 from 16 to %d", c.Patch, maxPatch)
	case c.LRStepEpochs < 0:
		return errorf("train: LRStepEpochs %d must not be negative", c.LRStepEpochs)
	}
	return nil
}

// Losses are one step's record: the step's number (counted from 1), the
// epoch and the network's learning rate after it, and its loss values. For
// a network without a map only L1 and Generator of the losses are set.
// Its JSON form is a line of Run's log.
type Losses struct {
	Step      int     `json:"step"`
	Epoch     int     `json:"epoch"`
	LR        float64 `json:"lr"`
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
	net      *Network
	potScope *layers.Scope
	x, y     *G.Node                  // degraded input and clean target
	sw, ids  *G.Node                  // (B, K) sample weights and (B) degradation labels
	watch    G.Nodes                  // the reported losses
	report   []func(*Losses, float64) // where each watched loss goes
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
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if sampler == nil {
		return nil, errorf("train: no data sampler")
	}
	if p, ok := cfg.Net.(PromptIR); ok { // checkpoints record the prompts' sizes, defaults filled in
		cfg.Net = p.withDefaults()
	}
	w, err := ot.Weights(sampler.Counts(), cfg.Weights)
	if err != nil {
		return nil, errorf("train: barycenter weights: %w", err)
	}
	t := &Trainer{cfg: cfg, sampler: sampler, weights: w, g: G.NewGraph()}
	t.netOpt, t.potOpt = cfg.Optimizer.newOptimizer(cfg.LR/2), cfg.Optimizer.newOptimizer(cfg.LR/2)
	t.netStep, t.potStep = t.netOpt, t.potOpt
	if err := t.build(); err != nil {
		return nil, errorf("train: building the graph: %w", err)
	}
	if err := t.joinJob(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Trainer) build() error {
	c := t.cfg
	net, err := buildNetwork(layers.NewScope(t.g, tensor.Float32, c.Seed), c.Net)
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
	in := ObjectiveInputs{Out: out, Clean: t.y}
	params := nodesOf(net.Scope.Params())
	if net.Map != nil {
		k := len(t.weights)
		t.sw = G.NewMatrix(t.g, tensor.Float32, G.WithShape(c.Batch, k), G.WithName("sample_weights"))
		t.ids = G.NewVector(t.g, tensor.Float32, G.WithShape(c.Batch), G.WithName("degradation_ids"))
		lat := out.Source.Shape()
		t.potScope = layers.NewScope(t.g, tensor.Float32, c.Seed+1)
		pots, err := NewLatentPotentials(t.potScope, ot.PotentialsConfig{Weights: t.weights, Mode: c.Congruence, Penalty: c.Penalty}, lat[1], lat[2], lat[3])
		if err != nil {
			return err
		}
		in.Potentials, in.SampleWeights, in.Sources = pots, t.sw, t.ids
	}
	obj, err := NewObjective(in, c.ObjectiveConfig)
	if err != nil {
		return err
	}
	t.watchLosses(obj)
	if net.Map == nil {
		if t.netGrads, err = G.Grad(obj.MapLoss, params...); err != nil {
			return err
		}
		roots := append(G.Nodes{obj.MapLoss, obj.L1}, t.netGrads...)
		if t.m, err = NewMachine(t.g, MachineOptions{Device: c.Device, Precision: c.Precision, Keep: roots}); err != nil {
			return err
		}
		t.phase, err = t.m.Phase(roots...)
		return err
	}
	t.ot, err = ot.NewTrainer(ot.TrainerConfig{
		MapLoss: obj.MapLoss, PotentialLoss: obj.PotentialLoss,
		MapParams: params, PotentialParams: in.Potentials.Learnables(),
		MapSolver: t.netOpt, PotentialSolver: t.potOpt,
		PenaltyStep: obj.PenaltyStep,
		Watch:       t.watch,
		Machine: func(g *G.ExprGraph, keep G.Nodes) (ot.Machine, error) {
			m, err := NewMachine(g, MachineOptions{Device: c.Device, Precision: c.Precision, Keep: keep})
			t.m = m
			return m, err
		},
	})
	return err
}

// watchLosses lists the objective's terms the trainer reports, each with
// the field of Losses it fills.
func (t *Trainer) watchLosses(o Objective) {
	for _, w := range []struct {
		n   *G.Node
		set func(*Losses, float64)
	}{
		{o.L1, func(l *Losses, v float64) { l.L1 = v }},
		{o.MapLoss, func(l *Losses, v float64) { l.Generator = v }},
		{o.PotentialLoss, func(l *Losses, v float64) { l.Potential = v }},
		{o.Transport, func(l *Losses, v float64) { l.Transport = v }},
		{o.PotentialTerm, func(l *Losses, v float64) { l.PotTerm = v }},
		{o.Residual, func(l *Losses, v float64) { l.Residual = v }},
	} {
		if w.n != nil {
			t.watch, t.report = append(t.watch, w.n), append(t.report, w.set)
		}
	}
}

func nodesOf(ps []layers.Param) G.Nodes {
	ns := make(G.Nodes, len(ps))
	for i, p := range ps {
		ns[i] = p.Node
	}
	return ns
}

// network is the network being trained.
func (t *Trainer) network() *Network { return t.net }

// StepCount is the number of steps taken.
func (t *Trainer) StepCount() int { return t.step }

// Epoch is the number of completed passes over the training samples.
func (t *Trainer) epoch() int { return t.sampler.Epoch() }

// LR is the network optimiser's learning rate at the current epoch.
func (t *Trainer) lr() float64 { return t.scheduled(t.cfg.LR) }

// PotentialLR is the potentials optimiser's learning rate at the current epoch.
func (t *Trainer) potentialLR() float64 {
	if t.cfg.PotentialLR > 0 {
		return t.scheduled(t.cfg.PotentialLR)
	}
	return t.lr()
}

// scheduled is base/2 decayed tenfold every LRStepEpochs epochs (the paper's schedule, Sec. 5).
func (t *Trainer) scheduled(base float64) float64 {
	lr := base / 2
	if t.cfg.LRStepEpochs > 0 {
		lr *= math.Pow(0.1, float64(t.epoch()/t.cfg.LRStepEpochs))
	}
	return lr
}

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
		return Losses{}, errorf("train: batch does not fit batch %d of %dx%d patches", t.cfg.Batch, t.cfg.Patch, t.cfg.Patch)
	}
	if err := t.feed(batch); err != nil {
		return Losses{}, err
	}
	t.netOpt.SetLR(t.lr())
	t.potOpt.SetLR(t.potentialLR())
	var err error
	var ol ot.Losses
	if t.ot != nil {
		ol, err = t.ot.Step()
	} else if err = t.phase.Run(); err == nil {
		err = t.netStep.Update(t.m, nodesOf(t.net.Scope.Params()), t.netGrads)
	}
	if err != nil {
		return Losses{}, errorf("train: step %d: %w", t.step+1, err)
	}
	t.step++
	l, err := t.losses(ol)
	if err == nil {
		l, err = t.averageLosses(l)
	}
	if err != nil {
		return Losses{}, errorf("train: step %d: %w", t.step, err)
	}
	l.Step, l.Epoch, l.LR = t.step, t.epoch(), t.lr()
	for _, f := range []struct {
		name string
		v    float64
	}{{"generator", l.Generator}, {"potential", l.Potential}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return l, errorf("%w at step %d: %s loss is %v", ErrDiverged, t.step, f.name, f.v)
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
			return nil, errorf("train: %w", err)
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
	var l Losses
	for i, set := range t.report {
		var v float64
		var err error
		if t.ot != nil {
			v, err = scalarOf(t.ot.Watched(i))
		} else {
			v, err = ot.Scalar(t.m, t.watch[i])
		}
		if err != nil {
			return Losses{}, errorf("%s: %w", t.watch[i].Name(), err)
		}
		set(&l, v)
	}
	if t.ot != nil {
		l.Potential, l.Penalty = ol.Potential, ol.Penalty
	}
	return l, nil
}

func scalarOf(v G.Value) (float64, error) {
	switch x := v.Data().(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, errorf("not a float scalar: %v", v)
}

// StateDict returns the network's current weights.
func (t *Trainer) StateDict() (StateDict, error) {
	if err := t.m.Pull(nodesOf(t.net.Scope.Params())...); err != nil {
		return nil, err
	}
	return StateDictOf(t.net.Scope.Params())
}

// Potentials returns the latent potentials' weights, named as the authors'
// Potentials module ("potentials.k...."); nil for the Restormer baseline.
func (t *Trainer) potentials() (StateDict, error) {
	if t.potScope == nil {
		return nil, nil
	}
	if err := t.m.Pull(nodesOf(t.potScope.Params())...); err != nil {
		return nil, err
	}
	return StateDictOf(t.potScope.Params())
}

// LoadPotentials sets the latent potentials' weights, e.g. from ReadPotentials.
func (t *Trainer) loadPotentials(sd StateDict) error {
	if t.potScope == nil {
		return errorf("train: the Restormer baseline has no potentials")
	}
	if err := loadParams(t.potScope.Params(), sd, nil); err != nil {
		return errorf("potentials do not fit: %w", err)
	}
	return t.m.push(nodesOf(t.potScope.Params())...)
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
	fmt.Fprintf(&sb, "%s, batch %d of %dx%d, %s lr %g", describe(t.cfg.Net), t.cfg.Batch, t.cfg.Patch, t.cfg.Patch, t.cfg.Optimizer, t.cfg.LR)
	if t.m.device == DeviceGPU {
		name, _ := gpuName()
		fmt.Fprintf(&sb, ", on the GPU (%s, %s)", name, t.cfg.Precision)
	}
	if t.ot != nil {
		fmt.Fprintf(&sb, ", weights %.3f, cost %v, %v congruence", t.weights, t.cfg.Cost, t.cfg.Congruence)
	}
	return sb.String()
}
