package ot_test

import (
	"fmt"

	"github.com/x/baryir/ot"
)

// The barycenter of two Gaussians with unequal weights, and the transport
// cost of reaching it.
func Example() {
	p, _ := ot.NewGaussian([]float64{0, 0}, [][]float64{{1, 0}, {0, 4}})
	q, _ := ot.NewGaussian([]float64{4, 0}, [][]float64{{2, 1}, {1, 2}})
	b, err := ot.GaussianBarycenter([]ot.Gaussian{p, q}, []float64{0.25, 0.75}, ot.BarycenterOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("mean %.4f\n", b.Mean)
	fmt.Printf("cov  %.7f %.7f\n     %.7f %.7f\n", b.Cov.At(0, 0), b.Cov.At(0, 1), b.Cov.At(1, 0), b.Cov.At(1, 1))
	w2, _ := ot.W2Squared(p, b.Gaussian)
	fmt.Printf("W2^2(P1, Q*) %.4f\n", w2)
	fmt.Printf("1/2 sum w W2^2 %.4f\n", b.Cost)
	// Output:
	// mean [3.0000 0.0000]
	// cov  1.6855175 0.7903588
	//      0.7903588 2.4198787
	// W2^2(P1, Q*) 9.4338
	// 1/2 sum w W2^2 1.5723
}
