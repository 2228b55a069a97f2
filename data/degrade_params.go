package data

import (
	"bytes"
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Kind is a family of parameterised degradations. Unlike the fixed presets
// (Degradation), whose strength is drawn at random per image, a Spec of a
// Kind fixes the strength, so a model can be tested at levels and on types
// it was not trained on (the paper's Tab. IV-VIII).
type Kind int

const (
	KindNoise    Kind = iota // Gaussian noise; Level is sigma on the 0..255 scale
	KindJPEG                 // JPEG compression; Level is the quality, 1..100
	KindRain                 // rain streaks; Level is streaks per pixel, Length their mean length
	KindHaze                 // atmospheric haze; Level is the scattering coefficient beta
	KindBlur                 // linear motion blur; Level is the kernel length in pixels
	KindDefocus              // defocus blur; Level is the disk radius in pixels
	KindLowLight             // low light; Level is the brightness factor in (0,1]
	numKinds
)

var kindNames = [numKinds]string{"noise", "jpeg", "rain", "haze", "blur", "defocus", "lowlight"}

// String is the name used in Spec strings: "noise", "jpeg", "rain", "haze",
// "blur", "defocus" or "lowlight".
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// levelRange is the accepted Level of each kind: wide enough for any test,
// narrow enough that no level allocates or loops more than the image pays for.
var levelRange = [numKinds][2]float64{
	KindNoise:    {0, 255},
	KindJPEG:     {1, 100},
	KindRain:     {0, 0.2},
	KindHaze:     {0, 10},
	KindBlur:     {1, 64},
	KindDefocus:  {0.5, 32},
	KindLowLight: {0.01, 1},
}

// maxRainLength bounds Spec.Length (pixels).
const maxRainLength = 200

// defaultRainLength is the mean streak length when Spec.Length is 0: the
// middle of the presets' 6..28 pixel range.
const defaultRainLength = 17

// maxChain bounds how many degradations one Spec string may chain.
const maxChain = 3

// Spec is one degradation at a fixed strength, optionally followed by more
// (Then) to make a mixture such as rain then noise. Its random choices (noise
// samples, streak positions, the haze depth map ...) are drawn from the
// generator given to Apply, so a seed fixes the result.
//
// Parse reads the form String writes: "noise:60", "jpeg:10",
// "rain:0.02,30" (density, mean length), "haze:2", "blur:21", "defocus:5",
// "lowlight:0.1", and mixtures joined by "+" ("rain:0.01+noise:15").
// Then is a pointer, so compare mixtures by String, not ==.
type Spec struct {
	Kind   Kind
	Level  float64
	Length float64 // KindRain only: mean streak length in pixels (0: 17, mid-preset)
	Then   *Spec   // applied to this one's output; nil for a single degradation
}

// Noise, JPEG, ... are shorthands for single-step Specs.
func Noise(sigma float64) Spec { return Spec{Kind: KindNoise, Level: sigma} }
func JPEG(quality int) Spec    { return Spec{Kind: KindJPEG, Level: float64(quality)} }
func RainSpec(density, length float64) Spec {
	return Spec{Kind: KindRain, Level: density, Length: length}
}
func HazeSpec(beta float64) Spec       { return Spec{Kind: KindHaze, Level: beta} }
func MotionBlur(length float64) Spec   { return Spec{Kind: KindBlur, Level: length} }
func Defocus(radius float64) Spec      { return Spec{Kind: KindDefocus, Level: radius} }
func LowLightSpec(factor float64) Spec { return Spec{Kind: KindLowLight, Level: factor} }

// Mix returns s followed by t (a copy; neither is modified).
func Mix(s, t Spec) Spec {
	steps := append(s.Steps(), t.Steps()...)
	out := steps[len(steps)-1]
	for i := len(steps) - 2; i >= 0; i-- {
		st, next := steps[i], out
		st.Then = &next
		out = st
	}
	return out
}

// Steps lists the chain's degradations in the order they are applied.
func (s Spec) Steps() []Spec {
	var out []Spec
	for p := &s; p != nil; p = p.Then {
		step := *p
		step.Then = nil
		out = append(out, step)
	}
	return out
}

// String is the form Parse reads, e.g. "rain:0.02,30+noise:15".
func (s Spec) String() string {
	var parts []string
	for _, st := range s.Steps() {
		p := st.Kind.String() + ":" + strconv.FormatFloat(st.Level, 'g', -1, 64)
		if st.Kind == KindRain && st.Length != 0 {
			p += "," + strconv.FormatFloat(st.Length, 'g', -1, 64)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "+")
}

// Validate reports the first step whose parameters are out of range.
func (s Spec) Validate() error {
	steps := s.Steps()
	if len(steps) > maxChain {
		return fmt.Errorf("data: %d degradations chained; at most %d", len(steps), maxChain)
	}
	for _, st := range steps {
		if st.Kind < 0 || st.Kind >= numKinds {
			return fmt.Errorf("data: invalid degradation kind %d", int(st.Kind))
		}
		r := levelRange[st.Kind]
		lo, hi := r[0], r[1]
		if math.IsNaN(st.Level) || st.Level < lo || st.Level > hi || (st.Level == lo && lo == 0) {
			return fmt.Errorf("data: %s level %v out of range %s", st.Kind, st.Level, rangeText(st.Kind))
		}
		if st.Kind == KindJPEG && st.Level != math.Trunc(st.Level) {
			return fmt.Errorf("data: jpeg quality %v must be a whole number 1..100", st.Level)
		}
		if st.Length != 0 {
			if st.Kind != KindRain {
				return fmt.Errorf("data: %s takes no length (only rain does)", st.Kind)
			}
			if math.IsNaN(st.Length) || st.Length < 1 || st.Length > maxRainLength {
				return fmt.Errorf("data: rain length %v out of range [1, %d] pixels", st.Length, maxRainLength)
			}
		}
	}
	return nil
}

func rangeText(k Kind) string {
	r := levelRange[k]
	if r[0] == 0 {
		return fmt.Sprintf("(0, %g]", r[1])
	}
	return fmt.Sprintf("[%g, %g]", r[0], r[1])
}

// ParseSpec reads a Spec from the form String writes. Names are
// case-insensitive; every error names the offending part.
func ParseSpec(text string) (Spec, error) {
	if len(text) > 200 {
		return Spec{}, fmt.Errorf("data: degradation spec of %d characters is too long", len(text))
	}
	parts := strings.Split(text, "+")
	if len(parts) > maxChain {
		return Spec{}, fmt.Errorf("data: %q chains %d degradations; at most %d", text, len(parts), maxChain)
	}
	var steps []Spec
	for _, p := range parts {
		st, err := parseStep(strings.TrimSpace(p))
		if err != nil {
			return Spec{}, fmt.Errorf("data: degradation %q: %w", text, err)
		}
		steps = append(steps, st)
	}
	s := steps[0]
	for _, t := range steps[1:] {
		s = Mix(s, t)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

func parseStep(p string) (Spec, error) {
	name, args, ok := strings.Cut(p, ":")
	if !ok {
		return Spec{}, fmt.Errorf("%q: want kind:level, e.g. noise:60", p)
	}
	kind := Kind(-1)
	for i, n := range kindNames {
		if strings.EqualFold(strings.TrimSpace(name), n) {
			kind = Kind(i)
		}
	}
	if kind < 0 {
		return Spec{}, fmt.Errorf("unknown kind %q (want one of %s)", name, strings.Join(kindNames[:], ", "))
	}
	nums := strings.Split(args, ",")
	if len(nums) > 2 || (len(nums) == 2 && kind != KindRain) {
		return Spec{}, fmt.Errorf("%q: too many numbers (only rain takes two: density,length)", p)
	}
	st := Spec{Kind: kind}
	for i, n := range nums {
		v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return Spec{}, fmt.Errorf("%q: %q is not a number", p, n)
		}
		if i == 0 {
			st.Level = v
		} else {
			st.Length = v
		}
	}
	return st, nil
}

// Apply returns a degraded copy of clean, every step in order, drawing all
// random choices from rng; an invalid Spec is an error. Results are
// quantised to 8-bit levels.
//
// The steps reuse the presets' models (Degradation.Apply) with the strength
// fixed and the other choices drawn as the presets draw them:
//   - noise: the authors' uint8 form, uint8(clip(v + sigma n, 0, 255));
//   - jpeg: Go's image/jpeg encoder at the quality, decoded as libjpeg does
//     (see jpegRoundTrip for how it differs from PIL's encoder);
//   - rain: angle in ±25°, lengths in 0.75..1.25 × Length, brightness
//     0.35..0.6, as the rain preset;
//   - haze: airlight and depth map as the haze preset;
//   - blur: a motion line of the length at a random angle; defocus: a disk;
//   - lowlight: Level × J^gamma with gamma 1.4..2.2 and sensor noise sigma
//     1..5 (0..255 scale), as the low-light preset.
func (s Spec) Apply(clean *Image, rng *rand.Rand) (*Image, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out := clean
	for _, st := range s.Steps() {
		var err error
		if out, err = st.applyStep(out, rng); err != nil {
			return nil, err
		}
	}
	if out == clean {
		out = clean.Clone()
	}
	out.Name = clean.Name + "+" + s.String()
	return out, nil
}

func (s Spec) applyStep(in *Image, rng *rand.Rand) (*Image, error) {
	switch s.Kind {
	case KindNoise:
		return addGaussianNoise(in, s.Level, rng), nil
	case KindJPEG:
		return jpegRoundTrip(in, int(s.Level))
	case KindRain:
		length := s.Length
		if length == 0 {
			length = defaultRainLength
		}
		angle := uniform(rng, -25, 25) * math.Pi / 180
		amp := uniform(rng, 0.35, 0.6)
		return rainWith(in, rng, rainParams{angle: angle, density: s.Level,
			lmin: 0.75 * length, lmax: 1.25 * length, amp: amp}), nil
	case KindHaze:
		return hazeWith(in, rng, s.Level), nil
	case KindBlur:
		return blurWith(in, lineKernel(s.Level, uniform(rng, 0, math.Pi))), nil
	case KindDefocus:
		return blurWith(in, diskKernel(s.Level)), nil
	case KindLowLight:
		gamma := uniform(rng, 1.4, 2.2)
		return darkenWith(in, rng, gamma, s.Level, uniform(rng, 1, 5)), nil
	}
	return nil, fmt.Errorf("data: invalid degradation kind %d", int(s.Kind))
}

// jpegRoundTrip encodes im with Go's image/jpeg at quality and decodes it as
// libjpeg would (Decode).
//
// Go's encoder is close to, not the same as, the libjpeg-turbo that PIL's
// Image.save(quality=q) uses: both scale the standard (Annex K) tables by
// libjpeg's quality formula and subsample chroma 4:2:0 (PIL's default), but
// Go converts RGB to YCbCr with its own fixed-point rounding
// (color.RGBToYCbCr) and averages each 2x2 chroma block with a fixed
// rounding bias where libjpeg alternates it. The decoded pixels differ by a
// few levels: on an embedded photo the two outputs are 44 dB apart at
// quality 10 and their PSNRs against the clean image agree to 0.01 dB
// (TestJPEGMatchesPIL).
func jpegRoundTrip(im *Image, quality int) (*Image, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, im.ToNRGBA(), &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("data: jpeg encode: %w", err)
	}
	out, err := Decode(&buf, im.Name)
	if err != nil {
		return nil, fmt.Errorf("data: jpeg decode: %w", err)
	}
	if out.H != im.H || out.W != im.W {
		return nil, errors.New("data: jpeg round trip changed the image size")
	}
	return out, nil
}
