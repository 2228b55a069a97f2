package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Degradation names one kind of corruption. The numeric values are the
// authors' degradation labels (de_dict in their TrainDataset), which their
// trainer also uses as the per-sample id of the contrastive loss.
type Degradation int

const (
	Noise15  Degradation = iota // Gaussian noise, sigma 15 on the 0..255 scale
	Noise25                     // Gaussian noise, sigma 25
	Noise50                     // Gaussian noise, sigma 50
	Rain                        // rain streaks (Rain100L-like)
	Haze                        // atmospheric scattering haze (SOTS-like)
	Blur                        // motion or defocus blur (GoPro-like)
	LowLight                    // dark, gamma-compressed, slightly noisy (LOL-like)
	numDegradations
)

var degradationNames = [numDegradations]string{"noise15", "noise25", "noise50", "rain", "haze", "blur", "lowlight"}

// Degradations lists every Degradation in label order.
func Degradations() []Degradation {
	out := make([]Degradation, numDegradations)
	for i := range out {
		out[i] = Degradation(i)
	}
	return out
}

// String returns the name used on command lines: "noise15", "noise25",
// "noise50", "rain", "haze", "blur" or "lowlight".
func (d Degradation) String() string {
	if d < 0 || d >= numDegradations {
		return fmt.Sprintf("Degradation(%d)", int(d))
	}
	return degradationNames[d]
}

// ParseDegradation is the inverse of String (case-insensitive).
func ParseDegradation(s string) (Degradation, error) {
	for i, n := range degradationNames {
		if strings.EqualFold(s, n) {
			return Degradation(i), nil
		}
	}
	return 0, fmt.Errorf("data: unknown degradation %q (want one of %s)", s, strings.Join(degradationNames[:], ", "))
}

// Group is the training source a degradation belongs to. The barycenter has
// one potential per source; the authors put all three noise levels in one
// source, "denoise", so the three-degradation setup has 3 sources and the
// five-degradation setup 5.
func (d Degradation) Group() string {
	switch d {
	case Noise15, Noise25, Noise50:
		return "denoise"
	case Rain:
		return "derain"
	case Haze:
		return "dehaze"
	case Blur:
		return "deblur"
	case LowLight:
		return "lowlight"
	}
	return d.String()
}

// NoiseSigma is the noise standard deviation on the 0..255 scale, or 0 for
// the other degradations.
func (d Degradation) NoiseSigma() float64 {
	switch d {
	case Noise15:
		return 15
	case Noise25:
		return 25
	case Noise50:
		return 50
	}
	return 0
}

// Apply returns a degraded copy of clean, drawing every random choice from
// rng, so the same seed gives the same bytes. Results are quantised to 8-bit
// levels (v/255), as an image stored by the benchmarks or made by the
// authors' uint8 noise code would be. The noise degradations first round
// clean to 8 bits, as that code works on uint8 images.
func (d Degradation) Apply(clean *Image, rng *rand.Rand) *Image {
	var out *Image
	switch d {
	case Noise15, Noise25, Noise50:
		out = addGaussianNoise(clean, d.NoiseSigma(), rng)
	case Rain:
		out = addRain(clean, rng)
	case Haze:
		out = addHaze(clean, rng)
	case Blur:
		out = addBlur(clean, rng)
	case LowLight:
		out = darken(clean, rng)
	default:
		panic(fmt.Sprintf("data: Apply of invalid %v", d))
	}
	out.Name = clean.Name + "+" + d.String()
	return out
}

// addGaussianNoise is the authors' _add_gaussian_noise: on the uint8 image,
// clip(v + sigma*N(0,1), 0, 255) then truncate to uint8 (astype), then /255.
func addGaussianNoise(clean *Image, sigma float64, rng *rand.Rand) *Image {
	out := NewImage(clean.Name, clean.H, clean.W)
	for i, v := range clean.Pix {
		n := float64(to8(v)) + sigma*rng.NormFloat64()
		n = math.Min(math.Max(n, 0), 255)
		out.Pix[i] = float32(uint8(n)) / 255 // truncation, like NumPy's astype(uint8)
	}
	return out
}

// quantize rounds every value to an 8-bit level after clipping.
func quantize(im *Image) *Image {
	for i, v := range im.Pix {
		im.Pix[i] = float32(to8(v)) / 255
	}
	return im
}

func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// addRain is the Rain100L-like preset: it draws the angle, density, length
// range and brightness of rainWith from rng.
func addRain(clean *Image, rng *rand.Rand) *Image {
	var p rainParams
	p.angle = uniform(rng, -25, 25) * math.Pi / 180 // from vertical
	p.density = uniform(rng, 0.003, 0.008)          // streaks per pixel
	p.lmin, p.lmax = uniform(rng, 6, 12), uniform(rng, 14, 28)
	p.amp = uniform(rng, 0.35, 0.6)
	return rainWith(clean, rng, p)
}

