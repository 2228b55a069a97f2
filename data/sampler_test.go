package data

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSamplerDeterministic(t *testing.T) {
	srcs, err := EmbeddedSources(FiveDegradations())
	require.NoError(t, err)
	run := func(seed uint64) []*Batch {
		s, err := NewSampler(srcs, 32, seed)
		require.NoError(t, err)
		var out []*Batch
		for i := 0; i < 3; i++ {
			b, err := s.Next(4)
			require.NoError(t, err)
			out = append(out, b)
		}
		return out
	}
	a, b, c := run(11), run(11), run(12)
	require.Equal(t, a, b, "same seed, same batches")
	require.NotEqual(t, a[0].Degraded, c[0].Degraded, "different seed, different batches")
	for _, bt := range a {
		require.Len(t, bt.Degraded, 4*3*32*32)
		require.Len(t, bt.Clean, 4*3*32*32)
		for i, d := range bt.Degradation {
			require.Equal(t, d.Group(), srcs[bt.Source[i]].Name, "source id matches the degradation's group")
		}
		for _, v := range append(append([]float32{}, bt.Degraded...), bt.Clean...) {
			require.True(t, v >= 0 && v <= 1)
		}
	}
}

func TestSamplerEpochVisitsEverySample(t *testing.T) {
	srcs, err := EmbeddedSources(ThreeDegradations())
	require.NoError(t, err)
	srcs[1].Repeat = 2
	s, err := NewSampler(srcs, 16, 3)
	require.NoError(t, err)
	n := len(EmbeddedTrain())
	require.Equal(t, []int{3 * n, 2 * n, n}, s.Counts())

	total := 6 * n
	seen := make([]int, len(srcs))
	got := 0
	for got < total {
		b, err := s.Next(min(5, total-got))
		require.NoError(t, err)
		for _, id := range b.Source {
			seen[id]++
		}
		got += b.B
	}
	require.Equal(t, s.Counts(), seen, "one epoch draws each source Len times")
	require.Equal(t, 0, s.Epoch(), "the epoch ends with its last sample")
	_, err = s.Next(1)
	require.NoError(t, err)
	require.Equal(t, 1, s.Epoch())
}

// TestSamplerPairsStayAligned stores degraded = 1 - clean, so any mismatch
// of crop window or flip/rotation between the two patches shows.
func TestSamplerPairsStayAligned(t *testing.T) {
	dir := t.TempDir()
	var pairs []Pair
	for i := 0; i < 3; i++ {
		clean := randomImage("c", 40, 56, uint64(i)) // cropped to 32x48 before patching
		inv := clean.Clone()
		for k, v := range inv.Pix {
			inv.Pix[k] = 1 - v
		}
		p := Pair{filepath.Join(dir, "deg", clean.Name+string(rune('a'+i))+".png"), filepath.Join(dir, "clean", clean.Name+string(rune('a'+i))+".png")}
		require.NoError(t, os.MkdirAll(filepath.Dir(p.Degraded), 0o755))
		require.NoError(t, os.MkdirAll(filepath.Dir(p.Clean), 0o755))
		require.NoError(t, Save(p.Degraded, inv))
		require.NoError(t, Save(p.Clean, clean))
		pairs = append(pairs, p)
	}
	src, err := NewPairSource("derain", Rain, pairs)
	require.NoError(t, err)
	s, err := NewSampler([]*Source{src}, 24, 5)
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		b, err := s.Next(3)
		require.NoError(t, err)
		for k := range b.Clean {
			require.InDelta(t, 1-b.Clean[k], b.Degraded[k], 1e-6)
		}
	}
}

func TestSamplerErrors(t *testing.T) {
	dir := t.TempDir()
	small := writeImage(t, dir, "small.png", 20, 40, 1)
	corrupt := filepath.Join(dir, "corrupt.png")
	require.NoError(t, os.WriteFile(corrupt, []byte("garbage"), 0o644))
	srcOf := func(files ...string) []*Source {
		s, err := NewSyntheticFileSource("denoise", files, Noise15)
		require.NoError(t, err)
		return []*Source{s}
	}
	tests := []struct {
		name  string
		srcs  []*Source
		patch int
		want  string
	}{
		{"smaller than patch", srcOf(small), 32, small + ": image is 16x32 after cropping to a multiple of 16, smaller than the 32x32 patch"},
		{"corrupt", srcOf(corrupt), 16, corrupt + `": not a decodable`},
		{"missing", srcOf(filepath.Join(dir, "gone.png")), 16, "gone.png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// NewSampler reads every header, so these fail before a trainer is built.
			_, err := NewSampler(tc.srcs, tc.patch, 1)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// Images in memory are measured too: the embedded photos against a huge patch.
	emb, err := EmbeddedSources(ThreeDegradations())
	require.NoError(t, err)
	_, err = NewSampler(emb, 1024, 1)
	require.ErrorContains(t, err, "smaller than the 1024x1024 patch")
	_, err = NewSampler(nil, 16, 1)
	require.ErrorContains(t, err, "no sources")
	_, err = NewSyntheticSource("x", nil, Noise15)
	require.ErrorContains(t, err, `"x"`)
	_, err = NewPairSource("y", Rain, nil)
	require.ErrorContains(t, err, `"y": no pairs`)
}

func TestDihedral(t *testing.T) {
	// 1 channel pattern 2x3, replicated: rows [0 1 2] [3 4 5]
	im := NewImage("d", 2, 3)
	for c := 0; c < 3; c++ {
		for i := 0; i < 6; i++ {
			im.Pix[c*6+i] = float32(i)
		}
	}
	plane := func(x *Image) []float32 { return x.Pix[:x.H*x.W] }
	// np.rot90(a) of [[0,1,2],[3,4,5]] is [[2,5],[1,4],[0,3]]
	r := Dihedral(im, 1)
	require.Equal(t, [2]int{3, 2}, [2]int{r.H, r.W})
	require.Equal(t, []float32{2, 5, 1, 4, 0, 3}, plane(r))
	require.Equal(t, []float32{3, 4, 5, 0, 1, 2}, plane(Dihedral(im, 4)), "flipud")
	seen := map[string]bool{}
	for m := 0; m < 8; m++ {
		d := Dihedral(im, m)
		seen[string(rune(d.H))+string(rune(d.W))+floatKey(plane(d))] = true
	}
	require.Len(t, seen, 8, "the 8 modes are distinct")
	require.Equal(t, im.Pix, Dihedral(Dihedral(Dihedral(Dihedral(im, 1), 1), 1), 1).Pix)
}

func floatKey(v []float32) string {
	b := make([]rune, len(v))
	for i, x := range v {
		b[i] = rune('a' + int(x))
	}
	return string(b)
}

func BenchmarkSamplerNext(b *testing.B) {
	srcs, err := EmbeddedSources(FiveDegradations())
	require.NoError(b, err)
	s, err := NewSampler(srcs, 128, 1)
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Next(8); err != nil {
			b.Fatal(err)
		}
	}
}
