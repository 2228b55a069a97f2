package op

import (
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Float is the element type kernels are written for.
type Float interface{ float32 | float64 }

// ParallelFor calls f(i) for i in [0, n) on up to GOMAXPROCS goroutines.
func ParallelFor(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

var impl gonum.Implementation

// Gemm computes c = alpha*op(a)*op(b) + beta*c for row-major matrices, with
// op(a) m×k and op(b) k×n; ta and tb transpose a and b.
func Gemm[T Float](ta, tb bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	tA, tB := blas.NoTrans, blas.NoTrans
	if ta {
		tA = blas.Trans
	}
	if tb {
		tB = blas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		if hasFMA {
			sgemm(ta, tb, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
			return
		}
		impl.Sgemm(tA, tB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		impl.Dgemm(tA, tB, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

var scratch32, scratch64 sync.Pool

// Scratch returns a buffer of n elements for a kernel's temporary use, from
// a pool (not zeroed); hand it back with Release when done.
func Scratch[T Float](n int) []T {
	var z T
	p := &scratch32
	if any(z) == any(float64(0)) {
		p = &scratch64
	}
	if b, ok := p.Get().(*[]T); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]T, n)
}

// Release returns a buffer from Scratch to the pool.
func Release[T Float](b []T) {
	if cap(b) == 0 {
		return
	}
	var z T
	p := &scratch32
	if any(z) == any(float64(0)) {
		p = &scratch64
	}
	p.Put(&b)
}

// HasFMA reports whether the float32 kernels may use AVX2 and FMA.
func HasFMA() bool { return hasFMA }
