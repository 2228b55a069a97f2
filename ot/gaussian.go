package ot

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Gaussian is a normal distribution N(Mean, Cov) with an SPD covariance.
type Gaussian struct {
	Mean []float64
	Cov  *mat.SymDense
}

// NewGaussian checks that mean and cov agree in dimension and that cov is
// symmetric positive definite, and returns a Gaussian owning copies of them.
func NewGaussian(mean []float64, cov [][]float64) (Gaussian, error) {
	d := len(mean)
	if d == 0 {
		return Gaussian{}, errors.New("ot: gaussian has an empty mean")
	}
	if len(cov) != d {
		return Gaussian{}, fmt.Errorf("ot: covariance has %d rows, mean has dimension %d", len(cov), d)
	}
	s := mat.NewSymDense(d, nil)
	for i := range d {
		if len(cov[i]) != d {
			return Gaussian{}, fmt.Errorf("ot: covariance row %d has %d entries, want %d", i, len(cov[i]), d)
		}
		for j := i; j < d; j++ {
			a, b := cov[i][j], cov[j][i]
			if math.Abs(a-b) > 1e-12*(1+math.Abs(a)+math.Abs(b)) {
				return Gaussian{}, fmt.Errorf("ot: covariance is not symmetric: [%d][%d]=%g, [%d][%d]=%g", i, j, a, j, i, b)
			}
			s.SetSym(i, j, (a+b)/2)
		}
	}
	g := Gaussian{Mean: append([]float64(nil), mean...), Cov: s}
	return g, g.Validate()
}

// Dim is the dimension of the space.
func (g Gaussian) Dim() int { return len(g.Mean) }

// Validate reports a missing, mis-sized, non-finite or non-SPD covariance.
func (g Gaussian) Validate() error {
	d := len(g.Mean)
	if d == 0 {
		return errors.New("ot: gaussian has an empty mean")
	}
	if g.Cov == nil {
		return errors.New("ot: gaussian has no covariance")
	}
	if n := g.Cov.SymmetricDim(); n != d {
		return fmt.Errorf("ot: covariance is %dx%d, mean has dimension %d", n, n, d)
	}
	for _, m := range g.Mean {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return errors.New("ot: gaussian mean is not finite")
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(g.Cov, false) {
		return errors.New("ot: covariance eigendecomposition failed (not finite?)")
	}
	vals := eig.Values(nil)
	if vals[0] <= 1e-12*math.Max(1, math.Abs(vals[len(vals)-1])) {
		return fmt.Errorf("ot: covariance is not positive definite (smallest eigenvalue %g)", vals[0])
	}
	return nil
}

// Sample draws n samples as the rows of an n x d matrix.
func (g Gaussian) Sample(rng *rand.Rand, n int) (*mat.Dense, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("ot: cannot draw %d samples", n)
	}
	if rng == nil {
		return nil, errors.New("ot: sampling needs a random source")
	}
	var chol mat.Cholesky
	if !chol.Factorize(g.Cov) {
		return nil, errors.New("ot: covariance is not positive definite")
	}
	var l mat.TriDense
	chol.LTo(&l)
	d := g.Dim()
	out := mat.NewDense(n, d, nil)
	z := make([]float64, d)
	for i := range n {
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		row := out.RawRowView(i)
		for r := range d {
			s := g.Mean[r]
			for c := 0; c <= r; c++ {
				s += l.At(r, c) * z[c]
			}
			row[r] = s
		}
	}
	return out, nil
}

