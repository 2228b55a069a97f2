package data

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		str  string
	}{
		{"noise:60", Noise(60), "noise:60"},
		{"JPEG:10", JPEG(10), "jpeg:10"},
		{"rain:0.02,30", RainSpec(0.02, 30), "rain:0.02,30"},
		{"rain:0.01", RainSpec(0.01, 0), "rain:0.01"},
		{"haze:2.5", HazeSpec(2.5), "haze:2.5"},
		{"blur:21", MotionBlur(21), "blur:21"},
		{"defocus:4", Defocus(4), "defocus:4"},
		{"lowlight:0.1", LowLightSpec(0.1), "lowlight:0.1"},
		{"rain:0.01 + noise:15", Mix(RainSpec(0.01, 0), Noise(15)), "rain:0.01+noise:15"},
		{"haze:1+lowlight:0.3+noise:5", Mix(Mix(HazeSpec(1), LowLightSpec(0.3)), Noise(5)), "haze:1+lowlight:0.3+noise:5"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSpec(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.str, got.String())
			again, err := ParseSpec(got.String())
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "want kind:level"},
		{"noise", "want kind:level"},
		{"snow:3", `unknown kind "snow"`},
		{"noise:abc", `"abc" is not a number`},
		{"noise:0", "noise level 0 out of range (0, 255]"},
		{"noise:300", "out of range"},
		{"noise:NaN", "not a number"},
		{"noise:Inf", "not a number"},
		{"jpeg:0", "jpeg level 0 out of range [1, 100]"},
		{"jpeg:10.5", "whole number"},
		{"noise:5,3", "only rain takes two"},
		{"rain:0.01,0.5", "rain length 0.5 out of range"},
		{"rain:0.5", "rain level 0.5 out of range"},
		{"blur:1000", "out of range"},
		{"lowlight:2", "out of range"},
		{"noise:5+noise:5+noise:5+noise:5", "at most 3"},
		{"noise:5+", "want kind:level"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseSpec(tc.in)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := Spec{Kind: KindHaze, Level: 1, Length: 3}.Apply(EmbeddedTest()[0], rand.New(rand.NewPCG(1, 1)))
	require.ErrorContains(t, err, "haze takes no length")
}

// FuzzParseSpec: any text parses to a valid Spec that prints and parses back
// to itself, or fails with an error; never a panic.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"noise:60", "rain:0.02,30+noise:15", "jpeg:10", "x", "haze:1+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSpec(s)
		if err != nil {
			return
		}
		require.NoError(t, spec.Validate())
		again, err := ParseSpec(spec.String())
		require.NoError(t, err, "String() %q of %q", spec.String(), s)
		require.Equal(t, spec, again)
	})
}

func specPSNR(t *testing.T, s Spec, seed uint64) float64 {
	var sum float64
	test := EmbeddedTest()[:3]
	for i, im := range test {
		im, err := im.Crop(32, 32, 96, 96) // small crops keep the large kernels fast
		require.NoError(t, err)
		out, err := s.Apply(im, rand.New(rand.NewPCG(seed, uint64(i))))
		require.NoError(t, err)
		require.Equal(t, [2]int{im.H, im.W}, [2]int{out.H, out.W})
		for _, v := range out.Pix {
			require.True(t, v >= 0 && v <= 1 && float64(v*255) == math.Round(float64(v*255)), "%s: %v not an 8-bit level", s, v)
		}
		p, err := PSNR(im, out)
		require.NoError(t, err)
		sum += p
	}
	return sum / float64(len(test))
}

// TestSpecStrength checks every kind on crops of embedded test photos: noise
// PSNR at or above 20 log10(255/sigma) (clipping at 0 and 255 can only
// shrink the error; by more at larger sigma),
// and, for every kind, a stronger level loses more PSNR than a weaker one.
func TestSpecStrength(t *testing.T) {
	for _, sigma := range []float64{25, 60, 75} {
		p := specPSNR(t, Noise(sigma), 3)
		ideal := 20 * math.Log10(255/sigma)
		t.Logf("noise:%g PSNR %.2f dB (unclipped %.2f)", sigma, p, ideal)
		require.Greater(t, p, ideal)
		require.Less(t, p, ideal+1.6)
	}
	pairs := []struct{ weak, strong Spec }{
		{Noise(15), Noise(75)},
		{JPEG(60), JPEG(10)},
		{RainSpec(0.005, 15), RainSpec(0.03, 30)},
		{HazeSpec(0.5), HazeSpec(2.5)},
		{MotionBlur(5), MotionBlur(25)},
		{Defocus(1.5), Defocus(6)},
		{LowLightSpec(0.6), LowLightSpec(0.1)},
		{RainSpec(0.01, 0), Mix(RainSpec(0.01, 0), Noise(25))},
	}
	for _, tc := range pairs {
		weak, strong := specPSNR(t, tc.weak, 3), specPSNR(t, tc.strong, 3)
		t.Logf("%-22s %6.2f dB   %-22s %6.2f dB", tc.weak, weak, tc.strong, strong)
		require.Greater(t, weak, strong+0.5, "%s vs %s", tc.weak, tc.strong)
		require.Less(t, weak, 60.0, "%s barely changes the image", tc.weak)
	}
}

