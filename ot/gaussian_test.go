package ot

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

func mustGaussian(t testing.TB, mean []float64, cov [][]float64) Gaussian {
	t.Helper()
	g, err := NewGaussian(mean, cov)
	require.NoError(t, err)
	return g
}

// randomGaussian has an SPD covariance B B^T/d + 0.2 I and a mean in [-spread, spread]^d.
func randomGaussian(t testing.TB, rng *rand.Rand, d int, spread float64) Gaussian {
	t.Helper()
	b := make([]float64, d*d)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	bm := mat.NewDense(d, d, b)
	var c mat.Dense
	c.Mul(bm, bm.T())
	cov := make([][]float64, d)
	mean := make([]float64, d)
	for i := range d {
		cov[i] = make([]float64, d)
		for j := range d {
			cov[i][j] = c.At(i, j) / float64(d)
		}
		cov[i][i] += 0.2
		mean[i] = spread * (2*rng.Float64() - 1)
	}
	return mustGaussian(t, mean, cov)
}

func relFrob(got, want mat.Matrix) float64 {
	var d mat.Dense
	d.Sub(got, want)
	return mat.Norm(&d, 2) / mat.Norm(want, 2)
}

func TestBarycenterSpecCases(t *testing.T) {
	r3 := 2 + math.Sqrt(3)
	cases := []struct {
		name   string
		c1, c2 [][]float64
		w      []float64
		want   [][]float64
		tol    float64
	}{
		{"rotated", [][]float64{{4, -2}, {-2, 4}}, [][]float64{{4, 2}, {2, 4}}, []float64{0.5, 0.5},
			[][]float64{{r3, 0}, {0, r3}}, 1e-10},
		// The reference value is known to 7 decimals.
		{"unequal weights", [][]float64{{1, 0}, {0, 4}}, [][]float64{{2, 1}, {1, 2}}, []float64{0.25, 0.75},
			[][]float64{{1.6855175, 0.7903588}, {0.7903588, 2.4198787}}, 1e-7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustGaussian(t, []float64{1, -1}, c.c1)
			q := mustGaussian(t, []float64{3, 2}, c.c2)
			b, err := GaussianBarycenter([]Gaussian{p, q}, c.w, BarycenterOptions{})
			require.NoError(t, err)
			require.Less(t, b.Residual, 1e-10)
			for i := range 2 {
				require.InDelta(t, c.w[0]*p.Mean[i]+c.w[1]*q.Mean[i], b.Mean[i], 1e-12)
				for j := range 2 {
					require.InDelta(t, c.want[i][j], b.Cov.At(i, j), c.tol, "S[%d][%d]", i, j)
				}
			}
		})
	}
}

func TestClosedFormsRandomSPD(t *testing.T) {
	for _, c := range []struct{ d, k int }{{2, 3}, {8, 2}, {8, 4}} {
		rng := rand.New(rand.NewPCG(uint64(c.d), uint64(c.k)))
		ps := make([]Gaussian, c.k)
		w := make([]float64, c.k)
		total := 0.0
		for k := range ps {
			ps[k] = randomGaussian(t, rng, c.d, 3)
			w[k] = 0.5 + rng.Float64()
			total += w[k]
		}
		for k := range w {
			w[k] /= total
		}
		b, err := GaussianBarycenter(ps, w, BarycenterOptions{})
		require.NoError(t, err)
		require.Less(t, b.Residual, 1e-10, "d=%d k=%d", c.d, c.k)

		// The barycenter of one Gaussian is itself.
		one, err := GaussianBarycenter(ps[:1], []float64{1}, BarycenterOptions{})
		require.NoError(t, err)
		require.Less(t, relFrob(one.Cov, ps[0].Cov), 1e-9)
		require.InDeltaSlice(t, ps[0].Mean, one.Mean, 1e-12)
		require.InDelta(t, 0, one.Cost, 1e-9)

		for k := range ps {
			// W2 is symmetric and zero on equal Gaussians.
			ab, err := W2Squared(ps[k], b.Gaussian)
			require.NoError(t, err)
			ba, err := W2Squared(b.Gaussian, ps[k])
			require.NoError(t, err)
			require.InDelta(t, ab, ba, 1e-9*(1+ab))
			self, err := W2Squared(ps[k], ps[k])
			require.NoError(t, err)
			require.InDelta(t, 0, self, 1e-9)

			// The OT map pushes P_k exactly onto the barycenter; the map's
			// transport cost is the W2 distance.
			m, err := MapGaussian(ps[k], b.Gaussian)
			require.NoError(t, err)
			pushed, err := m.Push(ps[k])
			require.NoError(t, err)
			require.InDeltaSlice(t, b.Mean, pushed.Mean, 1e-9)
			require.Less(t, relFrob(pushed.Cov, b.Cov), 1e-9)
			require.InDelta(t, ab, mapCost(t, m, ps[k]), 1e-9*(1+ab))
		}
	}
}

