package data

import (
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestJPEGMatchesLibjpeg compares our JPEG decoding with PIL's (libjpeg-turbo)
// on fixtures from testdata/gen_jpeg.py. Only the IDCT's rounding may differ
// (a few levels on few pixels); Go's own chroma replication, kept as the
// reference here, is far off on these saturated edges.
func TestJPEGMatchesLibjpeg(t *testing.T) {
	for _, sub := range []string{"444", "422", "420"} {
		t.Run(sub, func(t *testing.T) {
			path := filepath.Join("testdata", "jpeg", "stripes_"+sub+".jpg")
			got, err := Load(path)
			require.NoError(t, err)
			want, err := Load(filepath.Join("testdata", "jpeg", "stripes_"+sub+".npy"))
			require.NoError(t, err)
			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			raw, err := jpeg.Decode(f)
			require.NoError(t, err)
			goOwn := FromImage("go", &nonYCbCr{raw})
			require.IsType(t, &image.YCbCr{}, raw)

			maxOurs, meanOurs := diffStats(got, want)
			maxGo, meanGo := diffStats(goOwn, want)
			t.Logf("vs PIL, in 8-bit levels: ours max %.0f mean %.3f; Go's conversion max %.0f mean %.3f", maxOurs, meanOurs, maxGo, meanGo)
			require.LessOrEqual(t, maxOurs, 4.0)
			require.Less(t, meanOurs, 0.25)
			if sub != "444" {
				require.Greater(t, meanGo, 2*meanOurs, "the libjpeg upsampling is what closes the gap")
			}
		})
	}
}

func diffStats(a, b *Image) (maxLevels, meanLevels float64) {
	var sum float64
	for i := range a.Pix {
		d := float64(abs32(a.Pix[i]-b.Pix[i])) * 255
		maxLevels = max(maxLevels, d)
		sum += d
	}
	return maxLevels, sum / float64(len(a.Pix))
}
