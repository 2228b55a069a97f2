package baryir

import (
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
	net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 3), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	sd, err := StateDictOf(net.Scope.Params())
	if err != nil {
		tb.Fatal(err)
	}
	return sd
}

// restorerFor is a Restorer with opts of cfg's network with weights sd,
// closed when the test ends.
func restorerFor(tb testing.TB, cfg Architecture, sd StateDict, opts RestorerOptions) *Restorer {
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

// DropResidual changes what the decoder sees, not the latents, and only
// BaryNet has a residual to drop.
func TestDropResidual(t *testing.T) {
	cfg := Tiny()
	cfg.Dim = 4
	net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 3), cfg)
	require.NoError(t, err)
	sd, err := StateDictOf(net.Scope.Params())
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
	require.ErrorContains(t, cfg.Restormer().validate(), "DropResidual needs BaryNet")
}
