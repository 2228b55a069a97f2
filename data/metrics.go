package data

import (
	"fmt"
	"math"
	"strconv"
)

// The metrics reproduce scikit-image 0.19's peak_signal_noise_ratio(data_range=1)
// and structural_similarity(channel_axis=2, data_range=1) as the authors call
// them on float32 arrays (util/val_utils.py): both images are clipped to [0,1]
// and the arithmetic follows NumPy's float32 evaluation order, so results agree
// with Python to float32 precision, not merely approximately.

// PSNR returns the peak signal-to-noise ratio in dB of restored against
// clean, with data range 1, after clipping both to [0,1]. Identical images
// give +Inf.
func PSNR(clean, restored *Image) (float64, error) {
	if err := sameSize(clean, restored); err != nil {
		return 0, err
	}
	var sum float64
	for i, a := range clean.Pix {
		d := clip01(a) - clip01(restored.Pix[i])
		sum += float64(float32(d * d)) // squared in float32, summed in float64, like NumPy
	}
	mse := sum / float64(len(clean.Pix))
	return 10 * math.Log10(1/mse), nil
}

// ssimWin is scikit-image's default uniform window side.
const ssimWin = 7

// SSIM returns the mean structural similarity of restored against clean:
// per channel, a 7×7 uniform window, K1=0.01, K2=0.03, sample covariance
// (N/(N-1)), the SSIM map averaged after cropping 3 pixels from each border;
// the three channel means are averaged. Both images are clipped to [0,1].
func SSIM(clean, restored *Image) (float64, error) {
	if err := sameSize(clean, restored); err != nil {
		return 0, err
	}
	if clean.H < ssimWin || clean.W < ssimWin {
		return 0, fmt.Errorf("data: SSIM: %s is %dx%d, smaller than the %dx%d window", clean.Name, clean.H, clean.W, ssimWin, ssimWin)
	}
	n := clean.H * clean.W
	var chans [3]float32
	for c := 0; c < 3; c++ {
		x := make([]float32, n)
		y := make([]float32, n)
		for i := range x {
			x[i] = clip01(clean.Pix[c*n+i])
			y[i] = clip01(restored.Pix[c*n+i])
		}
		chans[c] = float32(ssimChannel(x, y, clean.H, clean.W))
	}
	// NumPy's float32 mean of the three channel values.
	return float64((chans[0] + chans[1] + chans[2]) / 3), nil
}

func ssimChannel(x, y []float32, h, w int) float64 {
	n := len(x)
	xx, yy, xy := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		xx[i] = x[i] * x[i]
		yy[i] = y[i] * y[i]
		xy[i] = x[i] * y[i]
	}
	ux, uy := uniformFilter(x, h, w), uniformFilter(y, h, w)
	uxx, uyy, uxy := uniformFilter(xx, h, w), uniformFilter(yy, h, w), uniformFilter(xy, h, w)

	const np = ssimWin * ssimWin
	covNorm := float32(float64(np) / float64(np-1))
	c1 := float32(math.Pow(0.01, 2))
	c2 := float32(math.Pow(0.03, 2))
	pad := (ssimWin - 1) / 2
	var sum float64
	for r := pad; r < h-pad; r++ {
		for col := pad; col < w-pad; col++ {
			i := r*w + col
			// Explicit float32 conversions round every product, as NumPy does,
			// and keep the compiler from fusing multiply-adds.
			vx := covNorm * (uxx[i] - float32(ux[i]*ux[i]))
			vy := covNorm * (uyy[i] - float32(uy[i]*uy[i]))
			vxy := covNorm * (uxy[i] - float32(ux[i]*uy[i]))
			a1 := float32(float32(2*ux[i])*uy[i]) + c1
			a2 := float32(2*vxy) + c2
			b1 := float32(ux[i]*ux[i]) + float32(uy[i]*uy[i]) + c1
			b2 := vx + vy + c2
			d := float32(b1 * b2)
			s := float32(a1*a2) / d
			sum += float64(s)
		}
	}
	return sum / float64((h-2*pad)*(w-2*pad))
}

// uniformFilter is scipy.ndimage.uniform_filter(size=7, mode='reflect') on a
// float32 image: a 1-D pass along rows then along columns, each a running
// mean kept in float64 and stored as float32.
func uniformFilter(in []float32, h, w int) []float32 {
	tmp := make([]float32, len(in))
	out := make([]float32, len(in))
	line := make([]float64, max(h, w)+ssimWin)
	res := make([]float64, max(h, w))
	// axis 0 (down each column)
	for c := 0; c < w; c++ {
		filter1D(func(i int) float32 { return in[i*w+c] }, h, line, res)
		for r := 0; r < h; r++ {
			tmp[r*w+c] = float32(res[r])
		}
	}
	// axis 1 (along each row)
	for r := 0; r < h; r++ {
		filter1D(func(i int) float32 { return tmp[r*w+i] }, w, line, res)
		for c := 0; c < w; c++ {
			out[r*w+c] = float32(res[c])
		}
	}
	return out
}

// filter1D writes the 7-tap running mean of a length-n line into res, with
// scipy's 'reflect' extension (d c b a | a b c d | d c b a) and its
// accumulation order.
func filter1D(at func(int) float32, n int, line, res []float64) {
	const before, after = ssimWin / 2, ssimWin - ssimWin/2 - 1
	reflect := func(i int) int {
		period := 2 * n
		i %= period
		if i < 0 {
			i += period
		}
		if i >= n {
			i = period - 1 - i
		}
		return i
	}
	for i := -before; i < n+after; i++ {
		line[i+before] = float64(at(reflect(i)))
	}
	var t float64
	for k := 0; k < ssimWin; k++ {
		t += line[k]
	}
	t /= ssimWin
	res[0] = t
	for k := 1; k < n; k++ {
		t += (line[k+ssimWin-1] - line[k-1]) / ssimWin
		res[k] = t
	}
}

func sameSize(a, b *Image) error {
	if a.H != b.H || a.W != b.W || len(a.Pix) != len(b.Pix) || len(a.Pix) != 3*a.H*a.W {
		return fmt.Errorf("data: %s (%dx%d) and %s (%dx%d) differ in size", a.Name, a.H, a.W, b.Name, b.H, b.W)
	}
	return nil
}

// Metric is a PSNR or SSIM figure as it goes into JSON results: a number
// when finite, else the string "+Inf", "-Inf" or "NaN", which JSON has no
// numbers for (PSNR is +Inf for identical images and NaN for empty ones).
// A non-finite figure is thus reported as such instead of failing the
// whole document; UnmarshalJSON reads both forms back.
type Metric float64

// MarshalJSON writes m as a number, or its non-finite value as a string.
func (m Metric) MarshalJSON() ([]byte, error) {
	f := float64(m)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number or one of "+Inf", "-Inf", "NaN".
func (m *Metric) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*m = Metric(math.NaN())
		return nil
	case `"+Inf"`, `"Inf"`:
		*m = Metric(math.Inf(1))
		return nil
	case `"-Inf"`:
		*m = Metric(math.Inf(-1))
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("data: metric %s: want a number, \"+Inf\", \"-Inf\" or \"NaN\"", b)
	}
	*m = Metric(f)
	return nil
}
