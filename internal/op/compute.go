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

// scratchFree holds the free scratch buffers of one element type. It
// keeps as many buffers as were ever in use at once, each as large as the
// largest request it served. A sync.Pool, used before, kept about three
// times that (a generation survives each GC, and a buffer too small for a
// request is dropped to the garbage collector): after a Paper inference at
// 256x256 it held 162 MiB, where the convolutions' im2col bands in use at
// once are two of at most 28 MiB; this list holds 61 MiB.
type scratchFree[T Float] struct {
	sync.Mutex
	free [][]T
}

var scratch32 scratchFree[float32]
var scratch64 scratchFree[float64]

func scratchOf[T Float]() *scratchFree[T] {
	if p, ok := any(&scratch32).(*scratchFree[T]); ok {
		return p
	}
	return any(&scratch64).(*scratchFree[T])
}

// Scratch returns a buffer of n elements for a kernel's temporary use (not
// zeroed); hand it back with Release when done. It is the smallest free
// buffer that holds n; when none does, the largest free one (too small)
// is dropped and a new one made, so the buffers kept never outnumber those
// in use at once.
func Scratch[T Float](n int) []T {
	p := scratchOf[T]()
	p.Lock()
	best, largest := -1, -1
	for i, b := range p.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
		if largest < 0 || cap(b) > cap(p.free[largest]) {
			largest = i
		}
	}
	take := best
	if take < 0 {
		take = largest
	}
	var b []T
	if take >= 0 {
		b = p.free[take]
		p.free[take] = p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
	}
	p.Unlock()
	if cap(b) >= n {
		return b[:n]
	}
	return make([]T, n)
}

// Release returns a buffer from Scratch.
func Release[T Float](b []T) {
	if cap(b) == 0 {
		return
	}
	p := scratchOf[T]()
	p.Lock()
	p.free = append(p.free, b)
	p.Unlock()
}

// HasFMA reports whether the float32 kernels may use AVX2 and FMA.
func HasFMA() bool { return hasFMA }
