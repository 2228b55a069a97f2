package main

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/data"
)

// EvaluateUnseen degrades image i with the generator (seed, i), so anyone
// can rebuild its test sets (a held-out evaluation relies on it), and its
// figures are the per-image PSNR/SSIM averaged.
func TestEvaluateUnseenSeedsAndAverages(t *testing.T) {
	r := randomRestorer(t, true)
	clean := smallCrops(t, 2, 16)
	specs := []data.Spec{data.Noise(60), data.Mix(data.RainSpec(0.02, 10), data.Noise(15))}
	res, err := evaluateUnseen(r, specs, clean, 5, nil)
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
		require.InDelta(t, res[k].RestoredPSNR-res[k].DegradedPSNR, res[k].gain(), 1e-12)
		require.True(t, res[k].DegradedSSIM > 0 && res[k].DegradedSSIM < 1)
	}

	_, err = evaluateUnseen(r, specs, nil, 5, nil)
	require.ErrorContains(t, err, "no clean images")
	_, err = evaluateUnseen(r, []data.Spec{{Kind: data.KindJPEG, Level: 0}}, clean, 5, nil)
	require.ErrorContains(t, err, "jpeg level 0 out of range")
	_, err = evaluatePairs(r, "x", clean, clean[:1])
	require.ErrorContains(t, err, "2 degraded and 1 clean")
}