// rainParams fix a rain layer: streak angle from vertical (radians),
// streaks per pixel, streak length range (pixels) and peak brightness.
type rainParams struct{ angle, density, lmin, lmax, amp float64 }

// rainWith adds thin bright streaks sharing one dominant angle (with small
// per-streak jitter), of varied length and brightness, tapered at both ends
// and softened along their direction (motion blur), added to the image and
// clipped. Per-streak positions and jitter come from rng.
func rainWith(clean *Image, rng *rand.Rand, p rainParams) *Image {
	h, w := clean.H, clean.W
	layer := make([]float64, h*w)
	count := int(p.density*float64(h*w)) + 1
	for s := 0; s < count; s++ {
		a := p.angle + uniform(rng, -0.05, 0.05)
		dx, dy := math.Sin(a), math.Cos(a)
		length := uniform(rng, p.lmin, p.lmax)
		// start anywhere, including above/left of the image, so the borders are not streak-free
		cx := uniform(rng, -length/2, float64(w)+length/2)
		cy := uniform(rng, -length/2, float64(h)+length/2)
		bright := p.amp * uniform(rng, 0.5, 1)
		steps := int(length * 2)
		for k := 0; k <= steps; k++ {
			u := float64(k)/float64(steps) - 0.5
			v := bright * math.Cos(u*math.Pi) // tapered ends
			splat(layer, h, w, cy+u*length*dy, cx+u*length*dx, v/2)
		}
	}
	// motion blur along the streak direction softens the drawn lines
	layer = convolve1(layer, h, w, lineKernel(5, math.Pi/2-p.angle)) // along (sin a, cos a)
	out := clean.Clone()
	n := h * w
	for c := 0; c < 3; c++ {
		for i := 0; i < n; i++ {
			out.Pix[c*n+i] += float32(layer[i])
		}
	}
	return quantize(out)
}

// splat adds v at a fractional position with bilinear weights (anti-aliasing).
func splat(m []float64, h, w int, y, x, v float64) {
	y0, x0 := math.Floor(y), math.Floor(x)
	fy, fx := y-y0, x-x0
	for _, p := range [4]struct {
		dy, dx int
		wt     float64
	}{{0, 0, (1 - fy) * (1 - fx)}, {0, 1, (1 - fy) * fx}, {1, 0, fy * (1 - fx)}, {1, 1, fy * fx}} {
		r, c := int(y0)+p.dy, int(x0)+p.dx
		if r >= 0 && r < h && c >= 0 && c < w {
			m[r*w+c] += v * p.wt
		}
	}
}

// addHaze is the SOTS-like preset: scattering coefficient beta drawn in
// 0.5..1.5, the rest as in hazeWith.
func addHaze(clean *Image, rng *rand.Rand) *Image {
	return hazeWith(clean, rng, uniform(rng, 0.5, 1.5))
}

// hazeWith applies the atmospheric scattering model I = J t + A (1 - t),
// t = exp(-beta d), with a depth map d in [0,1] that grows towards the top
// of the image (farther scene) plus smooth random variation. The airlight A
// and the depth map come from rng.
func hazeWith(clean *Image, rng *rand.Rand, beta float64) *Image {
	h, w := clean.H, clean.W
	a := uniform(rng, 0.75, 1.0)
	var air [3]float64
	for c := range air {
		air[c] = math.Min(1, a+uniform(rng, -0.03, 0.03)) // nearly grey airlight
	}
	field := smoothField(h, w, 4, rng)
	power := uniform(rng, 0.7, 1.5)
	out := clean.Clone()
	n := h * w
	for y := 0; y < h; y++ {
		top := math.Pow(1-float64(y)/float64(max(h-1, 1)), power)
		for x := 0; x < w; x++ {
			d := math.Min(1, math.Max(0, 0.15+0.65*top+0.3*(field[y*w+x]-0.5)))
			t := math.Exp(-beta * d)
			for c := 0; c < 3; c++ {
				j := float64(clean.Pix[c*n+y*w+x])
				out.Pix[c*n+y*w+x] = float32(j*t + air[c]*(1-t))
			}
		}
	}
	return quantize(out)
}

// smoothField returns an h×w map in [0,1]: random values on a coarse
// (cells+1)² grid, interpolated with smoothstep weights.
func smoothField(h, w, cells int, rng *rand.Rand) []float64 {
	g := make([]float64, (cells+1)*(cells+1))
	for i := range g {
		g[i] = rng.Float64()
	}
	smooth := func(t float64) float64 { return t * t * (3 - 2*t) }
	out := make([]float64, h*w)
	for y := 0; y < h; y++ {
		gy := float64(y) / float64(max(h-1, 1)) * float64(cells)
		iy := min(int(gy), cells-1)
		ty := smooth(gy - float64(iy))
		for x := 0; x < w; x++ {
			gx := float64(x) / float64(max(w-1, 1)) * float64(cells)
			ix := min(int(gx), cells-1)
			tx := smooth(gx - float64(ix))
			at := func(r, c int) float64 { return g[r*(cells+1)+c] }
			top := at(iy, ix)*(1-tx) + at(iy, ix+1)*tx
			bot := at(iy+1, ix)*(1-tx) + at(iy+1, ix+1)*tx
			out[y*w+x] = top*(1-ty) + bot*ty
		}
	}
	return out
}

