package baryir

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/data"
)

// Latents gives s, b and r = s - b per image, independent of the batch an
// image is run in, and refuses a network without a map or mixed sizes.
func TestRestorerLatents(t *testing.T) {
	cfg := Tiny()
	cfg.Dim = 4
	r := randomRestorer(t, cfg, RestorerOptions{})
	ims := smallCrops(t, 3, 16)
	all, err := r.Latents(ims)
	require.NoError(t, err)
	require.Equal(t, []int{3, 8 * cfg.Dim, 2, 2}, []int{all.N, all.C, all.H, all.W})
	size := all.C * all.H * all.W
	for _, v := range [][]float32{all.S, all.B, all.R} {
		require.Len(t, v, 3*size)
	}
	for i, v := range all.R {
		require.InDelta(t, all.S[i]-all.B[i], v, 1e-5, "r = s - b")
	}
	one, err := r.Latents(ims[2:])
	require.NoError(t, err)
	require.InDeltaSlice(t, all.S[2*size:], one.S, 1e-5)
	require.InDeltaSlice(t, all.B[2*size:], one.B, 1e-5)
	require.NotEqual(t, all.S[:size], all.B[:size], "T moved s")

	odd, err := ims[0].Crop(0, 0, 12, 16)
	require.NoError(t, err)
	for _, c := range []struct {
		r    *Restorer
		ims  []*data.Image
		want string
	}{
		{r, nil, "no images"},
		{r, []*data.Image{odd}, "multiples of 8"},
		{r, []*data.Image{ims[0], smallCrops(t, 1, 24)[0]}, "the first is 16x16"},
		{randomRestorer(t, cfg.Restormer(), RestorerOptions{}), ims, "no barycenter latent"},
	} {
		_, err := c.r.Latents(c.ims)
		require.ErrorContains(t, err, c.want)
	}
}
