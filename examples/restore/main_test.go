package main

import (
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
)

// The fixture is a dim-4 BaryNet with random weights made in PyTorch by
// testdata/gen_network.py, with its input batch and outputs.
const fixture = "../../testdata/network.safetensors"

func fixtureWeights(t *testing.T, dir string) (string, baryir.StateDict) {
	fix, err := baryir.ReadWeights(fixture)
	require.NoError(t, err)
	sd := baryir.StateDict{}
	for k, v := range fix {
		if name, ok := strings.CutPrefix(k, "barynet/weights/"); ok {
			sd[name] = v
		}
	}
	path := filepath.Join(dir, "barynet.safetensors")
	require.NoError(t, baryir.WriteWeights(path, sd))
	return path, fix
}

// opts are the flags' defaults with the given paths.
func opts(weights, in, out string) options {
	return options{weights: weights, in: in, out: out, memoryMiB: 2048, overlap: 32, passes: 3, maxPixels: data.DefaultMaxPixels, device: "cpu"}
}

// firstOf returns sample 0 of a (B, 3, H, W) fixture tensor.
func firstOf(t baryir.Tensor) []float32 {
	v := make([]float32, 3*t.Shape[2]*t.Shape[3])
	for i := range v {
		v[i] = float32(t.Data[i])
	}
	return v
}

func TestRestoreMatchesPyTorch(t *testing.T) {
	dir := t.TempDir()
	weights, fix := fixtureWeights(t, dir)
	in := fix["input"]
	h, w := in.Shape[2], in.Shape[3]
	inPath := filepath.Join(dir, "in.npy")
	require.NoError(t, data.WriteNPY(inPath, firstOf(in), []int{1, 3, h, w}))
	want := firstOf(fix["barynet/output"])

	for name, wpath := range map[string]string{"safetensors": weights, "pth": "../../testdata/barynet_tiny.pth"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name+".npy")
			require.NoError(t, run(opts(wpath, inPath, out), io.Discard))
			got, shape, err := data.ReadNPY(out)
			require.NoError(t, err)
			require.Equal(t, []int{1, 3, h, w}, shape)
			worst := 0.0
			for i, v := range want {
				clipped := math.Min(math.Max(float64(v), 0), 1) // the authors' test script clamps too
				worst = math.Max(worst, math.Abs(float64(got[i])-clipped))
			}
			t.Logf("%s: max abs error against PyTorch %.3g", name, worst)
			require.LessOrEqual(t, worst, 1e-3, "max abs error against PyTorch")
		})
	}
}

func TestRestoreFolderAndTiles(t *testing.T) {
	dir := t.TempDir()
	weights, _ := fixtureWeights(t, dir)
	in := filepath.Join(dir, "in")
	require.NoError(t, os.Mkdir(in, 0o755))
	im := data.NewImage("odd", 37, 45) // not a multiple of 8, larger than one tile
	for i := range im.Pix {
		im.Pix[i] = float32(i%97) / 97
	}
	require.NoError(t, data.Save(filepath.Join(in, "a.png"), im))
	require.NoError(t, data.Save(filepath.Join(in, "b.npy"), im))
	require.NoError(t, os.WriteFile(filepath.Join(in, "notes.txt"), []byte("skip me"), 0o644))
	out := filepath.Join(dir, "out")
	o := opts(weights, in, out)
	o.tile, o.overlap = 16, 8
	require.NoError(t, run(o, io.Discard))
	for _, name := range []string{"a.png", "b.npy"} {
		got, err := data.Load(filepath.Join(out, name))
		require.NoError(t, err)
		require.Equal(t, [2]int{37, 45}, [2]int{got.H, got.W})
		for _, v := range got.Pix {
			require.True(t, v >= 0 && v <= 1, "value %v outside [0,1]", v)
		}
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 2, "only the two restored images, no temporary files")
}