// Fit returns the sample mean and unbiased sample covariance of the rows of x.
func Fit(x mat.Matrix) (Gaussian, error) {
	n, d := x.Dims()
	if n < 2 || d == 0 {
		return Gaussian{}, fmt.Errorf("ot: cannot fit a gaussian to %dx%d samples", n, d)
	}
	mean := make([]float64, d)
	for i := range n {
		for j := range d {
			mean[j] += x.At(i, j)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	cov := mat.NewSymDense(d, nil)
	for a := range d {
		for b := a; b < d; b++ {
			s := 0.0
			for i := range n {
				s += (x.At(i, a) - mean[a]) * (x.At(i, b) - mean[b])
			}
			cov.SetSym(a, b, s/float64(n-1))
		}
	}
	return Gaussian{Mean: mean, Cov: cov}, nil
}

// W2Squared is the squared 2-Wasserstein distance between two Gaussians:
// |m1-m2|^2 + tr(C1 + C2 - 2 (C2^{1/2} C1 C2^{1/2})^{1/2}).
func W2Squared(p, q Gaussian) (float64, error) {
	if err := checkPair(p, q); err != nil {
		return 0, err
	}
	d2 := 0.0
	for i := range p.Mean {
		x := p.Mean[i] - q.Mean[i]
		d2 += x * x
	}
	s2, err := sqrtSPD(q.Cov)
	if err != nil {
		return 0, err
	}
	cross, err := sqrtSPD(sandwich(s2, p.Cov))
	if err != nil {
		return 0, err
	}
	tr := mat.Trace(p.Cov) + mat.Trace(q.Cov) - 2*mat.Trace(cross)
	// Rounding can leave a tiny negative trace term for equal covariances.
	return d2 + math.Max(tr, 0), nil
}

// GaussianMap is the OT map between two Gaussians, T(x) = To + A (x - From).
type GaussianMap struct {
	A        *mat.SymDense
	From, To []float64
}

// MapGaussian returns the OT map pushing p onto q:
// A = C1^{-1/2} (C1^{1/2} C2 C1^{1/2})^{1/2} C1^{-1/2}.
func MapGaussian(p, q Gaussian) (GaussianMap, error) {
	if err := checkPair(p, q); err != nil {
		return GaussianMap{}, err
	}
	s1, err := sqrtSPD(p.Cov)
	if err != nil {
		return GaussianMap{}, err
	}
	inv, err := invSPD(s1)
	if err != nil {
		return GaussianMap{}, err
	}
	mid, err := sqrtSPD(sandwich(s1, q.Cov))
	if err != nil {
		return GaussianMap{}, err
	}
	return GaussianMap{A: sandwich(inv, mid), From: append([]float64(nil), p.Mean...), To: append([]float64(nil), q.Mean...)}, nil
}

// Apply maps the rows of x (n x d) and returns the images as rows.
func (t GaussianMap) Apply(x mat.Matrix) (*mat.Dense, error) {
	n, d := x.Dims()
	if d != len(t.From) {
		return nil, fmt.Errorf("ot: map is %d-dimensional, samples are %d-dimensional", len(t.From), d)
	}
	out := mat.NewDense(n, d, nil)
	for i := range n {
		row := out.RawRowView(i)
		for r := range d {
			s := t.To[r]
			for c := range d {
				s += t.A.At(r, c) * (x.At(i, c) - t.From[c])
			}
			row[r] = s
		}
	}
	return out, nil
}

// Push returns the image T#p of a Gaussian: N(To + A(m - From), A C A).
func (t GaussianMap) Push(p Gaussian) (Gaussian, error) {
	if p.Dim() != len(t.From) {
		return Gaussian{}, fmt.Errorf("ot: map is %d-dimensional, gaussian is %d-dimensional", len(t.From), p.Dim())
	}
	m, err := t.Apply(mat.NewDense(1, p.Dim(), append([]float64(nil), p.Mean...)))
	if err != nil {
		return Gaussian{}, err
	}
	return Gaussian{Mean: m.RawRowView(0), Cov: sandwich(t.A, p.Cov)}, nil
}

// Barycenter is the W2 barycenter of Gaussians with how it was found.
type Barycenter struct {
	Gaussian
	// Cost is the barycenter problem's value, 1/2 sum_k w_k W2^2(P_k, Q*):
	// the value the MWB objective (cost 1/2|x-y|^2) reaches at its saddle point.
	Cost float64
	// Iterations of the fixed point, and its final relative residual
	// |sum_k w_k (S^{1/2} C_k S^{1/2})^{1/2} - S|_F / |S|_F.
	Iterations int
	Residual   float64
}

// BarycenterOptions bound the fixed-point iteration; zero values take defaults.
type BarycenterOptions struct {
	Tol     float64 // relative residual to reach (default 1e-13)
	MaxIter int     // default 1000
}

// GaussianBarycenter returns the barycenter of Gaussians ps with weights w
// (non-negative, summing to 1): mean sum_k w_k m_k, covariance the fixed
// point S = sum_k w_k (S^{1/2} C_k S^{1/2})^{1/2} found by the iteration
// S <- S^{-1/2} (sum_k w_k (S^{1/2} C_k S^{1/2})^{1/2})^2 S^{-1/2} from S = I
// (Alvarez-Esteban et al. 2016). It fails if the residual does not reach Tol.
func GaussianBarycenter(ps []Gaussian, w []float64, opt BarycenterOptions) (Barycenter, error) {
	if len(ps) == 0 {
		return Barycenter{}, errors.New("ot: barycenter of no gaussians")
	}
	if len(w) != len(ps) {
		return Barycenter{}, fmt.Errorf("ot: %d weights for %d gaussians", len(w), len(ps))
	}
	if err := CheckWeights(w); err != nil {
		return Barycenter{}, err
	}
	for k := range ps {
		if err := checkPair(ps[0], ps[k]); err != nil {
			return Barycenter{}, fmt.Errorf("gaussian %d: %w", k, err)
		}
	}
	if opt.Tol <= 0 {
		opt.Tol = 1e-13
	}
	if opt.MaxIter <= 0 {
		opt.MaxIter = 1000
	}
	d := ps[0].Dim()
	mean := make([]float64, d)
	for k, p := range ps {
		for i := range mean {
			mean[i] += w[k] * p.Mean[i]
		}
	}
	s := mat.NewSymDense(d, nil)
	for i := range d {
		s.SetSym(i, i, 1)
	}
	b := Barycenter{Gaussian: Gaussian{Mean: mean, Cov: s}}
	for b.Iterations = 0; ; b.Iterations++ {
		half, err := sqrtSPD(s)
		if err != nil {
			return b, err
		}
		sum := mat.NewSymDense(d, nil)
		for k, p := range ps {
			r, err := sqrtSPD(sandwich(half, p.Cov))
			if err != nil {
				return b, err
			}
			sum.AddSym(sum, scaled(w[k], r))
		}
		var diff mat.Dense
		diff.Sub(sum, s)
		b.Residual = mat.Norm(&diff, 2) / mat.Norm(s, 2)
		b.Cov = s
		if b.Residual <= opt.Tol {
			break
		}
		if b.Iterations == opt.MaxIter {
			return b, fmt.Errorf("ot: barycenter fixed point did not converge in %d iterations (residual %g)", opt.MaxIter, b.Residual)
		}
		inv, err := invSPD(half)
		if err != nil {
			return b, err
		}
		var sq mat.SymDense
		sq.SymOuterK(1, sum) // sum is symmetric, so sum sum^T = sum^2
		s = sandwich(inv, &sq)
	}
	for k, p := range ps {
		w2, err := W2Squared(p, b.Gaussian)
		if err != nil {
			return b, err
		}
		b.Cost += 0.5 * w[k] * w2
	}
	return b, nil
}

// WeightScheme says how source weights follow from sample counts.
type WeightScheme int

const (
	// Proportional weights w_k = n_k / sum n: the paper's best choice.
	Proportional WeightScheme = iota
	// Inverse weights w_k proportional to 1/n_k, as in the authors' code.
	Inverse
	// Uniform weights w_k = 1/K.
	Uniform
)

func (s WeightScheme) String() string {
	switch s {
	case Proportional:
		return "proportional"
	case Inverse:
		return "inverse"
	case Uniform:
		return "uniform"
	}
	return fmt.Sprintf("WeightScheme(%d)", int(s))
}

// Weights turns per-source sample counts into barycenter weights.
func Weights(counts []int, s WeightScheme) ([]float64, error) {
	if len(counts) == 0 {
		return nil, errors.New("ot: no sources")
	}
	w := make([]float64, len(counts))
	total := 0.0
	for k, n := range counts {
		if n <= 0 {
			return nil, fmt.Errorf("ot: source %d is empty (%d samples)", k, n)
		}
		switch s {
		case Proportional:
			w[k] = float64(n)
		case Inverse:
			w[k] = 1 / float64(n)
		case Uniform:
			w[k] = 1
		default:
			return nil, fmt.Errorf("ot: unknown weight scheme %v", s)
		}
		total += w[k]
	}
	for k := range w {
		w[k] /= total
	}
	return w, nil
}

// CheckWeights reports weights that are empty, negative, not finite or do
// not sum to 1 (within 1e-9).
func CheckWeights(w []float64) error {
	if len(w) == 0 {
		return errors.New("ot: no weights")
	}
	sum := 0.0
	for k, x := range w {
		if !(x >= 0) || math.IsInf(x, 0) {
			return fmt.Errorf("ot: weight %d is %g, want a finite non-negative number", k, x)
		}
		sum += x
	}
	if math.Abs(sum-1) > 1e-9 {
		return fmt.Errorf("ot: weights sum to %g, want 1", sum)
	}
	return nil
}

func checkPair(p, q Gaussian) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return err
	}
	if p.Dim() != q.Dim() {
		return fmt.Errorf("ot: dimensions differ: %d and %d", p.Dim(), q.Dim())
	}
	return nil
}

