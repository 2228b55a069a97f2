package data

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShard checks that the ranks' epochs are equal in length, disjoint but
// for the padding, and together visit every sample; and that a rank's
// batches depend only on the seed and its rank.
func TestShard(t *testing.T) {
	var clean []*Image
	for i := range 5 {
		clean = append(clean, randomImage(fmt.Sprint("im", i), 32, 32, uint64(i)))
	}
	src, err := NewSyntheticSource("denoise", clean, Noise15)
	require.NoError(t, err)
	for _, size := range []int{2, 3, 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			per := (5 + size - 1) / size
			seen := map[string]int{}
			var first []float32
			for rank := range size {
				draw := func() (*Sampler, *Batch) {
					s, err := NewSampler([]*Source{src}, 16, 7, Shard(rank, size))
					require.NoError(t, err)
					b, err := s.Next(per)
					require.NoError(t, err)
					return s, b
				}
				s, b := draw()
				_, again := draw()
				require.Equal(t, b, again, "a rank's batches follow from the seed and rank")
				require.Equal(t, 0, s.Epoch(), "one epoch of the shard is %d draws", per)
				_, err := s.Next(1)
				require.NoError(t, err)
				require.Equal(t, 1, s.Epoch())
				require.Equal(t, []int{5}, s.Counts(), "Counts is the whole data's")
				for _, n := range b.Names {
					seen[n]++
				}
				if rank == 0 {
					first = b.Degraded
				} else {
					require.NotEqual(t, first, b.Degraded, "rank %d draws rank 0's patches", rank)
				}
			}
			require.Len(t, seen, 5, "the ranks' epochs together visit every sample")
			extra := 0
			for _, k := range seen {
				extra += k - 1
			}
			require.Equal(t, per*size-5, extra, "only the padding visits a sample twice")
		})
	}
}

func TestShardOfOneIsUnsharded(t *testing.T) {
	srcs, err := EmbeddedSources(ThreeDegradations())
	require.NoError(t, err)
	draw := func(opts ...SamplerOption) []*Batch {
		s, err := NewSampler(srcs, 16, 3, opts...)
		require.NoError(t, err)
		var out []*Batch
		for range 2 {
			b, err := s.Next(3)
			require.NoError(t, err)
			out = append(out, b)
		}
		return out
	}
	require.Equal(t, draw(), draw(Shard(0, 1)))
}

func TestShardErrors(t *testing.T) {
	srcs, err := EmbeddedSources(ThreeDegradations())
	require.NoError(t, err)
	for _, c := range [][2]int{{2, 2}, {-1, 2}, {0, 0}} {
		_, err := NewSampler(srcs, 16, 1, Shard(c[0], c[1]))
		require.ErrorContains(t, err, fmt.Sprintf("shard %d of %d", c[0], c[1]))
	}
}