func TestRestoreErrors(t *testing.T) {
	dir := t.TempDir()
	weights, _ := fixtureWeights(t, dir)
	small := filepath.Join(dir, "small.png")
	require.NoError(t, data.Save(small, data.NewImage("small", 4, 4)))
	notImage := filepath.Join(dir, "not.png")
	require.NoError(t, os.WriteFile(notImage, []byte("hello"), 0o644))
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	require.NoError(t, os.WriteFile(corrupt, []byte("garbage!garbage!"), 0o644))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.Mkdir(empty, 0o755))
	cases := []struct{ name, weights, in, want string }{
		{"missing weights", filepath.Join(dir, "nope.pth"), small, "nope.pth"},
		{"corrupt weights", corrupt, small, "corrupt.safetensors"},
		{"small image", weights, small, "at least 8x8"},
		{"not an image", weights, notImage, "not.png"},
		{"empty folder", weights, empty, "no images"},
		{"missing input", weights, filepath.Join(dir, "absent.png"), "absent.png"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-")+".png")
			err := run(opts(c.weights, c.in, out), io.Discard)
			require.ErrorContains(t, err, c.want)
			_, statErr := os.Stat(out)
			require.True(t, os.IsNotExist(statErr), "nothing written on error")
		})
	}
}

// npyOptions are the default options restoring the fixture's input, written
// as .npy in a temporary folder, to out.npy beside it.
func npyOptions(t *testing.T) options {
	dir := t.TempDir()
	weights, fix := fixtureWeights(t, dir)
	in := fix["input"]
	inPath := filepath.Join(dir, "in.npy")
	require.NoError(t, data.WriteNPY(inPath, firstOf(in), []int{1, 3, in.Shape[2], in.Shape[3]}))
	return opts(weights, inPath, filepath.Join(dir, "out.npy"))
}

func TestDeviceFlag(t *testing.T) {
	o := npyOptions(t)
	o.device = "tpu"
	err := run(o, io.Discard)
	require.ErrorContains(t, err, `unknown device "tpu"`)
	if !baryir.GPUAvailable {
		o.device = "gpu"
		err = run(o, io.Discard)
		require.ErrorContains(t, err, "-tags baryirgpu")
	}
}

func TestCompareAndPNG16(t *testing.T) {
	dir := t.TempDir()
	weights, _ := fixtureWeights(t, dir)
	clean := data.EmbeddedTest()[0]
	clean, err := clean.Crop(0, 0, 40, 48)
	require.NoError(t, err)
	noisy := data.Noise25.Apply(clean, rand.New(rand.NewPCG(1, 2)))
	in, cleanPath := filepath.Join(dir, "noisy.png"), filepath.Join(dir, "clean.png")
	require.NoError(t, data.Save(in, noisy))
	require.NoError(t, data.Save(cleanPath, clean))

	out := filepath.Join(dir, "restored.png")
	require.NoError(t, run(withOuts(opts(weights, in, out), cleanPath, true), io.Discard))
	f, err := os.Open(out)
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(f)
	f.Close()
	require.NoError(t, err)
	require.Equal(t, color.RGBA64Model, cfg.ColorModel, "a 16-bit PNG")
	side, err := data.Load(filepath.Join(dir, "restored_compare.png"))
	require.NoError(t, err)
	require.Greater(t, side.W, 3*48, "three pictures side by side")
	require.Greater(t, side.H, 40+2*14, "a title above, captions below")

	// a folder with -png16: every output a .png, even from .npy
	folder := filepath.Join(dir, "in")
	require.NoError(t, os.Mkdir(folder, 0o755))
	require.NoError(t, data.Save(filepath.Join(folder, "a.npy"), noisy))
	require.NoError(t, run(withOuts(opts(weights, folder, filepath.Join(dir, "out")), "", true), io.Discard))
	_, err = data.Load(filepath.Join(dir, "out", "a.png"))
	require.NoError(t, err)

	small := filepath.Join(dir, "small.png")
	require.NoError(t, data.Save(small, data.NewImage("small", 16, 16)))
	for _, c := range []struct {
		name, in, out string
		outs          options
		want          string
	}{
		{"compare a folder", folder, filepath.Join(dir, "o1"), options{compare: cleanPath}, "one input image"},
		{"compare sizes", small, filepath.Join(dir, "o2.png"), options{compare: cleanPath}, "clean image is 48x40, the input 16x16"},
		{"compare missing", small, filepath.Join(dir, "o3.png"), options{compare: filepath.Join(dir, "nope.png")}, "nope.png"},
		{"png16 to npy", small, filepath.Join(dir, "o4.npy"), options{png16: true}, "does not end in .png"},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorContains(t, run(withOuts(opts(weights, c.in, c.out), c.outs.compare, c.outs.png16), io.Discard), c.want)
			_, statErr := os.Stat(c.out)
			require.True(t, os.IsNotExist(statErr), "nothing written on error")
		})
	}
}

