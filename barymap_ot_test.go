package baryir

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
	"github.com/x/baryir/ot"
)

// latentGame is the max-min game of ot on Gaussian "latents" of shape
// (C, H, W) = (4, 2, 2), with a barycenter map as the one shared map T.
// Every pixel of a source-k latent is drawn independently from the same
// N(m_k, C_k) over the 4 channels, so the barycenter of the sources is the
// latent whose pixels are independent draws of the barycenter of the
// per-pixel Gaussians (ot.GaussianBarycenter), and its cost is H*W times
// theirs.
//
// The per-pixel Gaussians are written in the orthonormal Hadamard basis
// e = (1,1,1,1)/2, u = (1,1,-1,-1)/2, v = (1,-1,1,-1)/2, z = (1,-1,-1,1)/2:
// the means m_k = ±a u (far apart, so one shared map can act differently on
// each source), and C_k = e e^T + u u^T + s_k^2 (v v^T + z z^T). The sources
// differ in scale only along v and z. That is the part every architecture
// can transport: a pre-norm residual unit, x + g(LN(x)) with LN the
// per-pixel LayerNorm over channels (MapTransformer, MapViT), sees neither
// a pixel's mean over channels (the e component) nor, to first order, the
// length of its centred channel vector (along u here), so it cannot rescale
// them; the OT map between these sources leaves both alone.
type latentGame struct {
	arch    MapArch
	a       float64   // |m_k|
	scales  []float64 // s_k
	w       []float64
	batch   int // per source
	steps   int
	mapIter int
	mapLR   float64
	potLR   float64
	seed    uint64
}

const gameC, gameH, gameW = 4, 2, 2

// hadamard is the basis e, u, v, z as rows.
var hadamard = [4][4]float64{{.5, .5, .5, .5}, {.5, .5, -.5, -.5}, {.5, -.5, .5, -.5}, {.5, -.5, -.5, .5}}

// source is source k's per-pixel Gaussian.
func (p latentGame) source(t testing.TB, k int) ot.Gaussian {
	sign := float64(2*k - 1)
	mean := make([]float64, gameC)
	eig := []float64{1, 1, p.scales[k] * p.scales[k], p.scales[k] * p.scales[k]}
	cov := make([][]float64, gameC)
	for i := range gameC {
		mean[i] = sign * p.a * hadamard[1][i]
		cov[i] = make([]float64, gameC)
		for j := range gameC {
			for b := range 4 {
				cov[i][j] += eig[b] * hadamard[b][i] * hadamard[b][j]
			}
		}
	}
	g, err := ot.NewGaussian(mean, cov)
	require.NoError(t, err)
	return g
}

// latents draws n latents (n, C, H, W) of source g.
func latents(rng *rand.Rand, g ot.Gaussian, n int) (*tensor.Dense, error) {
	hw := gameH * gameW
	px, err := g.Sample(rng, n*hw)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n*gameC*hw)
	for i := range n {
		for q := range hw {
			for c, v := range px.RawRowView(i*hw + q) {
				out[(i*gameC+c)*hw+q] = v
			}
		}
	}
	return tensor.New(tensor.WithShape(n, gameC, gameH, gameW), tensor.WithBacking(out)), nil
}

type gameResult struct {
	bary      ot.Barycenter
	sources   []ot.Gaussian
	means     [][]float64 // per source, per channel, of T#P_k
	vars      [][]float64 // per source, per channel
	objective float64
}

func (p latentGame) run(t *testing.T) gameResult {
	k := len(p.w)
	res := gameResult{sources: make([]ot.Gaussian, k)}
	for i := range k {
		res.sources[i] = p.source(t, i)
	}
	var err error
	res.bary, err = ot.GaussianBarycenter(res.sources, p.w, ot.BarycenterOptions{})
	require.NoError(t, err)

	g := G.NewGraph()
	m, err := NewBarycenterMap(layers.NewScope(g, tensor.Float64, p.seed),
		MapConfig{Arch: p.arch, Dim: gameC, Blocks: 1, Heads: 2, Hidden: 16})
	require.NoError(t, err)
	var mapParams G.Nodes
	for _, q := range m.(*barycenterMap).Params() {
		mapParams = append(mapParams, q.Node)
	}
	d := gameC * gameH * gameW
	nets := make([]ot.Net, k)
	for i := range nets {
		nets[i], err = ot.NewMLP(g, tensor.Float64, ot.MLPConfig{Sizes: []int{d, 64, 64, 1}, Activation: ot.Softplus,
			Seed: p.seed + 100 + uint64(i), Name: fmt.Sprintf("f%d", i)})
		require.NoError(t, err)
	}
	pot, err := ot.NewPotentials(nets, ot.PotentialsConfig{Weights: p.w})
	require.NoError(t, err)
	xs, ys := make(G.Nodes, k), make(G.Nodes, k)
	for i := range k {
		xs[i] = G.NewTensor(g, tensor.Float64, 4, G.WithShape(p.batch, gameC, gameH, gameW), G.WithName(fmt.Sprintf("x%d", i)))
		ys[i], err = m.Forward(xs[i])
		require.NoError(t, err)
	}
	terms, err := ot.ObjectiveBySource(pot, xs, ys, ot.HalfSquared)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(p.seed, 11))
	feed := func() error {
		for i, src := range res.sources {
			v, err := latents(rng, src, p.batch)
			if err != nil {
				return err
			}
			if err := G.Let(xs[i], v); err != nil {
				return err
			}
		}
		return nil
	}
	tr, err := ot.NewTrainer(ot.TrainerConfig{
		MapLoss: terms.Loss, PotentialLoss: terms.PotentialLoss,
		MapParams: mapParams, PotentialParams: pot.Learnables(),
		MapSolver:       ot.GorgoniaSolver(G.NewAdamSolver(G.WithLearnRate(p.mapLR))),
		PotentialSolver: ot.GorgoniaSolver(G.NewAdamSolver(G.WithLearnRate(p.potLR))),
		Watch:           ys,
		MapIters:        p.mapIter,
		Feed:            feed,
	})
	require.NoError(t, err)
	defer tr.Close()
	start := time.Now()
	for s := range p.steps {
		l, err := tr.Step()
		require.NoError(t, err)
		if s%50 == 0 {
			t.Logf("step %d map loss %.4f potential loss %.4f", s, l.Map, l.Potential)
		}
	}
	t.Logf("%s: %d steps in %v", p.arch, p.steps, time.Since(start))

	// Fresh batches: per-channel moments of each source's push-forward,
	// pooled over pixels, and the objective's mean.
	const evalBatches = 40
	sum, sq := make([][]float64, k), make([][]float64, k)
	for i := range k {
		sum[i], sq[i] = make([]float64, gameC), make([]float64, gameC)
	}
	hw := gameH * gameW
	for range evalBatches {
		l, vals, err := tr.Eval(ys...)
		require.NoError(t, err)
		res.objective += l.Map / evalBatches
		for i, v := range vals {
			for j, y := range v.Data().([]float64) {
				c := j / hw % gameC
				sum[i][c] += y
				sq[i][c] += y * y
			}
		}
	}
	n := float64(evalBatches * p.batch * hw)
	res.means, res.vars = make([][]float64, k), make([][]float64, k)
	for i := range k {
		res.means[i], res.vars[i] = make([]float64, gameC), make([]float64, gameC)
		for c := range gameC {
			mu := sum[i][c] / n
			res.means[i][c] = mu
			res.vars[i][c] = sq[i][c]/n - mu*mu
		}
	}
	return res
}

