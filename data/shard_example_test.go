package data_test

import (
	"fmt"

	"github.com/x/baryir/data"
)

// Two ranks of a data-parallel job, each with its own sampler: every epoch
// is shuffled alike and split between them.
func ExampleShard() {
	clean := data.EmbeddedTrain()[:5]
	src, err := data.NewSyntheticSource("denoise", clean, data.Noise25)
	if err != nil {
		panic(err)
	}
	for rank := range 2 {
		s, err := data.NewSampler([]*data.Source{src}, 32, 1, data.Shard(rank, 2))
		if err != nil {
			panic(err)
		}
		b, err := s.Next(3) // one epoch of the shard: 5 samples padded to 6, split in 2
		if err != nil {
			panic(err)
		}
		fmt.Println(rank, b.Names)
	}
	// Rank 1's last visit is the padding, a repeat of the epoch's first.

	// Output:
	// 0 [embedded/train/astronaut_0.png embedded/train/coffee_0.png embedded/train/astronaut_2.png]
	// 1 [embedded/train/brick_0.png embedded/train/astronaut_1.png embedded/train/astronaut_0.png]
}