// withOuts sets the -compare and -png16 options.
func withOuts(o options, compare string, png16 bool) options {
	o.compare, o.png16 = compare, png16
	return o
}

// TestArgumentsCheckedFirst gives damaged weights with each bad argument:
// the argument's error must come, not the weights'.
func TestArgumentsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	require.NoError(t, os.WriteFile(corrupt, []byte("garbage!garbage!"), 0o644))
	img := filepath.Join(dir, "a.png")
	require.NoError(t, data.Save(img, data.NewImage("a", 8, 8)))
	folder := filepath.Join(dir, "in")
	require.NoError(t, os.Mkdir(folder, 0o755))
	require.NoError(t, data.Save(filepath.Join(folder, "x.png"), data.NewImage("x", 8, 8)))
	require.NoError(t, os.WriteFile(filepath.Join(folder, "x.bmp"), []byte("BM"), 0o644))
	cases := []struct {
		name string
		edit func(*options)
		want string
	}{
		{"tile not a multiple of 8", func(o *options) { o.tile = 12 }, "-tile 12"},
		{"negative tile", func(o *options) { o.tile = -8 }, "-tile -8"},
		{"no passes", func(o *options) { o.passes = 0 }, "-passes 0"},
		{"overlap as large as the tile", func(o *options) { o.tile = 256; o.overlap = 256 }, "-overlap 256"},
		{"no overlap", func(o *options) { o.overlap = 0 }, "-overlap 0"},
		{"no memory", func(o *options) { o.memoryMiB = 0 }, "-memory-mib 0"},
		{"max-pixels zero", func(o *options) { o.maxPixels = 0 }, "-max-pixels 0"},
		{"unknown device", func(o *options) { o.device = "tpu" }, `unknown device "tpu"`},
		{"output format", func(o *options) { o.out = filepath.Join(dir, "out.bmp") }, "unknown output format"},
		{"output folder missing", func(o *options) { o.out = filepath.Join(dir, "no", "out.png") }, "does not exist"},
		{"output is the input", func(o *options) { o.out = img }, "would overwrite the input"},
		{"output folder holds the input", func(o *options) { o.out = dir }, "would overwrite the input"},
		{"same folder", func(o *options) { o.in, o.out = folder, folder }, "is the input folder"},
		{"folder into a file", func(o *options) { o.in, o.out = folder, img }, "must be a folder too"},
		{"two inputs, one output", func(o *options) { o.in, o.out = folder, filepath.Join(dir, "out") }, "would both be written to"},
		{"input not an image", func(o *options) { o.in = corrupt }, "not an image this command reads"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := opts(corrupt, img, filepath.Join(dir, "out.png"))
			c.edit(&o)
			err := run(o, io.Discard)
			require.ErrorContains(t, err, c.want)
			require.NotContains(t, err.Error(), "header", "the weights were read first")
		})
	}
}

