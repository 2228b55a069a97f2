package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/tiff"
)

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(append(b, typ...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// craftedPNG is a 69-byte PNG whose header claims w x h RGB pixels.
func craftedPNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	b = append(b, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0, 0, 0, 0, 1})...)
	return append(b, pngChunk("IEND", nil)...)
}

// craftedBMP is a 54-byte BMP header (plus palette room) claiming w x h at bpp
// bits with the given palette count.
func craftedBMP(w, h int32, bpp uint16, colors uint32) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("BM")
	binary.Write(&b, le, []uint32{1 << 30, 0, 54 + 4*min(colors, 256), 40})
	binary.Write(&b, le, []int32{w, h})
	binary.Write(&b, le, []uint16{1, bpp})
	binary.Write(&b, le, []uint32{0, 0, 2835, 2835, colors, 0})
	b.Write(make([]byte, 64))
	return b.Bytes()
}

// craftedJPEG is SOI, a JFIF APP0 and a baseline SOF0 claiming w x h, then EOI.
func craftedJPEG(w, h uint16) []byte {
	app0 := []byte{0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	sof := []byte{0xff, 0xc0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,
		1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0}
	return append(append(append([]byte{0xff, 0xd8}, app0...), sof...), 0xff, 0xd9)
}

// craftedTIFF is a little-endian TIFF whose one IFD claims w x h 8-bit grey.
func craftedTIFF(w, h uint32) []byte {
	le := binary.LittleEndian
	b := []byte("II*\x00\x08\x00\x00\x00")
	tags := [][3]uint32{{256, 4, w}, {257, 4, h}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1}, {273, 4, 8}, {277, 3, 1}, {278, 4, h}, {279, 4, 1}}
	b = le.AppendUint16(b, uint16(len(tags)))
	for _, t := range tags {
		b = le.AppendUint16(b, uint16(t[0]))
		b = le.AppendUint16(b, uint16(t[1]))
		b = le.AppendUint32(b, 1)
		b = le.AppendUint32(b, t[2])
	}
	return le.AppendUint32(b, 0)
}

// craftedWebP is a lossless WebP header claiming w x h (at most 16384 each).
func craftedWebP(w, h uint32) []byte {
	bitsWH := (w - 1) | (h-1)<<14
	vp8l := []byte{0x2f, byte(bitsWH), byte(bitsWH >> 8), byte(bitsWH >> 16), byte(bitsWH >> 24), 0, 0, 0}
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(4+8+len(vp8l)))
	b = append(b, "WEBPVP8L"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vp8l)))
	return append(b, vp8l...)
}

// craftedNPY is a .npy header claiming shape, with 16 bytes of data.
func craftedNPY(shape string) []byte {
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape)
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	b := append([]byte(npyMagic), 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	return append(append(b, h...), make([]byte, 16)...)
}

// hostileImages are files of a few hundred bytes at most whose headers claim
// more than they hold, with the words each error must contain.
var hostileImages = []struct {
	name string
	raw  []byte
	says string
}{
	{"huge.png", craftedPNG(100000, 100000), "more than the limit of 64000000 pixels"},
	{"wide.png", craftedPNG(1<<31-1, 1), "more than the limit"},
	{"huge.jpg", craftedJPEG(65535, 65535), "more than the limit"},
	{"huge.bmp", craftedBMP(30000, 30000, 24, 0), "more than the limit"},
	{"negative.bmp", craftedBMP(-5, 30000, 24, 0), "not a decodable"},
	{"palette.bmp", craftedBMP(4, 4, 8, 0xFFFFFFFF), "not a decodable"},
	{"huge.tif", craftedTIFF(100000, 100000), "more than the limit"},
	{"huge.webp", craftedWebP(16384, 16384), "more than the limit"},
	{"truncated.png", craftedPNG(16, 16), "not a decodable"},
	{"empty.png", craftedPNG(0, 0), "not a decodable"},
	{"nothing.png", nil, "not a decodable"},
}

func TestHostileImages(t *testing.T) {
	dir := t.TempDir()
	for _, c := range hostileImages {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			require.NoError(t, os.WriteFile(p, c.raw, 0o644))
			_, err := Load(p)
			require.ErrorContains(t, err, c.says)
			require.ErrorContains(t, err, p)
		})
	}
}

