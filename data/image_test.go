package data

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func randomImage(name string, h, w int, seed uint64) *Image {
	rng := rand.New(rand.NewPCG(seed, 1))
	im := NewImage(name, h, w)
	for i := range im.Pix {
		im.Pix[i] = float32(rng.IntN(256)) / 255
	}
	return im
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	// smooth content with 8-bit values, so JPEG's error stays small
	im := NewImage("rt", 13, 17)
	for c := 0; c < 3; c++ {
		for y := 0; y < im.H; y++ {
			for x := 0; x < im.W; x++ {
				im.Pix[c*im.H*im.W+y*im.W+x] = float32(20+6*y+4*x+30*c) / 255 // at most 216
			}
		}
	}
	tests := []struct {
		ext     string
		maxDiff float32
	}{
		{".png", 0},     // 8-bit values survive exactly
		{".npy", 0},     // raw float32
		{".jpg", 0.05},  // lossy (quality 95)
		{".JPEG", 0.05}, // extension case does not matter
	}
	for _, tc := range tests {
		t.Run(tc.ext, func(t *testing.T) {
			path := filepath.Join(dir, "img"+tc.ext)
			require.NoError(t, Save(path, im))
			got, err := Load(path)
			require.NoError(t, err)
			require.Equal(t, [2]int{im.H, im.W}, [2]int{got.H, got.W})
			var worst float32
			for i := range im.Pix {
				worst = max(worst, abs32(im.Pix[i]-got.Pix[i]))
			}
			require.LessOrEqual(t, worst, tc.maxDiff)
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, len(tests), "atomic writes leave no temporary files")
}

func TestNPYKeepsValuesOutsideRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.npy")
	im := NewImage("x", 2, 3)
	for i := range im.Pix {
		im.Pix[i] = float32(i)*0.37 - 1.1
	}
	require.NoError(t, Save(path, im))
	vals, shape, err := ReadNPY(path)
	require.NoError(t, err)
	require.Equal(t, []int{1, 3, 2, 3}, shape)
	require.Equal(t, im.Pix, vals)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Zero(t, (len(raw)-4*len(vals))%64, "data starts 64-byte aligned")
}

func TestDecodeConversions(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix = []uint8{0, 200}
	g16 := image.NewGray16(image.Rect(0, 0, 1, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 65535})
	nrgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nrgba.SetNRGBA(0, 0, color.NRGBA{R: 10, G: 20, B: 30, A: 0}) // transparent: colour kept, alpha dropped
	tests := []struct {
		name string
		src  image.Image
		want []float32
	}{
		{"gray replicated", gray, []float32{0, 200. / 255, 0, 200. / 255, 0, 200. / 255}},
		{"16-bit", g16, []float32{1, 1, 1}},
		{"alpha dropped", nrgba, []float32{10. / 255, 20. / 255, 30. / 255}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, png.Encode(&buf, tc.src))
			im, err := Decode(&buf, tc.name)
			require.NoError(t, err)
			require.Equal(t, tc.want, im.Pix)
		})
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.png")
	require.NoError(t, os.WriteFile(corrupt, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644))
	text := filepath.Join(dir, "notes.jpg")
	require.NoError(t, os.WriteFile(text, []byte("hello"), 0o644))
	badNPY := filepath.Join(dir, "shape.npy")
	require.NoError(t, WriteNPY(badNPY, make([]float32, 8), []int{2, 4}))
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing.png"), "missing.png"},
		{"corrupt png", corrupt, `corrupt.png": not a decodable`},
		{"text", text, `notes.jpg": not a decodable`},
		{"npy shape", badNPY, `shape.npy": .npy shape [2 4]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.ErrorContains(t, Save(filepath.Join(dir, "x.bmp"), NewImage("x", 1, 1)), "unknown extension")
}

func TestStackSplit(t *testing.T) {
	a, b := randomImage("a", 4, 5, 1), randomImage("b", 4, 5, 2)
	batch, err := Stack([]*Image{a, b})
	require.NoError(t, err)
	require.Len(t, batch, 2*3*4*5)
	require.Equal(t, b.Pix[7], batch[3*4*5+7])
	back, err := Split(batch, 2, 4, 5)
	require.NoError(t, err)
	require.Equal(t, a.Pix, back[0].Pix)
	require.Equal(t, b.Pix, back[1].Pix)

	_, err = Stack([]*Image{a, randomImage("c", 5, 4, 3)})
	require.ErrorContains(t, err, "c is 5x4")
	_, err = Split(batch, 3, 4, 5)
	require.Error(t, err)
}

func TestCropToMultiple(t *testing.T) {
	im := randomImage("m", 37, 20, 4)
	got, err := CropToMultiple(im, 16)
	require.NoError(t, err)
	require.Equal(t, [2]int{32, 16}, [2]int{got.H, got.W})
	// centred: 5 rows and 4 columns removed, 2 above and 2 left
	require.Equal(t, im.Pix[2*20+2], got.Pix[0])
	require.Equal(t, im.Pix[2*37*20+(2+31)*20+2+15], got.Pix[2*32*16+31*16+15])
	_, err = CropToMultiple(randomImage("small", 10, 40, 5), 16)
	require.ErrorContains(t, err, `small": 10x40 image is smaller than 16`)
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// An Image is an image.Image: At reads the float pixels clipped and
// quantised to 16 bits, so png.Encode writes a 16-bit PNG that reads back
// within 1/65535, and FromImage of an Image copies it exactly.
func TestImageIsAnImage(t *testing.T) {
	im := NewImage("a", 2, 3)
	copy(im.Pix, []float32{0, 0.5, 1, -0.25, 1.5, 0.25, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 0, 0.123456})
	var src image.Image = im
	require.Equal(t, image.Rect(0, 0, 3, 2), src.Bounds())
	require.Equal(t, color.RGBA64Model, src.ColorModel())
	require.Equal(t, color.RGBA64{R: 0, G: 6554, B: 45874, A: 0xffff}, src.At(0, 0)) // 0, 0.1, 0.7 (0.69999999 in float32)
	require.Equal(t, color.RGBA64{R: 65535, G: 32768, B: 0, A: 0xffff}, src.At(1, 1), "1.5, 0.5, 0: clipped to [0,1]")
	require.Equal(t, color.RGBA64{}, src.At(3, 0), "outside the bounds")
	require.Equal(t, color.RGBA64{}, (&Image{H: 2, W: 2, Pix: make([]float32, 3)}).At(0, 0), "Pix of the wrong length")

	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, im))
	back, err := Decode(&buf, "a.png")
	require.NoError(t, err)
	for i, v := range im.Pix {
		require.InDelta(t, clip01(v), back.Pix[i], 0.5/65535+1e-7, "value %d", i)
	}

	c := FromImage("b", im)
	require.Equal(t, im.Pix, c.Pix)
	require.Equal(t, "b", c.Name)
	c.Pix[0] = 1
	require.Zero(t, im.Pix[0], "FromImage copies")
}