// TestFolderGoesOnPastBadFiles: every image is tried, each failure is
// listed, and BMP, TIFF and WebP inputs come out as PNG, in folder and file
// mode alike.
func TestFolderGoesOnPastBadFiles(t *testing.T) {
	dir := t.TempDir()
	weights, _ := fixtureWeights(t, dir)
	in := filepath.Join(dir, "in")
	require.NoError(t, os.Mkdir(in, 0o755))
	im := data.NewImage("x", 16, 16)
	for i := range im.Pix {
		im.Pix[i] = float32(i%13) / 13
	}
	require.NoError(t, data.Save(filepath.Join(in, "a.png"), im))
	require.NoError(t, os.WriteFile(filepath.Join(in, "b.png"), []byte("not a png"), 0o644))
	webp, err := os.ReadFile("../../data/testdata/images/lossless.webp")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(in, "c.webp"), webp, 0o644)) // 7x4: too small for the network
	require.NoError(t, data.Save(filepath.Join(in, "d.npy"), im))
	require.NoError(t, os.WriteFile(filepath.Join(in, "e.BMP"), bmp24(t, im), 0o644))
	out := filepath.Join(dir, "out")
	err = run(opts(weights, in, out), io.Discard)
	require.ErrorContains(t, err, "2 of 5 images failed")
	require.ErrorContains(t, err, "b.png")
	require.ErrorContains(t, err, "c.webp")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"a.png", "d.npy", "e.png"}, names)

	// File mode into a folder names the output the same way.
	single := filepath.Join(dir, "single")
	require.NoError(t, os.Mkdir(single, 0o755))
	require.NoError(t, run(opts(weights, filepath.Join(in, "e.BMP"), single), io.Discard))
	_, err = os.Stat(filepath.Join(single, "e.png"))
	require.NoError(t, err)
	// And -max-pixels refuses an image larger than it, naming the file.
	o := opts(weights, filepath.Join(in, "a.png"), filepath.Join(dir, "big.png"))
	o.maxPixels = 255
	require.ErrorContains(t, run(o, io.Discard), `a.png": image is 16x16, more than the limit of 255 pixels`)
}

// bmp24 encodes im as a 24-bit bottom-up BMP (x/image/bmp reads, the test writes).
func bmp24(t *testing.T, im *data.Image) []byte {
	t.Helper()
	var b []byte
	le := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	stride := (3*im.W + 3) &^ 3
	b = append(b, 'B', 'M')
	le(uint32(54 + stride*im.H))
	le(0)
	le(54)
	le(40)
	le(uint32(im.W))
	le(uint32(im.H))
	b = append(b, 1, 0, 24, 0)
	for range 6 {
		le(0)
	}
	nrgba := im.ToNRGBA()
	for y := im.H - 1; y >= 0; y-- {
		row := make([]byte, stride)
		for x := 0; x < im.W; x++ {
			p := nrgba.Pix[y*nrgba.Stride+4*x:]
			row[3*x], row[3*x+1], row[3*x+2] = p[2], p[1], p[0]
		}
		b = append(b, row...)
	}
	return b
}

// -precision: unknown names, and TF32/BF16 on the CPU, are errors.
func TestPrecisionFlag(t *testing.T) {
	o := npyOptions(t)
	o.precision = "fp16"
	require.ErrorContains(t, run(o, io.Discard), `-precision: baryir: unknown precision "fp16"`)
	o.precision = "bf16"
	require.ErrorContains(t, run(o, io.Discard), "-precision bf16: needs -device gpu")
	o.precision = "fp32"
	require.NoError(t, run(o, io.Discard))
}

// PromptIR's released checkpoint layout (a Lightning .ckpt) restores as
// PyTorch's PromptIR does, its network inferred from the weights.
func TestRestorePromptIRCheckpoint(t *testing.T) {
	fix, err := baryir.ReadWeights("../../testdata/promptir.safetensors")
	require.NoError(t, err)
	dir := t.TempDir()
	in := fix["input"]
	h, w := in.Shape[2], in.Shape[3]
	inPath, out := filepath.Join(dir, "in.npy"), filepath.Join(dir, "out.npy")
	require.NoError(t, data.WriteNPY(inPath, firstOf(in), []int{1, 3, h, w}))
	require.NoError(t, run(opts("../../testdata/promptir_tiny.ckpt", inPath, out), io.Discard))
	got, _, err := data.ReadNPY(out)
	require.NoError(t, err)
	worst := 0.0
	for i, v := range firstOf(fix["promptir/output"]) {
		worst = math.Max(worst, math.Abs(float64(got[i])-math.Min(math.Max(float64(v), 0), 1)))
	}
	t.Logf("max abs error against PyTorch %.3g", worst)
	require.LessOrEqual(t, worst, 1e-4)
}
