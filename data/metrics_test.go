package data

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMetricsMatchScikitImage compares PSNR and SSIM with the values that
// testdata/gen_metrics.py computed with Debian's scikit-image.
func TestMetricsMatchScikitImage(t *testing.T) {
	dir := filepath.Join("testdata", "metrics")
	raw, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	require.NoError(t, err)
	var fx struct {
		Cases []struct {
			Name        string
			PSNR, SSIM  float64
			SSIMFloat64 float64 `json:"ssim_float64"`
		}
	}
	require.NoError(t, json.Unmarshal(raw, &fx))
	require.NotEmpty(t, fx.Cases)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			clean, err := Load(filepath.Join(dir, "case_"+c.Name+"_clean.npy"))
			require.NoError(t, err)
			test, err := Load(filepath.Join(dir, "case_"+c.Name+"_test.npy"))
			require.NoError(t, err)
			p, err := PSNR(clean, test)
			require.NoError(t, err)
			s, err := SSIM(clean, test)
			require.NoError(t, err)
			t.Logf("psnr %.12f (skimage %.12f, diff %.2e)  ssim %.9f (skimage %.9f, diff %.2e)",
				p, c.PSNR, p-c.PSNR, s, c.SSIM, s-c.SSIM)
			require.InDelta(t, c.PSNR, p, 1e-9)
			// skimage evaluates SSIM in float32; we follow its order, so the
			// difference is at most a float32 rounding of the final mean.
			require.InDelta(t, c.SSIM, s, 1e-8)
		})
	}
}

func TestMetricsEdgeCases(t *testing.T) {
	a := NewImage("a", 8, 8)
	for i := range a.Pix {
		a.Pix[i] = float32(i%13) / 13
	}
	p, err := PSNR(a, a.Clone())
	require.NoError(t, err)
	require.True(t, math.IsInf(p, 1), "identical images give +Inf, got %v", p)
	s, err := SSIM(a, a.Clone())
	require.NoError(t, err)
	require.InDelta(t, 1, s, 1e-6)

	tests := []struct {
		name string
		a, b *Image
		want string
	}{
		{"size mismatch", a, NewImage("b", 8, 9), "differ in size"},
		{"below window", NewImage("tiny", 6, 8), NewImage("tiny2", 6, 8), "smaller than the 7x7 window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SSIM(tc.a, tc.b)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = PSNR(a, NewImage("b", 8, 9))
	require.ErrorContains(t, err, "differ in size")
}

// Identical and empty images give non-finite figures; in JSON they are
// strings that read back, and the finite figures beside them are kept.
func TestMetricJSON(t *testing.T) {
	im := randomImage("a", 8, 8, 1)
	same, err := PSNR(im, im.Clone())
	require.NoError(t, err)
	require.True(t, math.IsInf(same, 1))
	empty, err := PSNR(NewImage("e", 0, 0), NewImage("f", 0, 0))
	require.NoError(t, err)
	require.True(t, math.IsNaN(empty))

	row := map[string]Metric{"inf": Metric(same), "nan": Metric(empty), "neg": Metric(math.Inf(-1)), "psnr": 31.25}
	b, err := json.Marshal(row)
	require.NoError(t, err)
	require.JSONEq(t, `{"inf": "+Inf", "nan": "NaN", "neg": "-Inf", "psnr": 31.25}`, string(b))
	var back map[string]Metric
	require.NoError(t, json.Unmarshal(b, &back))
	require.True(t, math.IsInf(float64(back["inf"]), 1))
	require.True(t, math.IsInf(float64(back["neg"]), -1))
	require.True(t, math.IsNaN(float64(back["nan"])))
	require.Equal(t, Metric(31.25), back["psnr"])
	var m Metric
	require.ErrorContains(t, json.Unmarshal([]byte(`"lots"`), &m), "want a number")
}