// addBlur is the GoPro-like preset: a linear motion kernel (length 5..15
// px, any angle) or a defocus disk (radius 1.5..4 px), half of the time each.
func addBlur(clean *Image, rng *rand.Rand) *Image {
	if rng.IntN(2) == 0 {
		return blurWith(clean, lineKernel(uniform(rng, 5, 15), uniform(rng, 0, math.Pi)))
	}
	return blurWith(clean, diskKernel(uniform(rng, 1.5, 4)))
}

// blurWith convolves every channel with k (mirrored borders) and quantises.
func blurWith(clean *Image, k kernel) *Image {
	out := NewImage(clean.Name, clean.H, clean.W)
	n := clean.H * clean.W
	plane := make([]float64, n)
	for c := 0; c < 3; c++ {
		for i := range plane {
			plane[i] = float64(clean.Pix[c*n+i])
		}
		for i, v := range convolve1(plane, clean.H, clean.W, k) {
			out.Pix[c*n+i] = float32(v)
		}
	}
	return quantize(out)
}

// darken is the LOL-like preset: gamma 1.4..2.2, scale 0.15..0.4 (so
// mid-grey lands near 0.03..0.1) and sensor noise sigma 1..5 on the 0..255
// scale, drawn in that order; see darkenWith.
func darken(clean *Image, rng *rand.Rand) *Image {
	gamma := uniform(rng, 1.4, 2.2)
	scale := uniform(rng, 0.15, 0.4)
	sigma := uniform(rng, 1, 5)
	return darkenWith(clean, rng, gamma, scale, sigma)
}

// darkenWith returns scale * J^gamma plus Gaussian sensor noise of sigma
// (0..255 scale) drawn from rng, quantised.
func darkenWith(clean *Image, rng *rand.Rand, gamma, scale, sigma float64) *Image {
	sigma /= 255
	out := NewImage(clean.Name, clean.H, clean.W)
	for i, v := range clean.Pix {
		out.Pix[i] = float32(scale*math.Pow(float64(clip01(v)), gamma) + sigma*rng.NormFloat64())
	}
	return quantize(out)
}

// kernel is a normalised odd-sized square filter.
type kernel struct {
	size int
	w    []float64
}

// lineKernel rasterises an anti-aliased line of the given length and angle.
func lineKernel(length, angle float64) kernel {
	size := int(math.Ceil(length))/2*2 + 3
	k := kernel{size: size, w: make([]float64, size*size)}
	mid := float64(size / 2)
	steps := int(length*4) + 1
	for s := 0; s <= steps; s++ {
		u := (float64(s)/float64(steps) - 0.5) * (length - 1)
		splat(k.w, size, size, mid+u*math.Sin(angle), mid+u*math.Cos(angle), 1)
	}
	return k.normalised()
}

// diskKernel is a uniform disk with anti-aliased (4×4 supersampled) edges.
func diskKernel(radius float64) kernel {
	size := int(math.Ceil(radius))*2 + 1
	k := kernel{size: size, w: make([]float64, size*size)}
	mid := float64(size / 2)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			for sy := 0; sy < 4; sy++ {
				for sx := 0; sx < 4; sx++ {
					dy := float64(y) + (float64(sy)+0.5)/4 - 0.5 - mid
					dx := float64(x) + (float64(sx)+0.5)/4 - 0.5 - mid
					if dy*dy+dx*dx <= radius*radius {
						k.w[y*size+x] += 1
					}
				}
			}
		}
	}
	return k.normalised()
}

func (k kernel) normalised() kernel {
	var s float64
	for _, v := range k.w {
		s += v
	}
	for i := range k.w {
		k.w[i] /= s
	}
	return k
}

// convolve1 filters one h×w plane with k, reflecting at the borders
// (half-sample symmetric) so edges do not darken.
func convolve1(in []float64, h, w int, k kernel) []float64 {
	out := make([]float64, h*w)
	r := k.size / 2
	mirror := func(i, n int) int {
		for i < 0 || i >= n {
			if i < 0 {
				i = -i - 1
			}
			if i >= n {
				i = 2*n - 1 - i
			}
		}
		return i
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float64
			for ky := 0; ky < k.size; ky++ {
				row := mirror(y+ky-r, h) * w
				for kx := 0; kx < k.size; kx++ {
					if wt := k.w[ky*k.size+kx]; wt != 0 {
						s += wt * in[row+mirror(x+kx-r, w)]
					}
				}
			}
			out[y*w+x] = s
		}
	}
	return out
}
