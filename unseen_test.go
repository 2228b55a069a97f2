package baryir

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
)

// randomRestorer is a Restorer with opts of an untrained network (seeded).
func randomRestorer(tb testing.TB, cfg Config, opts RestorerOptions) *Restorer {
	tb.Helper()
	return restorerFor(tb, cfg, randomWeights(tb, cfg), opts)
}

// randomWeights are the seeded initial weights of cfg's network: every
// call gives the same.
func randomWeights(tb testing.TB, cfg Config) StateDict {
	tb.Helper()
	net, err := NewNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 3), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	sd, err := StateDictOf(net.Params())
	if err != nil {
		tb.Fatal(err)
	}
	return sd
}

// restorerFor is a Restorer with opts of cfg's network with weights sd,
// closed when the test ends.
func restorerFor(tb testing.TB, cfg Config, sd StateDict, opts RestorerOptions) *Restorer {
	tb.Helper()
	r, err := NewRestorer(cfg, sd, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	return r
}

func smallCrops(t *testing.T, n, size int) []*data.Image {
	var out []*data.Image
	for _, im := range data.EmbeddedTest()[:n] {
		c, err := im.Crop(0, 0, size, size)
		require.NoError(t, err)
		out = append(out, c)
	}
	return out
}

// EvaluateUnseen degrades image i with the generator (seed, i), so anyone
// can rebuild its test sets (a held-out evaluation relies on it), and its
// figures are the per-image PSNR/SSIM averaged.
func TestEvaluateUnseenSeedsAndAverages(t *testing.T) {
	cfg := Tiny()
	cfg.Dim = 4
	r := randomRestorer(t, cfg, RestorerOptions{})
	clean := smallCrops(t, 2, 16)
	specs := []data.Spec{data.Noise(60), data.Mix(data.RainSpec(0.02, 10), data.Noise(15))}
	res, err := EvaluateUnseen(r, specs, clean, 5, nil)
	require.NoError(t, err)
	require.Len(t, res, 2)
	for k, s := range specs {
		require.Equal(t, s.String(), res[k].Task)
		require.Equal(t, 2, res[k].Images)
		var wantD, wantR float64
		for i, c := range clean {
			d, err := s.Apply(c, rand.New(rand.NewPCG(5, uint64(i))))
			require.NoError(t, err)
			p, _ := data.PSNR(c, d)
			wantD += p / 2
			restored, err := r.Restore(d)
			require.NoError(t, err)
			p, _ = data.PSNR(c, restored)
			wantR += p / 2
			if i == 0 {
				require.Equal(t, d.Pix, res[k].Example[0].Pix)
				require.Equal(t, restored.Pix, res[k].Example[1].Pix)
				require.Equal(t, c.Pix, res[k].Example[2].Pix)
			}
		}
		require.InDelta(t, wantD, res[k].DegradedPSNR, 1e-9)
		require.InDelta(t, wantR, res[k].RestoredPSNR, 1e-9)
		require.InDelta(t, res[k].RestoredPSNR-res[k].DegradedPSNR, res[k].Gain(), 1e-12)
		require.True(t, res[k].DegradedSSIM > 0 && res[k].DegradedSSIM < 1)
	}

	_, err = EvaluateUnseen(r, specs, nil, 5, nil)
	require.ErrorContains(t, err, "no clean images")
	_, err = EvaluateUnseen(r, []data.Spec{{Kind: data.KindJPEG, Level: 0}}, clean, 5, nil)
	require.ErrorContains(t, err, "jpeg level 0 out of range")
	_, err = EvaluatePairs(r, "x", clean, clean[:1])
	require.ErrorContains(t, err, "2 degraded and 1 clean")
}

// DropResidual changes what the decoder sees, not the latents, and only
// BaryNet has a residual to drop.
func TestDropResidual(t *testing.T) {
	cfg := Tiny()
	cfg.Dim = 4
	net, err := NewNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 3), cfg)
	require.NoError(t, err)
	sd, err := StateDictOf(net.Params())
	require.NoError(t, err)
	im := smallCrops(t, 1, 16)[0]
	restore := func(c Config) []float32 {
		r, err := NewRestorer(c, sd, RestorerOptions{})
		require.NoError(t, err)
		defer r.Close()
		out, err := r.Restore(im)
		require.NoError(t, err)
		return out.Pix
	}
	full := restore(cfg)
	cfg.DropResidual = true
	dropped := restore(cfg)
	require.NotEqual(t, full, dropped)
	require.Equal(t, dropped, restore(cfg), "deterministic")
	require.ErrorContains(t, cfg.Restormer().Validate(), "DropResidual needs BaryNet")
}
