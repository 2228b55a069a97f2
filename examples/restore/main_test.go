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

// firstOf returns sample 0 of a (B, 3, H, W) fixture tensor.
func firstOf(t baryir.Tensor) []float32 {
	return t.F32()[:3*t.Shape[2]*t.Shape[3]]
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
			require.NoError(t, run(wpath, inPath, out, 256, 32, "cpu", outputs{}, io.Discard))
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
	require.NoError(t, run(weights, in, out, 16, 8, "cpu", outputs{}, io.Discard))
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
			err := run(c.weights, c.in, out, 256, 32, "cpu", outputs{}, io.Discard)
			require.ErrorContains(t, err, c.want)
			_, statErr := os.Stat(out)
			require.True(t, os.IsNotExist(statErr), "nothing written on error")
		})
	}
}

func TestDeviceFlag(t *testing.T) {
	dir := t.TempDir()
	weights, fix := fixtureWeights(t, dir)
	in := fix["input"]
	inPath := filepath.Join(dir, "in.npy")
	require.NoError(t, data.WriteNPY(inPath, firstOf(in), []int{1, 3, in.Shape[2], in.Shape[3]}))
	err := run(weights, inPath, filepath.Join(dir, "out.npy"), 256, 32, "tpu", outputs{}, io.Discard)
	require.ErrorContains(t, err, `unknown device "tpu"`)
	if !baryir.GPUAvailable {
		err = run(weights, inPath, filepath.Join(dir, "out.npy"), 256, 32, "gpu", outputs{}, io.Discard)
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
	require.NoError(t, run(weights, in, out, 256, 32, "cpu", outputs{compare: cleanPath, png16: true}, io.Discard))
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
	require.NoError(t, run(weights, folder, filepath.Join(dir, "out"), 256, 32, "cpu", outputs{png16: true}, io.Discard))
	_, err = data.Load(filepath.Join(dir, "out", "a.png"))
	require.NoError(t, err)

	small := filepath.Join(dir, "small.png")
	require.NoError(t, data.Save(small, data.NewImage("small", 16, 16)))
	for _, c := range []struct {
		name, in, out string
		outs          outputs
		want          string
	}{
		{"compare a folder", folder, filepath.Join(dir, "o1"), outputs{compare: cleanPath}, "one input image"},
		{"compare sizes", small, filepath.Join(dir, "o2.png"), outputs{compare: cleanPath}, "clean image is 48x40, the input 16x16"},
		{"compare missing", small, filepath.Join(dir, "o3.png"), outputs{compare: filepath.Join(dir, "nope.png")}, "nope.png"},
		{"png16 to npy", small, filepath.Join(dir, "o4.npy"), outputs{png16: true}, "does not end in .png"},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorContains(t, run(weights, c.in, c.out, 256, 32, "cpu", c.outs, io.Discard), c.want)
			_, statErr := os.Stat(c.out)
			require.True(t, os.IsNotExist(statErr), "nothing written on error")
		})
	}
}
