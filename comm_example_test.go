package baryir_test

import (
	"fmt"

	"github.com/x/baryir"
)

// The communicator of the job this process belongs to: under mpirun (a
// build with -tags baryirmpi) one of its ranks, run alone a job of one.
// Buckets averages a model's gradients over the ranks in a few collectives.
func ExampleJoinJob() {
	comm, err := baryir.JoinJob(false)
	if err != nil {
		panic(err)
	}
	defer comm.Close()
	b, err := baryir.NewBuckets(comm, 0)
	if err != nil {
		panic(err)
	}
	grads := [][]float32{{0.5, -1}, {2}}
	if err := b.AllReduce(grads, baryir.ReduceMean); err != nil {
		panic(err)
	}
	fmt.Printf("rank %d of %d, mean gradients %v\n", comm.Rank(), comm.Size(), grads)
	// Output: rank 0 of 1, mean gradients [[0.5 -1] [2]]
}
