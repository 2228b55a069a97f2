package baryir

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/ot"
)

// testTraining is a small, fast setup on the embedded photos.
func testTraining(t *testing.T, arch family, mutate func(*TrainConfig)) (*Trainer, TrainConfig) {
	t.Helper()
	net := Tiny()
	net.Dim = 4
	if arch == familyRestormer {
		net = net.Restormer()
	}
	cfg := PaperTraining(net)
	cfg.Batch, cfg.Patch, cfg.Optimizer, cfg.LR, cfg.Seed = 3, 16, OptimizerAdam, 2e-3, 7
	if mutate != nil {
		mutate(&cfg)
	}
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	require.NoError(t, err)
	s, err := data.NewSampler(src, cfg.Patch, cfg.Seed)
	require.NoError(t, err)
	tr, err := NewTrainer(cfg, s)
	require.NoError(t, err)
	t.Cleanup(tr.Close)
	return tr, cfg
}

func TestResumeContinuesExactly(t *testing.T) {
	for _, c := range []struct {
		name   string
		arch   family
		mutate func(*TrainConfig)
	}{
		{"paper", familyBaryNet, nil},
		{"authors rmsprop", familyBaryNet, func(c *TrainConfig) {
			*c = AuthorsTraining(c.Net)
			c.Batch, c.Patch, c.Seed = 3, 16, 7
		}},
		{"restormer", familyRestormer, nil},
		{"baryir on promptir", familyBaryNet, func(c *TrainConfig) { c.Net = fixturePromptIR(false) }},
		{"promptir", familyRestormer, func(c *TrainConfig) { c.Net = fixturePromptIR(true) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			whole, _ := testTraining(t, c.arch, c.mutate)
			want, err := whole.Run(RunOptions{Steps: 4})
			require.NoError(t, err)

			ckpt := filepath.Join(t.TempDir(), "ckpt.safetensors")
			first, _ := testTraining(t, c.arch, c.mutate)
			_, err = first.Run(RunOptions{Steps: 2, CheckpointPath: ckpt, CheckpointEvery: 2})
			require.NoError(t, err)
			resumed, _ := testTraining(t, c.arch, c.mutate)
			require.NoError(t, resumed.Resume(ckpt))
			got, err := resumed.Run(RunOptions{Steps: 4})
			require.NoError(t, err)
			require.Equal(t, want[2:], got, "losses after resuming")
		})
	}
}

func TestTrainingReducesL1(t *testing.T) {
	tr, _ := testTraining(t, familyBaryNet, func(c *TrainConfig) { c.Patch = 32 })
	hist, err := tr.Run(RunOptions{Steps: 40})
	require.NoError(t, err)
	mean := func(h []Losses) float64 {
		s := 0.0
		for _, e := range h {
			s += e.L1
		}
		return s / float64(len(h))
	}
	first, last := mean(hist[:10]), mean(hist[30:])
	require.Less(t, last, 0.8*first, "L1 over the first and last 10 steps: %.4f then %.4f", first, last)
	// The reported pieces add up to what the network minimised.
	for _, e := range hist {
		sum := e.Transport - e.PotTerm + 0.05*e.Residual + 1e4*e.L1
		require.InDelta(t, sum, e.Generator, 1e-3*math.Abs(e.Generator))
	}
}

func TestDivergenceStopsAndKeepsCheckpoint(t *testing.T) {
	tr, _ := testTraining(t, familyBaryNet, nil)
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt.safetensors")
	_, err := tr.Run(RunOptions{Steps: 1, CheckpointPath: ckpt, CheckpointEvery: 1})
	require.NoError(t, err)
	before, err := os.ReadFile(ckpt)
	require.NoError(t, err)

	p := tr.network().Scope.Params()[0]
	nan := make([]float32, p.Node.Shape().TotalSize())
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	require.NoError(t, G.Let(p.Node, tensor.New(tensor.WithShape(p.Node.Shape()...), tensor.WithBacking(nan))))
	_, err = tr.Run(RunOptions{Steps: 3, CheckpointPath: ckpt, CheckpointEvery: 1})
	require.True(t, errors.Is(err, ErrDiverged), "got %v", err)
	require.ErrorContains(t, err, "step 2")
	after, err := os.ReadFile(ckpt)
	require.NoError(t, err)
	require.True(t, bytes.Equal(before, after), "the last good checkpoint is untouched")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files")
}

