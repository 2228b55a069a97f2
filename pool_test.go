package baryir

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/op"
)

// Kernel outputs released to the pool as soon as their consumers have run
// change nothing: training steps give the same losses and weights as with
// every node keeping its own buffer.
func TestPooledBuffersChangeNothing(t *testing.T) {
	run := func(pool bool) ([]Losses, StateDict) {
		old := op.SetPooling(pool)
		defer op.SetPooling(old)
		net := Tiny()
		net.Dim = 4
		cfg := PaperTraining(net)
		cfg.Batch, cfg.Patch, cfg.Optimizer, cfg.LR, cfg.Seed = 3, 16, "adam", 2e-3, 7
		src, err := data.EmbeddedSources(data.ThreeDegradations())
		require.NoError(t, err)
		s, err := data.NewSampler(src, cfg.Patch, cfg.Seed)
		require.NoError(t, err)
		tr, err := NewTrainer(cfg, s)
		require.NoError(t, err)
		defer tr.Close()
		var ls []Losses
		for range 3 {
			l, err := tr.Step()
			require.NoError(t, err)
			ls = append(ls, l)
		}
		sd, err := tr.StateDict()
		require.NoError(t, err)
		return ls, sd
	}
	lp, sp := run(true)
	lk, sk := run(false)
	require.Equal(t, lk, lp)
	require.Equal(t, sk, sp)
}