// sqrtSPD is the principal square root of a symmetric PSD matrix; rounding
// can make tiny eigenvalues negative, which are clamped to 0.
func sqrtSPD(a mat.Symmetric) (*mat.SymDense, error) {
	return spectral(a, func(x float64) float64 { return math.Sqrt(math.Max(x, 0)) })
}

func invSPD(a mat.Symmetric) (*mat.SymDense, error) {
	return spectral(a, func(x float64) float64 { return 1 / x })
}

func spectral(a mat.Symmetric, f func(float64) float64) (*mat.SymDense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(a, true) {
		return nil, errors.New("ot: eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	n := len(vals)
	out := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s := 0.0
			for k := range n {
				s += vecs.At(i, k) * f(vals[k]) * vecs.At(j, k)
			}
			out.SetSym(i, j, s)
		}
	}
	return out, nil
}

// sandwich returns the symmetric product a b a.
func sandwich(a, b mat.Symmetric) *mat.SymDense {
	var t mat.Dense
	t.Mul(a, b)
	var u mat.Dense
	u.Mul(&t, a)
	n := a.SymmetricDim()
	out := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			out.SetSym(i, j, (u.At(i, j)+u.At(j, i))/2)
		}
	}
	return out
}

func scaled(c float64, a *mat.SymDense) *mat.SymDense {
	var out mat.SymDense
	out.ScaleSym(c, a)
	return &out
}