// mapCost is E|x - T(x)|^2 for x ~ p and an affine T, in closed form:
// |m - T(m)|^2 + tr((I-A) C (I-A)).
func mapCost(t *testing.T, m GaussianMap, p Gaussian) float64 {
	d := p.Dim()
	tm, err := m.Apply(mat.NewDense(1, d, p.Mean))
	require.NoError(t, err)
	c := 0.0
	for i := range d {
		x := p.Mean[i] - tm.At(0, i)
		c += x * x
	}
	ia := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			v := -m.A.At(i, j)
			if i == j {
				v++
			}
			ia.SetSym(i, j, v)
		}
	}
	return c + mat.Trace(sandwich(ia, p.Cov))
}

func TestSampleAndFit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := randomGaussian(t, rng, 3, 2)
	x, err := g.Sample(rng, 20000)
	require.NoError(t, err)
	fit, err := Fit(x)
	require.NoError(t, err)
	w2, err := W2Squared(g, fit)
	require.NoError(t, err)
	require.Less(t, w2, 0.01*mat.Trace(g.Cov))
	require.Less(t, relFrob(fit.Cov, g.Cov), 0.05)
}

func TestWeights(t *testing.T) {
	cases := []struct {
		scheme WeightScheme
		counts []int
		want   []float64
	}{
		{Proportional, []int{10, 30, 60}, []float64{0.1, 0.3, 0.6}},
		{Inverse, []int{10, 30, 20}, []float64{6.0 / 11, 2.0 / 11, 3.0 / 11}},
		{Uniform, []int{10, 30, 60}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
	}
	for _, c := range cases {
		t.Run(c.scheme.String(), func(t *testing.T) {
			w, err := Weights(c.counts, c.scheme)
			require.NoError(t, err)
			require.InDeltaSlice(t, c.want, w, 1e-12)
			require.NoError(t, CheckWeights(w))
		})
	}
}

func TestBadInput(t *testing.T) {
	good := [][]float64{{1, 0}, {0, 1}}
	g2 := Gaussian{Mean: []float64{0, 0}, Cov: mat.NewSymDense(2, []float64{1, 0, 0, 1})}
	g3 := Gaussian{Mean: []float64{0, 0, 0}, Cov: mat.NewSymDense(3, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1})}
	cases := []struct {
		name string
		err  func() error
		msg  string
	}{
		{"not SPD", func() error { _, err := NewGaussian([]float64{0, 0}, [][]float64{{1, 2}, {2, 1}}); return err }, "positive definite"},
		{"not symmetric", func() error { _, err := NewGaussian([]float64{0, 0}, [][]float64{{1, 0.5}, {0, 1}}); return err }, "symmetric"},
		{"cov size", func() error { _, err := NewGaussian([]float64{0, 0, 0}, good); return err }, "dimension"},
		{"ragged cov", func() error { _, err := NewGaussian([]float64{0, 0}, [][]float64{{1, 0}, {0}}); return err }, "row 1"},
		{"empty mean", func() error { _, err := NewGaussian(nil, nil); return err }, "empty"},
		{"nil cov", func() error { _, err := W2Squared(Gaussian{Mean: []float64{0}}, g2); return err }, "no covariance"},
		{"W2 dims", func() error { _, err := W2Squared(g2, g3); return err }, "dimensions differ"},
		{"map dims", func() error { _, err := MapGaussian(g2, g3); return err }, "dimensions differ"},
		{"bary dims", func() error {
			_, err := GaussianBarycenter([]Gaussian{g2, g3}, []float64{0.5, 0.5}, BarycenterOptions{})
			return err
		}, "dimensions differ"},
		{"weights sum", func() error {
			_, err := GaussianBarycenter([]Gaussian{g2, g2}, []float64{0.5, 0.6}, BarycenterOptions{})
			return err
		}, "sum to"},
		{"weights count", func() error {
			_, err := GaussianBarycenter([]Gaussian{g2, g2}, []float64{1}, BarycenterOptions{})
			return err
		}, "2 gaussians"},
		{"negative weight", func() error { return CheckWeights([]float64{1.5, -0.5}) }, "non-negative"},
		{"no sources", func() error { _, err := GaussianBarycenter(nil, nil, BarycenterOptions{}); return err }, "no gaussians"},
		{"empty source", func() error { _, err := Weights([]int{3, 0}, Proportional); return err }, "empty"},
		{"no samples", func() error { _, err := g2.Sample(rand.New(rand.NewPCG(1, 1)), 0); return err }, "samples"},
		{"nil rng", func() error { _, err := g2.Sample(nil, 3); return err }, "random source"},
		{"fit too few", func() error { _, err := Fit(mat.NewDense(1, 2, nil)); return err }, "cannot fit"},
		{"apply dims", func() error {
			m, err := MapGaussian(g2, g2)
			require.NoError(t, err)
			_, err = m.Apply(mat.NewDense(4, 3, nil))
			return err
		}, "dimensional"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			require.Error(t, err)
			require.Contains(t, err.Error(), c.msg)
		})
	}
}
