package op

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// sgemm agrees with gonum's Sgemm on every transpose, edge sizes, K blocks,
// leading dimensions wider than the matrices and alpha/beta values.
func TestSgemmMatchesGonum(t *testing.T) {
	if !hasFMA {
		t.Skip("no AVX2/FMA")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 7}, {4, 16, 8}, {12, 32, 5}, {5, 17, 3}, {8, 40, 300}, {21, 4096 / 16, 42}, {13, 9, 600}, {7, 24, 0}, {133, 37, 300}, {150, 2*sgemmNC + 19, sgemmKC + 14}, {14, 2*sgemmNC*sgemmKC/40 + 21, 40}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {-2, 0.25}} {
					lda, ldb, ldc := k+2, n+1, n+3
					if ta {
						lda = m + 2
					}
					if tb {
						ldb = k + 1
					}
					a, b := fill(max(m, k)*lda+1), fill(max(n, k)*ldb+1)
					c := fill(m * ldc)
					want := append([]float32(nil), c...)
					tA, tB := blas.NoTrans, blas.NoTrans
					if ta {
						tA = blas.Trans
					}
					if tb {
						tB = blas.Trans
					}
					impl.Sgemm(tA, tB, m, n, k, ab[0], a, lda, b, ldb, ab[1], want, ldc)
					sgemm(ta, tb, m, n, k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
					for i := range m {
						for j := range ldc {
							g, w := c[i*ldc+j], want[i*ldc+j]
							if math.Abs(float64(g-w)) > 1e-4*(1+math.Abs(float64(w))) {
								t.Fatalf("m%d n%d k%d ta %v tb %v alpha/beta %v: c[%d,%d] = %v, want %v", m, n, k, ta, tb, ab, i, j, g, w)
							}
						}
					}
				}
			}
		}
	}
}

