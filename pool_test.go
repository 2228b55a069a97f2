package baryir

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/layers"
)

// cpuArena is the arena of a CPU Machine's memory plans.
func cpuArena(t *testing.T, m *Machine) *op.Arena {
	t.Helper()
	b, ok := m.be.(cpuBackend)
	require.True(t, ok, "machine on %s", m.device)
	return b.arena
}

// Kernel outputs released to the pool as soon as their consumers have run,
// or placed in a machine's arena by its memory plans, change nothing:
// training steps give the same losses and weights as with every node
// keeping its own buffer. The steps follow their phases' plans.
func TestPooledBuffersChangeNothing(t *testing.T) {
	run := func(pool bool) ([]Losses, StateDict) {
		old := op.SetPooling(pool)
		defer op.SetPooling(old)
		tr, _ := testTraining(t, familyBaryNet, nil)
		var ls []Losses
		for range 3 {
			l, err := tr.Step()
			require.NoError(t, err)
			ls = append(ls, l)
		}
		if pool {
			a := cpuArena(t, tr.m)
			require.NotZero(t, a.Bytes())
			require.Zero(t, a.Fallbacks())
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

// The Restorer's memory plan holds on a real network: tiles restore to the
// same values as with every node keeping its own buffer, no output leaves
// the plan, and the arena is within 5% of the most output memory live at
// once (the pool it replaces reached three times that on the Paper preset
// at 512x512).
func TestRestorerPlanChangesNothing(t *testing.T) {
	net := Tiny()
	sd, err := StateDictOf(mustNetwork(t, net).Scope.Params())
	require.NoError(t, err)
	const side, tile = 64, 32
	rng := rand.New(rand.NewPCG(3, 4))
	img := data.NewImage("random", side, side)
	for i := range img.Pix {
		img.Pix[i] = rng.Float32()
	}
	restore := func(pool bool) ([]float32, *Restorer) {
		old := op.SetPooling(pool)
		defer op.SetPooling(old)
		r, err := NewRestorer(net, sd, RestorerOptions{Tile: tile, Overlap: 8})
		require.NoError(t, err)
		t.Cleanup(r.Close)
		out, err := r.Restore(img)
		require.NoError(t, err)
		return out.Pix, r
	}
	planned, r := restore(true)
	kept, _ := restore(false)
	require.Equal(t, kept, planned)

	i := slices.IndexFunc(r.idle, func(e idleRunner) bool { return e.key == runnerKey{tile, tile, true} })
	require.GreaterOrEqual(t, i, 0, "several tiles: the shared-attention graph is idle")
	tr := r.idle[i].tr
	a := cpuArena(t, tr.m)
	require.Zero(t, a.Fallbacks())
	plan := tr.m.all.(releasingPhase).plan
	require.Equal(t, plan.Bytes(), a.Bytes())
	require.LessOrEqual(t, float64(plan.Bytes()), 1.05*float64(plan.LiveBytes()))
	require.NotZero(t, plan.LiveBytes())
}

func mustNetwork(t *testing.T, c Config) *Network {
	t.Helper()
	n, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 5), c)
	require.NoError(t, err)
	return n
}