func TestTrainConfigErrors(t *testing.T) {
	good := PaperTraining(Tiny())
	cases := map[string]func(*TrainConfig){
		"patch not multiple of 8": func(c *TrainConfig) { c.Patch = 20 },
		"batch 0":                 func(c *TrainConfig) { c.Batch = 0 },
		"optimizer":               func(c *TrainConfig) { c.Optimizer = OptimizerKind(7) },
		"lr":                      func(c *TrainConfig) { c.LR = 0 },
		"potential lr":            func(c *TrainConfig) { c.PotentialLR = -1 },
		"tau":                     func(c *TrainConfig) { c.Tau = 0 },
		"net":                     func(c *TrainConfig) { n := c.Net.(Config); n.Dim = 0; c.Net = n },
	}
	for name, mutate := range cases {
		c := good
		mutate(&c)
		require.Error(t, c.validate(), name)
	}
	require.NoError(t, good.validate())
	_, err := NewTrainer(good, nil)
	require.ErrorContains(t, err, "sampler")
}

func TestSampleWeightsVariants(t *testing.T) {
	paper, _ := testTraining(t, familyBaryNet, func(c *TrainConfig) { c.Weights = ot.Uniform })
	sw, err := paper.sampleWeights([]int{0, 0, 2})
	require.NoError(t, err)
	third := float32(1.0 / 3)
	require.Equal(t, []float32{third / 2, 0, 0, third / 2, 0, 0, 0, 0, third}, sw.Data())
	authors, _ := testTraining(t, familyBaryNet, func(c *TrainConfig) { c.Weights, c.BatchAverage = ot.Uniform, true })
	sw, err = authors.sampleWeights([]int{0, 0, 2})
	require.NoError(t, err)
	ninth := float32(1.0 / 9)
	require.Equal(t, []float32{ninth, 0, 0, ninth, 0, 0, 0, 0, ninth}, sw.Data())
}

// The trainer's losses in the authors' setup, and the network gradients of
// its generator step, equal those of the authors' training loop
// (trainer_bary.py, written out in testdata/gen_network.py) on the same
// network, potentials and batch.
func TestAuthorsLossesMatchPyTorch(t *testing.T) {
	fix, err := readFixture("testdata/trainer_loss.safetensors")
	require.NoError(t, err)
	cfg := AuthorsTraining(fixtureNet(familyBaryNet))
	cfg.Sigma = fix["sigma"].Data[0]
	// An optimiser that records the gradients.
	capture := &gradCapture{Optimizer: cfg.Optimizer.newOptimizer(cfg.LR / 2)}
	tr, batch := authorsFixtureTrainer(t, cfg, capture)
	require.NoError(t, tr.feed(batch))
	ol, err := tr.ot.Step()
	require.NoError(t, err)
	got, err := tr.losses(ol)
	require.NoError(t, err)
	for name, v := range map[string]float64{"generator": got.Generator, "pot_term": got.PotTerm, "l1": got.L1} {
		want := fix[name].Data[0]
		require.InDelta(t, want, v, 1e-5*math.Max(1, math.Abs(want)), name)
	}
	require.Len(t, capture.grads, len(tr.net.Scope.Params()))
	for i, p := range tr.net.Scope.Params() {
		want, ok := fix["grad/"+p.Name]
		require.True(t, ok, "fixture lacks the gradient of %s", p.Name)
		requireNear(t, "generator gradient of "+p.Name, want.Data, capture.grads[i])
	}

	// Potentials and network round-trip through a training checkpoint.
	ckpt := filepath.Join(t.TempDir(), "ckpt.safetensors")
	require.NoError(t, tr.SaveCheckpoint(ckpt))
	saved, err := tr.potentials()
	require.NoError(t, err)
	reread, err := readPotentials(ckpt)
	require.NoError(t, err)
	require.Equal(t, saved, reread)
	weights, err := ReadWeights(ckpt)
	require.NoError(t, err)
	net2, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 9), tr.cfg.Net)
	require.NoError(t, err)
	require.NoError(t, Load(net2, weights))
}

// authorsFixtureTrainer is the trainer of cfg (Batch and Patch are set to
// the fixture's) built as NewTrainer builds it, but on the barycenter
// weights, network, potentials and batch of gen_network.py's fixtures; it
// returns the batch. The network's optimiser is netOpt, if not nil.
func authorsFixtureTrainer(t *testing.T, cfg TrainConfig, netOpt Optimizer) (*Trainer, *data.Batch) {
	t.Helper()
	net, err := readFixture("testdata/network.safetensors")
	require.NoError(t, err)
	fix, err := readFixture("testdata/trainer_loss.safetensors")
	require.NoError(t, err)
	cfg.Batch, cfg.Patch = 4, 16
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	require.NoError(t, err)
	sampler, err := data.NewSampler(src, cfg.Patch, 1)
	require.NoError(t, err)
	if netOpt == nil {
		netOpt = cfg.Optimizer.newOptimizer(cfg.LR / 2)
	}
	w := fix["weights"].Data // float32 in the fixture: renormalise
	w[0] = 1 - w[1] - w[2]
	tr := &Trainer{cfg: cfg, sampler: sampler, weights: w, g: G.NewGraph(), netOpt: netOpt, potOpt: cfg.Optimizer.newOptimizer(cfg.LR / 2)}
	tr.netStep, tr.potStep = tr.netOpt, tr.potOpt
	require.NoError(t, tr.build())
	t.Cleanup(tr.Close)
	require.NoError(t, Load(tr.net, withPrefix(net, "barynet/weights/")))
	pots, err := readPotentials("testdata/potentials_tiny.pth") // as the authors' trainer pickles them
	require.NoError(t, err)
	require.NoError(t, tr.loadPotentials(pots))
	batch := &data.Batch{B: 4, P: 16, Degraded: fix["degraded"].f32(), Clean: fix["clean"].f32(), Source: []int{0, 1, 0, 2}}
	for _, d := range fix["degradation"].Data {
		batch.Degradation = append(batch.Degradation, data.Degradation(d))
	}
	return tr, batch
}