// A row-major B whose rows lie pages apart, as in a (C, H*W) activation,
// over more than one N block and a partial strip, gives gonum's result.
func TestSgemmWideB(t *testing.T) {
	if !hasFMA {
		t.Skip("no AVX2/FMA")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	m, n, k, ldb := 6, sgemmNC+40, 20, 65536+64
	a, b := make([]float32, m*k), make([]float32, k*ldb)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	c, want := make([]float32, m*n), make([]float32, m*n)
	impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, ldb, 0, want, n)
	sgemm(false, false, m, n, k, 1, a, k, b, ldb, 0, c, n)
	for i := range c {
		if math.Abs(float64(c[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("c[%d] = %v, want %v", i, c[i], want[i])
		}
	}
}

func BenchmarkSgemm1x1Conv(b *testing.B) {
	m, n, k := 48, 4096, 16
	a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	b.SetBytes(int64(2 * m * n * k)) // "bytes" are FLOPs
	for range b.N {
		sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	}
}

// BenchmarkSgemmPaper times the 1x1 convolutions of the Paper preset's
// full-resolution level on a band of a 256x256 image: B rows are 65536
// floats apart, as in a (C, H*W) activation.
func BenchmarkSgemmPaper(b *testing.B) {
	for _, sz := range [][3]int{{288, 96, 96}, {510, 96, 96}, {96, 255, 255}} {
		m, k, _ := sz[0], sz[1], sz[2]
		const n, ldb = 8192, 65536
		a, bb, c := make([]float32, m*k), make([]float32, k*ldb), make([]float32, m*ldb)
		b.Run(fmt.Sprintf("m%d_k%d", m, k), func(b *testing.B) {
			b.SetBytes(int64(2 * m * n * k)) // "bytes" are FLOPs
			for range b.N {
				sgemm(false, false, m, n, k, 1, a, k, bb, ldb, 0, c, ldb)
			}
		})
	}
}

// BenchmarkSgemmInCache times a product whose operands stay in L2, so the
// micro-kernel's rate shows without memory traffic.
func BenchmarkSgemmInCache(b *testing.B) {
	m, n, k := 96, 256, 256
	a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	b.SetBytes(int64(2 * m * n * k)) // "bytes" are FLOPs
	for range b.N {
		sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	}
}

// BenchmarkSgemmGradShapes times the products of the backward pass at the
// Paper preset's full resolution (128x128 training patches): a weight
// gradient dW = dY X^T (B transposed, K the pixels) and the channel
// attention's Q K^T, both with long rows of 16384 pixels.
func BenchmarkSgemmGradShapes(b *testing.B) {
	for _, sz := range [][3]int{{96, 96, 16384}, {48, 48, 16384}, {255, 96, 16384}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, bb, c := make([]float32, m*k), make([]float32, n*k), make([]float32, m*n)
		b.Run(fmt.Sprintf("m%d_n%d_k%d", m, n, k), func(b *testing.B) {
			b.SetBytes(int64(2 * m * n * k)) // "bytes" are FLOPs
			for range b.N {
				sgemm(false, true, m, n, k, 1, a, k, bb, k, 0, c, n)
			}
		})
	}
}

// packB puts value (k0+q, j0+j) of op(B) at strip j/16, row q, column
// j%16, zeros past nb, for B and B^T, full and partial strips and K blocks
// of any length (the vector moves and register transposes, and the rest).
func TestPackB(t *testing.T) {
	if !hasFMA {
		t.Skip("no AVX2/FMA")
	}
	for _, sz := range [][4]int{{8, 0, 0, 16}, {19, 3, 5, 37}, {256, 0, 16, 48}, {7, 1, 2, 17}, {64, 9, 0, 15}} {
		kb, k0, j0, nb := sz[0], sz[1], sz[2], sz[3]
		for _, tb := range []bool{false, true} {
			// op(B)[k][j] is b[k*ldb+j], or b[j*ldb+k] when transposed
			ldb, rows := j0+nb+3, k0+kb
			at := func(k, j int) int { return k*ldb + j }
			if tb {
				ldb, rows = k0+kb+3, j0+nb
				at = func(k, j int) int { return j*ldb + k }
			}
			b := make([]float32, rows*ldb)
			for i := range b {
				b[i] = float32(i)
			}
			strips := (nb + 15) / 16
			bp := make([]float32, strips*16*kb)
			for i := range bp {
				bp[i] = -1 // packB must write every value, zeros past nb
			}
			packB(tb, kb, k0, j0, nb, b, ldb, bp)
			for s := range strips {
				for q := range kb {
					for c := range 16 {
						want := float32(0)
						if j := 16*s + c; j < nb {
							want = b[at(k0+q, j0+j)]
						}
						if got := bp[s*16*kb+16*q+c]; got != want {
							t.Fatalf("tb %v kb %d k0 %d j0 %d nb %d: strip %d row %d column %d = %v, want %v", tb, kb, k0, j0, nb, s, q, c, got, want)
						}
					}
				}
			}
		}
	}
}

// packA of A puts alpha times value (row i, column k0+q) of A at panel
// i/6, row q, column i%6, zeros past row m, for K blocks of any length
// (the 8-column register transposes and the rest), and writes nothing
// past the panels.
func TestPackA(t *testing.T) {
	if !hasFMA {
		t.Skip("no AVX2/FMA")
	}
	for _, sz := range [][3]int{{6, 8, 0}, {13, 19, 3}, {12, 256, 7}, {5, 9, 1}, {18, 7, 0}, {6, 17, 2}} {
		m, kb, k0 := sz[0], sz[1], sz[2]
		lda := k0 + kb + 5
		a := make([]float32, m*lda)
		for i := range a {
			a[i] = float32(i)
		}
		const alpha = -0.5
		panels := (m + 5) / 6
		ap := make([]float32, panels*6*kb+8)
		for i := range ap {
			ap[i] = -1
		}
		packA(false, m, kb, k0, alpha, a, lda, ap)
		for p := range panels {
			for q := range kb {
				for r := range 6 {
					want := float32(0)
					if i := 6*p + r; i < m {
						want = alpha * a[i*lda+k0+q]
					}
					if got := ap[p*6*kb+6*q+r]; got != want {
						t.Fatalf("m %d kb %d k0 %d: panel %d row %d column %d = %v, want %v", m, kb, k0, p, q, r, got, want)
					}
				}
			}
		}
		for i, v := range ap[panels*6*kb:] {
			if v != -1 {
				t.Fatalf("m %d kb %d: wrote %v at %d past the panels", m, kb, v, i)
			}
		}
	}
}