func TestSpecDeterministic(t *testing.T) {
	im := EmbeddedTest()[1]
	for _, s := range []Spec{Noise(60), JPEG(10), RainSpec(0.02, 30), HazeSpec(2), MotionBlur(15),
		Defocus(3), LowLightSpec(0.2), Mix(HazeSpec(1), Noise(15))} {
		t.Run(s.String(), func(t *testing.T) {
			a, err := s.Apply(im, rand.New(rand.NewPCG(4, 1)))
			require.NoError(t, err)
			b, _ := s.Apply(im, rand.New(rand.NewPCG(4, 1)))
			require.Equal(t, a.Pix, b.Pix)
			require.NotEqual(t, im.Pix, a.Pix)
			require.Equal(t, im.Name+"+"+s.String(), a.Name)
			if s.Kind != KindJPEG && s.Kind != KindDefocus { // these two draw nothing
				c, _ := s.Apply(im, rand.New(rand.NewPCG(5, 1)))
				require.NotEqual(t, a.Pix, c.Pix, "another seed, another result")
			}
		})
	}
}

// A mixture is its steps applied in order, drawing from one generator.
func TestMixIsSequential(t *testing.T) {
	im := EmbeddedTest()[2]
	mix, err := Mix(RainSpec(0.02, 0), Noise(25)).Apply(im, rand.New(rand.NewPCG(9, 9)))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(9, 9))
	first, err := RainSpec(0.02, 0).Apply(im, rng)
	require.NoError(t, err)
	second, err := Noise(25).Apply(first, rng)
	require.NoError(t, err)
	require.Equal(t, second.Pix, mix.Pix)
}

// TestNoiseMatchesNumPy compares the noise's output statistics per input
// level with the authors' formula run in NumPy (testdata/gen_noise.py):
// clipping and truncation shape the mean and spread at dark and bright
// levels, so this checks the whole uint8 form, not just sigma.
func TestNoiseMatchesNumPy(t *testing.T) {
	ref, shape, err := ReadNPY(filepath.Join("testdata", "noise", "stats.npy"))
	require.NoError(t, err)
	require.Equal(t, []int{len(ref) / 4, 4}, shape) // rows of (sigma, level, mean, std), level on 0..255
	const n = 20000
	for row := 0; row < shape[0]; row++ {
		sigma, level := float64(ref[4*row]), float64(ref[4*row+1])
		wantMean, wantStd := float64(ref[4*row+2]), float64(ref[4*row+3])
		im := NewImage("flat", 1, n/3+1)
		for i := range im.Pix {
			im.Pix[i] = float32(level / 255)
		}
		out, err := Noise(sigma).Apply(im, rand.New(rand.NewPCG(uint64(row), 2)))
		require.NoError(t, err)
		var mean, sq float64
		for _, v := range out.Pix {
			mean += float64(v) * 255
		}
		mean /= float64(len(out.Pix))
		for _, v := range out.Pix {
			d := float64(v)*255 - mean
			sq += d * d
		}
		std := math.Sqrt(sq / float64(len(out.Pix)-1))
		se := math.Max(wantStd, 0.5) / math.Sqrt(float64(len(out.Pix)))
		t.Logf("sigma %3g level %3g: mean %.2f (NumPy %.2f), std %.2f (NumPy %.2f)", sigma, level, mean, wantMean, std, wantStd)
		require.InDelta(t, wantMean, mean, 5*se+0.02)
		require.InDelta(t, wantStd, std, 5*se+0.05)
	}
}

// TestJPEGMatchesPIL compares the JPEG round trip with PIL's
// Image.save(quality=q) decoded by PIL (testdata/gen_jpeg_quality.py) on an
// embedded photo: the two encoders are not the same code, so the bytes
// differ, but the loss they cause must agree.
func TestJPEGMatchesPIL(t *testing.T) {
	clean := EmbeddedTest()[2]
	for _, q := range []int{10, 75} {
		pil, err := LoadNPY(filepath.Join("testdata", "jpeg", "quality"+strconv.Itoa(q)+".npy"))
		require.NoError(t, err)
		got, err := JPEG(q).Apply(clean, rand.New(rand.NewPCG(1, 1)))
		require.NoError(t, err)
		pGo, err := PSNR(clean, got)
		require.NoError(t, err)
		pPIL, err := PSNR(clean, pil)
		require.NoError(t, err)
		between, err := PSNR(pil, got)
		require.NoError(t, err)
		t.Logf("quality %d: PSNR to clean %.2f dB (PIL %.2f), Go vs PIL %.2f dB", q, pGo, pPIL, between)
		require.InDelta(t, pPIL, pGo, 0.1)
		require.Greater(t, between, pPIL+8, "Go's and PIL's outputs are closer to each other than to the clean image")
	}
}