// Each map architecture learns the closed-form barycenter of Gaussian
// latents through the library's max-min game (ot.ObjectiveBySource,
// ot.Trainer), in 500 steps: every source's push-forward has its
// per-channel mean within 5% of the spread of the source means and its
// per-channel variances within 10% of the fixed point's, and the objective
// is within 5% of 1/2 sum_k w_k W2^2(P_k, Q). The LayerNorm BaryNet applies
// after its map is not part of the map and not used here.
//
// Both players (map and potentials) learn at 5e-3, except with MapUNet,
// whose game settles only with slower potentials. With both at 5e-3 its
// narrow source's push-forward keeps that source's own variances (0.62
// against 1.105, seeds 1 to 3), and so it does with the map alone at 2e-3
// (0.72 to 0.91); with the potentials alone at 2e-3 it passes seeds 1 to 4
// and misses on seed 5 (variance 0.971); with both at 2e-3 it passes seeds 1
// to 5 (mean errors up to 3.8% of the spread). A batch of 256 at 5e-3 does
// not help (variances 0.62 again).
// With -short only the default architecture runs.
func TestEveryMapLearnsAGaussianBarycenter(t *testing.T) {
	for _, c := range []struct {
		arch MapArch
		lr   float64 // the map's and the potentials'
	}{{MapTransformer, 5e-3}, {MapMLP, 5e-3}, {MapUNet, 2e-3}, {MapViT, 5e-3}} {
		arch := c.arch
		t.Run(arch.String(), func(t *testing.T) {
			if testing.Short() && arch != MapTransformer {
				t.Skip("-short: the default architecture only")
			}
			t.Parallel() // independent graphs: use both cores
			p := latentGame{arch: arch, a: 6, scales: []float64{0.5, 1.5}, w: []float64{0.4, 0.6},
				batch: 64, steps: 500, mapIter: 5, mapLR: c.lr, potLR: c.lr, seed: 1}
			r := p.run(t)
			hw := float64(gameH * gameW)
			spread := 0.0
			for i, src := range r.sources {
				for c := range gameC {
					x := src.Mean[c] - r.bary.Mean[c]
					spread += p.w[i] * x * x
				}
			}
			spread = math.Sqrt(spread)
			for i := range r.sources {
				err := 0.0
				for c := range gameC {
					err += (r.means[i][c] - r.bary.Mean[c]) * (r.means[i][c] - r.bary.Mean[c])
				}
				t.Logf("source %d: mean error %.2f%% of the spread; variances %.3f, closed form %.3f", i,
					100*math.Sqrt(err)/spread, r.vars[i], r.bary.Cov.At(0, 0))
			}
			cost := hw * r.bary.Cost
			t.Logf("objective %.4f, closed form %.4f: %.2f%%", r.objective, cost, 100*math.Abs(r.objective-cost)/cost)
			for i := range r.sources {
				err := 0.0
				for c := range gameC {
					err += (r.means[i][c] - r.bary.Mean[c]) * (r.means[i][c] - r.bary.Mean[c])
					v := r.bary.Cov.At(c, c)
					require.InDelta(t, v, r.vars[i][c], 0.10*v, "source %d channel %d variance", i, c)
				}
				require.LessOrEqual(t, math.Sqrt(err), 0.05*spread, "source %d push-forward mean", i)
			}
			require.InDelta(t, cost, r.objective, 0.05*cost, "objective vs 1/2 sum_k w_k W2^2(P_k, Q)")
		})
	}
}
