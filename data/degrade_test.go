package data

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseDegradation(t *testing.T) {
	for _, d := range Degradations() {
		got, err := ParseDegradation(d.String())
		require.NoError(t, err)
		require.Equal(t, d, got)
	}
	_, err := ParseDegradation("snow")
	require.ErrorContains(t, err, `"snow"`)
	groups := map[string]int{}
	for _, d := range Degradations() {
		groups[d.Group()]++
	}
	require.Equal(t, map[string]int{"denoise": 3, "derain": 1, "dehaze": 1, "deblur": 1, "lowlight": 1}, groups)
}

// degradationPSNRs degrades every embedded test image with d (seeded) and
// returns the mean PSNR against the clean image.
func degradationPSNR(t *testing.T, d Degradation, seed uint64) float64 {
	var sum float64
	test := EmbeddedTest()
	for i, im := range test {
		out := d.Apply(im, rand.New(rand.NewPCG(seed, uint64(i))))
		require.Equal(t, [2]int{im.H, im.W}, [2]int{out.H, out.W})
		for _, v := range out.Pix {
			require.True(t, v >= 0 && v <= 1, "%s: value %v outside [0,1]", out.Name, v)
		}
		p, err := PSNR(im, out)
		require.NoError(t, err)
		sum += p
	}
	return sum / float64(len(test))
}

// TestDegradationsLowerPSNR checks each degradation's strength on the
// embedded test photos. The ranges bracket the inputs of the benchmarks they
// stand in for (BSD68 noisy ~24.6/20.2/14.2 dB, Rain100L ~26.9 dB,
// SOTS outdoor ~15-20 dB, GoPro ~26 dB, LOL ~7.8 dB) with room for content.
func TestDegradationsLowerPSNR(t *testing.T) {
	tests := []struct {
		d      Degradation
		lo, hi float64
	}{
		{Noise15, 23.5, 25.5},
		{Noise25, 19.5, 21.5},
		{Noise50, 14, 16.5},
		{Rain, 20, 32},
		{Haze, 10, 22},
		{Blur, 20, 33},
		{LowLight, 5, 14},
	}
	for _, tc := range tests {
		t.Run(tc.d.String(), func(t *testing.T) {
			p := degradationPSNR(t, tc.d, 7)
			t.Logf("%s: mean PSNR %.2f dB on %d embedded test images", tc.d, p, len(EmbeddedTest()))
			require.GreaterOrEqual(t, p, tc.lo)
			require.LessOrEqual(t, p, tc.hi)
		})
	}
}

func TestDegradationsDeterministic(t *testing.T) {
	im := EmbeddedTest()[0]
	for _, d := range Degradations() {
		t.Run(d.String(), func(t *testing.T) {
			a := d.Apply(im, rand.New(rand.NewPCG(1, 2)))
			b := d.Apply(im, rand.New(rand.NewPCG(1, 2)))
			c := d.Apply(im, rand.New(rand.NewPCG(3, 2)))
			require.Equal(t, a.Pix, b.Pix, "same seed, same bytes")
			require.NotEqual(t, a.Pix, c.Pix, "different seed, different result")
			require.NotEqual(t, im.Pix, a.Pix)
		})
	}
}

// TestNoiseMatchesAuthors checks the uint8 arithmetic of the authors'
// _add_gaussian_noise: noisy = uint8(clip(v + sigma*n, 0, 255)), truncated,
// so every output is an 8-bit level and the mean shifts down by about half a level.
func TestNoiseMatchesAuthors(t *testing.T) {
	im := NewImage("grey", 64, 64)
	for i := range im.Pix {
		im.Pix[i] = 128. / 255
	}
	out := Noise15.Apply(im, rand.New(rand.NewPCG(5, 5)))
	var mean, sq float64
	for _, v := range out.Pix {
		lvl := float64(v) * 255
		require.InDelta(t, lvl, float64(int(lvl+0.5)), 1e-3, "8-bit level")
		mean += lvl
		sq += (lvl - 128) * (lvl - 128)
	}
	n := float64(len(out.Pix))
	require.InDelta(t, 127.5, mean/n, 0.6) // truncation bias of -0.5
	require.InDelta(t, 15, math.Sqrt(sq/n), 0.5)
}

// Tiny and thin images must not break any degradation (borders, kernels
// larger than the image, one-pixel depth maps).
func TestDegradationsOnTinyImages(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {1, 7}, {5, 2}, {3, 3}} {
		im := randomImage("tiny", size[0], size[1], 9)
		for _, d := range Degradations() {
			out := d.Apply(im, rand.New(rand.NewPCG(1, 1)))
			require.Equal(t, size, [2]int{out.H, out.W}, "%s on %v", d, size)
			for _, v := range out.Pix {
				require.True(t, v >= 0 && v <= 1, "%s on %v: %v", d, size, v)
			}
		}
	}
}