// TestAuthorsStepMatchesPyTorch: one Step of AuthorsTraining is one
// iteration of the authors' loop (transcribed in
// testdata/gen_authors_step.py): the network's step, the potentials' step
// on the updated network's latents, and their congruence step on the last
// latent. Every update, network and potentials, agrees with PyTorch's to
// within 0.1% of its size (2e-5 and 8e-6 measured). The combined potentials' step (ot.PenaltyMean)
// does not, which shows the test tells the two forms apart.
func TestAuthorsStepMatchesPyTorch(t *testing.T) {
	want, err := readFixture("testdata/authors_step.safetensors")
	require.NoError(t, err)
	for _, tc := range []struct {
		form   ot.PenaltyForm
		potTol float64 // the largest (wrong: the smallest) relative update error of the potentials
	}{{ot.PenaltyLastSample, 1e-3}, {ot.PenaltyMean, 0.1}} {
		t.Run(tc.form.String(), func(t *testing.T) {
			cfg := AuthorsTraining(fixtureNet(familyBaryNet))
			cfg.Penalty, cfg.LR, cfg.Sigma = tc.form, want["lr"].Data[0], want["sigma"].Data[0]
			tr, batch := authorsFixtureTrainer(t, cfg, nil)
			net0, pots0 := trainerState(t, tr)
			l, err := tr.StepOn(batch)
			require.NoError(t, err)
			net1, pots1 := trainerState(t, tr)
			require.InDelta(t, want["generator"].Data[0], l.Generator, 1e-5, "generator loss")
			netErr := updateError(t, net0, net1, withPrefix(want, "net/"))
			potErr := updateError(t, pots0, pots1, withPrefix(want, "pots/"))
			t.Logf("relative update error: network %.2e, potentials %.2e", netErr, potErr)
			require.Less(t, netErr, 1e-3, "network update")
			if tc.form != ot.PenaltyLastSample {
				require.Greater(t, potErr, tc.potTol, "the combined step should not match the authors' two steps")
				return
			}
			require.Less(t, potErr, tc.potTol, "potentials' update")
			require.InDelta(t, want["potential"].Data[0], l.Potential, 1e-6, "potentials' loss")
			require.InDelta(t, want["penalty"].Data[0], l.Penalty, 1e-6, "penalty step's loss")
		})
	}
}

// trainerState is the network's and the potentials' weights.
func trainerState(t *testing.T, tr *Trainer) (net, pots StateDict) {
	t.Helper()
	net, err := tr.StateDict()
	require.NoError(t, err)
	pots, err = tr.potentials()
	require.NoError(t, err)
	return net, pots
}

// updateError is |(after - before) - (want - before)| / |want - before|
// over every tensor of before, which must all be in after and want (want
// may hold more: the authors' module has layers its forward never uses).
func updateError(t *testing.T, before, after, want StateDict) float64 {
	t.Helper()
	var diff, norm float64
	for name, b := range before {
		w, a := want[name], after[name]
		require.Len(t, w.Data, len(b.Data), name)
		require.Len(t, a.Data, len(b.Data), name)
		for i := range w.Data {
			d := w.Data[i] - b.Data[i]
			diff += math.Pow(a.Data[i]-b.Data[i]-d, 2)
			norm += d * d
		}
	}
	require.Positive(t, norm, "the reference does not move")
	return math.Sqrt(diff / norm)
}

// gradCapture records the gradients of the step it is given.
type gradCapture struct {
	Optimizer
	grads [][]float32
}

func (c *gradCapture) Update(m ot.Machine, params, grads G.Nodes) error {
	c.grads = c.grads[:0]
	for _, n := range grads {
		g, err := m.Value(n)
		if err != nil {
			return err
		}
		c.grads = append(c.grads, append([]float32(nil), g.Data().([]float32)...))
	}
	return c.Optimizer.Update(m, params, grads)
}

func TestRunningMean(t *testing.T) {
	require.Equal(t, []float64{1, 2, 4, 6}, runningMean([]float64{1, 3, 5, 7}, 2))
	require.Equal(t, []float64{1, 3}, runningMean([]float64{1, 3}, 1))
}
