package tsne

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// clusters draws k Gaussian clusters of m points in d dimensions, centres
// sep apart along separate axes.
func clusters(k, m, d int, sep float64, seed uint64) ([][]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var x [][]float64
	var lab []int
	for c := range k {
		for range m {
			row := make([]float64, d)
			for j := range row {
				row[j] = rng.NormFloat64()
			}
			row[c] += sep
			x = append(x, row)
			lab = append(lab, c)
		}
	}
	return x, lab
}

// separation is the ratio of the mean distance between cluster centres in
// the embedding to the mean distance of points to their own centre.
func separation(y [][2]float64, lab []int, k int) float64 {
	cent := make([][2]float64, k)
	cnt := make([]float64, k)
	for i, p := range y {
		cent[lab[i]][0] += p[0]
		cent[lab[i]][1] += p[1]
		cnt[lab[i]]++
	}
	for c := range cent {
		cent[c][0] /= cnt[c]
		cent[c][1] /= cnt[c]
	}
	var within float64
	for i, p := range y {
		within += math.Hypot(p[0]-cent[lab[i]][0], p[1]-cent[lab[i]][1]) / float64(len(y))
	}
	var between float64
	pairs := 0
	for a := range k {
		for b := a + 1; b < k; b++ {
			between += math.Hypot(cent[a][0]-cent[b][0], cent[a][1]-cent[b][1])
			pairs++
		}
	}
	return between / float64(pairs) / within
}

func TestEmbedSeparatesClusters(t *testing.T) {
	x, lab := clusters(3, 40, 10, 8, 1)
	y, err := Embed(x, Options{Seed: 2, Iterations: 500})
	require.NoError(t, err)
	require.Len(t, y, len(x))
	sep := separation(y, lab, 3)
	t.Logf("separated clusters: between/within %.2f", sep)
	require.Greater(t, sep, 3.0)

	// the same points with the cluster structure destroyed (one cloud) do not separate by label
	rng := rand.New(rand.NewPCG(3, 3))
	shuffled := append([]int{}, lab...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	ctrl := separation(y, shuffled, 3)
	t.Logf("shuffled labels: between/within %.2f", ctrl)
	require.Less(t, ctrl, 0.5)

	// the optimised embedding has a lower cost than the random start
	kl, err := KL(x, y, 0)
	require.NoError(t, err)
	start := make([][2]float64, len(x))
	for i := range start {
		start[i] = [2]float64{rng.NormFloat64(), rng.NormFloat64()}
	}
	kl0, err := KL(x, start, 0)
	require.NoError(t, err)
	t.Logf("KL %.3f (random positions %.3f)", kl, kl0)
	require.Less(t, kl, kl0/2)

	again, err := Embed(x, Options{Seed: 2, Iterations: 500})
	require.NoError(t, err)
	require.Equal(t, y, again, "seeded")
}

// Every calibrated row has the requested perplexity, and P sums to 1.
func TestAffinitiesPerplexity(t *testing.T) {
	x, _ := clusters(2, 30, 5, 3, 4)
	n := len(x)
	for _, perp := range []float64{5, 15} {
		cond := conditional(x, perp)
		for i := range n {
			var h float64
			for _, v := range cond[i*n : (i+1)*n] {
				if v > 0 {
					h -= v * math.Log(v)
				}
			}
			require.InDelta(t, perp, math.Exp(h), 1e-3*perp, "row %d", i)
		}
		var sum float64
		for _, v := range affinities(x, perp) {
			sum += v
		}
		require.InDelta(t, 1, sum, 1e-6)
	}
}

func TestEmbedErrors(t *testing.T) {
	tests := []struct {
		name string
		x    [][]float64
		opt  Options
		want string
	}{
		{"few", [][]float64{{1}, {2}}, Options{}, "need at least 4"},
		{"ragged", [][]float64{{1}, {2}, {3, 4}, {5}}, Options{}, "row 2 has 2 values"},
		{"nan", [][]float64{{1}, {2}, {math.NaN()}, {5}}, Options{}, "row 2 holds NaN"},
		{"perplexity", [][]float64{{1}, {2}, {3}, {5}}, Options{Perplexity: 10}, "perplexity 10"},
		{"iterations", [][]float64{{1}, {2}, {3}, {5}}, Options{Iterations: -1}, "-1 iterations"},
		{"many", make([][]float64, MaxPoints+1), Options{}, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Embed(tc.x, tc.opt)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
