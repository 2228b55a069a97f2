package baryir_test

import (
	"fmt"

	"github.com/x/baryir"
)

// The communicator of the job this process belongs to: under mpirun (a
// build with -tags baryirmpi) one of its ranks, run alone a job of one.
// AllReduce sums a buffer over the ranks, in place; divided by Size it is
// their mean.
func ExampleJoinJob() {
	comm, err := baryir.JoinJob(false)
	if err != nil {
		panic(err)
	}
	defer comm.Close()
	grads := []float32{0.5, -1, 2}
	if err := comm.AllReduce(grads); err != nil {
		panic(err)
	}
	for i := range grads {
		grads[i] /= float32(comm.Size())
	}
	fmt.Printf("rank %d of %d, mean gradients %v\n", comm.Rank(), comm.Size(), grads)
	// Output: rank 0 of 1, mean gradients [0.5 -1 2]
}