func TestHostileNPY(t *testing.T) {
	cases := []struct{ shape, says string }{
		{"1, 3, 4294967296, 4294967296", "needs more than the 16 bytes"},
		{"1, 3, 0, 9223372036854775807", "shape [1 3 0 9223372036854775807] needs 0"},
		{"9223372036854775807, 9223372036854775807", "needs more than"},
		{"1, 3, -1, 4", "want a non-negative int"},
		{"1, 3, 2, 2", "shape [1 3 2 2] needs more than the 16 bytes"},
		{"1, 3, 1, 1", "data has 16 bytes, shape [1 3 1 1] needs 12"},
		{"2, 2", "not (1,3,H,W)"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, "x.npy")
		require.NoError(t, os.WriteFile(p, craftedNPY(c.shape), 0o644))
		_, err := Load(p)
		require.ErrorContains(t, err, c.says, c.shape)
	}
	empty := craftedNPY("1, 3, 0, 4")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty.npy"), empty[:len(empty)-16], 0o644))
	_, err := Load(filepath.Join(dir, "empty.npy"))
	require.ErrorContains(t, err, "empty image")
}

func TestLoaderMaxPixels(t *testing.T) {
	dir := t.TempDir()
	im := randomImage("x", 4, 6, 3)
	p := filepath.Join(dir, "x.png")
	require.NoError(t, Save(p, im))
	q := filepath.Join(dir, "x.npy")
	require.NoError(t, Save(q, im))
	for _, path := range []string{p, q} {
		_, err := Loader{MaxPixels: 23}.Load(path)
		require.ErrorContains(t, err, "image is 6x4, more than the limit of 23 pixels", path)
		got, err := Loader{MaxPixels: 24}.Load(path)
		require.NoError(t, err, path)
		require.Equal(t, im.Pix, got.Pix, path)
	}
}

// TestPalettedTransparencyMatchesPIL: entries with alpha 0 keep their
// colour, as PIL's convert('RGB') does (palette_trns_rgb.png is its output).
func TestPalettedTransparencyMatchesPIL(t *testing.T) {
	got, err := Load(filepath.Join("testdata", "images", "palette_trns.png"))
	require.NoError(t, err)
	want, err := Load(filepath.Join("testdata", "images", "palette_trns_rgb.png"))
	require.NoError(t, err)
	require.Equal(t, want.Pix, got.Pix)
	require.Equal(t, float32(250)/255, got.Pix[0], "entry 0 has alpha 0 and must stay red")
}

func TestWebPLossless(t *testing.T) {
	got, err := Load(filepath.Join("testdata", "images", "lossless.webp"))
	require.NoError(t, err)
	want, err := Load(filepath.Join("testdata", "images", "lossless_rgb.png"))
	require.NoError(t, err)
	require.Equal(t, want.Pix, got.Pix)
}

func TestTIFF(t *testing.T) {
	deep := image.NewRGBA64(image.Rect(0, 0, 3, 2))
	flat := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range 6 {
		v := uint16(i*12345 + 7)
		deep.SetRGBA64(i%3, i/3, color.RGBA64{v, v / 2, 65535 - v, 65535})
		flat.SetNRGBA(i%3, i/3, color.NRGBA{uint8(v), uint8(v >> 8), 9, 255})
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		img  image.Image
		at   func(x, y int) [3]float32
	}{
		{"deep.tiff", deep, func(x, y int) [3]float32 {
			c := deep.RGBA64At(x, y)
			return [3]float32{float32(c.R) / 65535, float32(c.G) / 65535, float32(c.B) / 65535}
		}},
		{"flat.tif", flat, func(x, y int) [3]float32 {
			c := flat.NRGBAAt(x, y)
			return [3]float32{float32(c.R) / 255, float32(c.G) / 255, float32(c.B) / 255}
		}},
	} {
		var buf bytes.Buffer
		require.NoError(t, tiff.Encode(&buf, c.img, &tiff.Options{Compression: tiff.Deflate}))
		p := filepath.Join(dir, c.name)
		require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
		got, err := Load(p)
		require.NoError(t, err)
		for y := range 2 {
			for x := range 3 {
				w := c.at(x, y)
				for ch := range 3 {
					require.Equal(t, w[ch], got.Pix[ch*6+y*3+x], "%s (%d,%d) channel %d", c.name, x, y, ch)
				}
			}
		}
	}
	// Folder mode lists the same formats as file mode reads.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lossless.webp"), mustRead(t, filepath.Join("testdata", "images", "lossless.webp")), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.BMP"), encodeBMP(randomImage("b", 2, 2, 1), 24, false), 0o644))
	files, err := ImageFiles(dir)
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		_, err := Load(f)
		require.NoError(t, err, f)
	}
	require.Equal(t, []string{"deep.tiff", "flat.tif", "lossless.webp", "x.BMP"}, names)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// fuzzLoader has a small limit, so that mutated headers claiming large
// images are refused at once: that is the bound working.
var fuzzLoader = Loader{MaxPixels: 1 << 16}

func FuzzNPY(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		im, err := fuzzLoader.readNPYImage(bytes.NewReader(raw), int64(len(raw)), "fuzz.npy")
		if err == nil && (len(im.Pix) != 3*im.H*im.W || im.H*im.W > fuzzLoader.MaxPixels) {
			t.Fatalf("%dx%d image with %d values", im.W, im.H, len(im.Pix))
		}
	})
}

