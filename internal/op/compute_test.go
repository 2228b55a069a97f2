package op

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Scratch hands out the smallest free buffer that fits, and when none fits
// replaces the largest free one, so it keeps no more buffers than were in
// use at once.
func TestScratchKeepsNoMoreThanInUseAtOnce(t *testing.T) {
	scratch64.Lock()
	saved := scratch64.free
	scratch64.free = nil
	scratch64.Unlock()
	t.Cleanup(func() {
		scratch64.Lock()
		scratch64.free = saved
		scratch64.Unlock()
	})
	small, large := Scratch[float64](10), Scratch[float64](100)
	Release(small)
	Release(large)
	mid := Scratch[float64](50)
	require.Len(t, mid, 50)
	require.Equal(t, 100, cap(mid), "the smallest free buffer that fits")
	huge := Scratch[float64](1000) // only the 10 is free: it is replaced
	require.Len(t, huge, 1000)
	require.Empty(t, scratch64.free)
	Release(mid)
	Release(huge)
	require.Len(t, scratch64.free, 2)
	for range 5 {
		b := Scratch[float64](2000)
		Release(b)
	}
	require.Len(t, scratch64.free, 2)
}
