package baryir

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/internal/op"
)

// Kernel outputs released to the pool as soon as their consumers have run
// change nothing: training steps give the same losses and weights as with
// every node keeping its own buffer.
func TestPooledBuffersChangeNothing(t *testing.T) {
	run := func(pool bool) ([]Losses, StateDict) {
		old := op.SetPooling(pool)
		defer op.SetPooling(old)
		tr, _ := testTraining(t, ArchBaryNet, nil)
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