func fuzzDecode(t *testing.T, raw []byte) {
	im, err := fuzzLoader.Decode(bytes.NewReader(raw), "fuzz")
	if err == nil && (len(im.Pix) != 3*im.H*im.W || im.H*im.W > fuzzLoader.MaxPixels || im.H == 0) {
		t.Fatalf("%dx%d image with %d values", im.W, im.H, len(im.Pix))
	}
}

// FuzzBMP, FuzzNPY and FuzzDecodeImage start from testdata/fuzz, which
// TestWriteFuzzSeeds writes.
func FuzzBMP(f *testing.F) { f.Fuzz(fuzzDecode) }

// FuzzDecodeImage covers PNG and JPEG (and whatever else a mutation turns
// them into: TIFF and WebP headers are among the seeds).
func FuzzDecodeImage(f *testing.F) { f.Fuzz(fuzzDecode) }

// TestWriteFuzzSeeds writes the seeds of FuzzNPY, FuzzBMP, FuzzDecodeImage,
// FuzzJPEGScans and FuzzNPYHeader as their committed corpora
// (BARYIR_WRITE_SEEDS=1).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("BARYIR_WRITE_SEEDS") == "" {
		t.Skip("set BARYIR_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	im := randomImage("x", 5, 4, 2).ToNRGBA()
	var p, j bytes.Buffer
	require.NoError(t, png.Encode(&p, im))
	require.NoError(t, jpeg.Encode(&j, im, &jpeg.Options{Quality: 90}))
	seeds := map[string]map[string][]byte{
		"FuzzNPY": {"overflow": craftedNPY("1, 3, 4294967296, 4294967296")},
		"FuzzBMP": {"24bit": encodeBMP(randomImage("b", 3, 5, 1), 24, false), "8bit_topdown": encodeBMP(randomImage("b", 2, 3, 1), 8, true),
			"palette_count": craftedBMP(4, 4, 8, 0xFFFFFFFF), "huge": craftedBMP(30000, 30000, 24, 0)},
		"FuzzDecodeImage": {"png": p.Bytes(), "jpeg": j.Bytes(), "palette_trns": mustRead(t, filepath.Join("testdata", "images", "palette_trns.png")),
			"webp_lie": webpLie(t), "scans_jpg": manyScans(64, 64, 300)},
	}
	var baseline bytes.Buffer
	require.NoError(t, jpeg.Encode(&baseline, randomImage("x", 8, 8, 1).ToNRGBA(), nil))
	seeds["FuzzJPEGScans"] = map[string][]byte{"baseline": baseline.Bytes(), "scans": manyScans(16, 16, 3),
		"testdata": mustRead(t, filepath.Join("testdata", "jpeg", "stripes_422.jpg"))}
	seeds["FuzzNPYHeader"] = map[string][]byte{
		"numpy":      []byte("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 4, 4), }    \n"),
		"scalar":     []byte("{'descr': '<f8', 'fortran_order': False, 'shape': (), }"),
		"one":        []byte(`{"descr":"<f4","fortran_order":False,"shape":(5,)}`),
		"python2":    []byte("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 2L, 2L), }"),
		"structured": []byte(`{'descr': [("'shape': (1, 3, 2, 2)", '<f4')], 'fortran_order': True, 'shape': (16, 8, 3, 1), }`),
	}
	good := craftedNPY("1, 3, 1, 1")
	seeds["FuzzNPY"]["image"] = good[:len(good)-4]
	for _, c := range hostileImages {
		seeds["FuzzDecodeImage"][strings.ReplaceAll(c.name, ".", "_")] = c.raw
	}
	for target, files := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for name, raw := range files {
			seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(seed), 0o644))
		}
	}
}

// TestLoaderFields: samplers and test sets read their files through their
// Loader field.
func TestLoaderFields(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	require.NoError(t, Save(p, randomImage("a", 32, 32, 1)))
	src, err := NewSyntheticFileSource("denoise", []string{p}, Noise15)
	require.NoError(t, err)
	s, err := NewSampler([]*Source{src}, 16, 1)
	require.NoError(t, err)
	_, err = s.Next(1)
	require.NoError(t, err)
	s.Loader = Loader{MaxPixels: 1000}
	_, err = s.Next(1)
	require.ErrorContains(t, err, "image is 32x32, more than the limit of 1000 pixels")

	set, err := NewPairEvalSet([]Pair{{Degraded: p, Clean: p}}, Rain)
	require.NoError(t, err)
	_, _, err = set.Get(0)
	require.NoError(t, err)
	set.Loader = Loader{MaxPixels: 1000}
	_, _, err = set.Get(0)
	require.ErrorContains(t, err, "more than the limit of 1000 pixels")
}
