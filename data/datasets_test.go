package data

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeImage saves a small random image at dir/rel, creating folders.
func writeImage(t *testing.T, dir, rel string, h, w int, seed uint64) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, Save(p, randomImage(rel, h, w, seed)))
	return p
}

func touch(t *testing.T, dir, rel string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, nil, 0o644))
}

// makeTrainLayout builds the authors' data/Train layout with tiny images.
func makeTrainLayout(t *testing.T) string {
	root := t.TempDir()
	for i, n := range []string{"a.png", "b.jpg", "c.png"} {
		writeImage(t, root, "Denoise/"+n, 40, 48, uint64(i))
	}
	touch(t, root, "Denoise/.gitkeep")
	for i, n := range []string{"100", "101"} {
		writeImage(t, root, "Derain/rainy/rain-"+n+".png", 32, 32, uint64(10+i))
		writeImage(t, root, "Derain/gt/norain-"+n+".png", 32, 32, uint64(20+i))
	}
	writeImage(t, root, "Dehaze/synthetic/part1/0025_0.8_0.04.jpg", 32, 48, 30)
	writeImage(t, root, "Dehaze/synthetic/part2/0025_0.9_0.2.jpg", 32, 48, 31)
	writeImage(t, root, "Dehaze/synthetic/part1/0026_0.8_0.04.jpg", 32, 48, 32)
	writeImage(t, root, "Dehaze/original/0025.jpg", 32, 48, 33)
	writeImage(t, root, "Dehaze/original/0026.jpg", 32, 48, 34)
	writeImage(t, root, "Deblur/blur/x.png", 32, 32, 40)
	writeImage(t, root, "Deblur/sharp/x.png", 32, 32, 41)
	writeImage(t, root, "lowlight/low/1.png", 32, 32, 50)
	writeImage(t, root, "lowlight/high/1.png", 32, 32, 51)
	return root
}

func TestTrainSources(t *testing.T) {
	root := makeTrainLayout(t)
	tests := []struct {
		name   string
		degs   []Degradation
		names  []string
		counts []int // per epoch, with the authors' repeat factors
	}{
		{"three", ThreeDegradations(), []string{"denoise", "derain", "dehaze"}, []int{3 * 3 * 5, 2 * 360, 3}},
		{"five", FiveDegradations(), []string{"denoise", "derain", "dehaze", "deblur", "lowlight"}, []int{45, 720, 3, 35, 150}},
		{"one noise level", []Degradation{Haze, Noise25}, []string{"denoise", "dehaze"}, []int{3 * 5, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srcs, err := TrainSources(TrainLayout{Root: root}, tc.degs)
			require.NoError(t, err)
			s, err := NewSampler(srcs, 16, 1)
			require.NoError(t, err)
			require.Equal(t, tc.names, s.SourceNames())
			require.Equal(t, tc.counts, s.Counts())
		})
	}
	srcs, err := TrainSources(TrainLayout{Root: root}, []Degradation{Haze})
	require.NoError(t, err)
	var got []Pair
	for _, smp := range srcs[0].samples {
		got = append(got, smp.pair)
	}
	require.Equal(t, []Pair{
		{filepath.Join(root, "Dehaze/synthetic/part1/0025_0.8_0.04.jpg"), filepath.Join(root, "Dehaze/original/0025.jpg")},
		{filepath.Join(root, "Dehaze/synthetic/part1/0026_0.8_0.04.jpg"), filepath.Join(root, "Dehaze/original/0026.jpg")},
		{filepath.Join(root, "Dehaze/synthetic/part2/0025_0.9_0.2.jpg"), filepath.Join(root, "Dehaze/original/0025.jpg")},
	}, got)

	_, err = TrainSources(TrainLayout{Root: root}, []Degradation{Rain, Rain})
	require.ErrorContains(t, err, "rain given twice")
	_, err = TrainSources(TrainLayout{Root: t.TempDir()}, []Degradation{Blur})
	require.ErrorContains(t, err, "Deblur")
}

// The fixture copy of the authors' data/Train, with and without their
// data_dir lists: a list keeps exactly the images it names.
func TestTrainLists(t *testing.T) {
	root := filepath.Join(layouts, "Train")
	lists, err := AuthorsLists(filepath.Join(layouts, "data_dir"))
	require.NoError(t, err)
	require.Len(t, lists, 3)
	names := func(src *Source) []string {
		var out []string
		for _, smp := range src.samples {
			f := smp.cleanPath
			if f == "" {
				f = smp.pair.Degraded
			}
			rel, err := filepath.Rel(root, f)
			require.NoError(t, err)
			out = append(out, filepath.ToSlash(rel))
		}
		return out
	}
	all, err := TrainSources(TrainLayout{Root: root}, FiveDegradations())
	require.NoError(t, err)
	require.Equal(t, []string{"Denoise/00012.bmp", "Denoise/03000.bmp", "Denoise/a247012.jpg", "Denoise/grey_test.png"}, names(all[0])[:4])
	listed, err := TrainSources(TrainLayout{Root: root, Lists: lists}, FiveDegradations())
	require.NoError(t, err)
	want := [][]string{
		{"Denoise/03000.bmp", "Denoise/a247012.jpg"},
		{"Derain/rainy/rain-1.png", "Derain/rainy/rain-3.png"},
		{"Dehaze/synthetic/part1/0025_0.8_0.04.jpg", "Dehaze/synthetic/part2/0025_0.9_0.2.jpg"},
		{"Deblur/blur/GOPR0372_07_00-000047.png"},
		{"lowlight/low/2.png"},
	}
	for i, w := range want {
		got := names(listed[i])
		if i == 0 { // one sample per image and noise level
			got = got[:len(got)/3]
		}
		require.Equal(t, w, got, listed[i].Name)
	}
	require.Less(t, listed[2].Len(), all[2].Len())

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	require.NoError(t, os.WriteFile(bad, []byte("rainy/rain-1.png\nrainy/rain-9.png\nrainy/rain-8.png\n"), 0o644))
	_, err = TrainSources(TrainLayout{Root: root, Lists: map[string]string{"derain": bad}}, ThreeDegradations())
	require.ErrorContains(t, err, "names 2 images not found under "+filepath.Join(root, "Derain")+", the first rainy/rain-9.png")
	_, err = TrainSources(TrainLayout{Root: root, Lists: map[string]string{"deblur": bad}}, ThreeDegradations())
	require.ErrorContains(t, err, `a list for "deblur", which is not a source here (denoise, derain, dehaze)`)
	_, err = AuthorsLists(dir)
	require.ErrorContains(t, err, "none of the authors' lists")
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"authors' lines", "synthetic/part1/0025_0.8_0.04.jpg\r\n  03000.bmp \n\n./a/../b.png\n03000.bmp\n", []string{"synthetic/part1/0025_0.8_0.04.jpg", "03000.bmp", "b.png"}, ""},
		{"windows separators", "rainy\\rain-1.png", []string{"rainy/rain-1.png"}, ""},
		{"empty", "\n \n", nil, "names no images"},
		{"absolute", "/etc/passwd", nil, "line 1"},
		{"escaping", "ok.png\n../x.png", nil, "line 2"},
		{"binary", "a\x00b", nil, "not a file name"},
		{"long line", strings.Repeat("a", maxListLine+1), nil, "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseList(strings.NewReader(tc.in), "list.txt")
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.ErrorContains(t, err, "list.txt")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseList(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		names, err := ParseList(bytes.NewReader(b), "fuzz.txt")
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" || strings.HasPrefix(n, "/") || strings.HasPrefix(n, "../") || n == ".." {
				t.Fatalf("entry %q leaves the folder", n)
			}
		}
	})
}

func TestReaderErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "empty"), 0o755))
	touch(t, dir, "empty/.gitkeep")
	writeImage(t, dir, "rainy/rain-1.png", 8, 8, 1)
	writeImage(t, dir, "gt/norain-2.png", 8, 8, 2)
	writeImage(t, dir, "a/x.png", 8, 8, 3)
	writeImage(t, dir, "b/x.png", 9, 8, 4)
	j := func(p string) string { return filepath.Join(dir, p) }
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"empty folder", func() error { _, err := ImageFiles(j("empty")); return err }, "no images (.png/.jpg/.jpeg/.bmp/.tif/.tiff/.webp) in " + j("empty")},
		{"missing folder", func() error { _, err := ImageFiles(j("nope")); return err }, j("nope")},
		{"file, not folder", func() error { _, err := ImageFiles(j("a/x.png")); return err }, "is not a folder"},
		{"no target", func() error { _, err := Pairs(j("rainy"), j("gt")); return err }, "no clean image for " + j("rainy/rain-1.png")},
		{"size mismatch", func() error { _, _, err := LoadPair(Pair{j("a/x.png"), j("b/x.png")}); return err }, "is 8x8 but its target " + j("b/x.png") + " is 9x8"},
		{"no degradations", func() error { _, err := EmbeddedSources(nil); return err }, "no degradations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.err(), tc.want)
		})
	}
}

// encodeBMP writes an uncompressed BMP: 24-bit BGR rows padded to 4 bytes,
// or 8-bit grey with a palette; bottom-up unless topDown.
func encodeBMP(im *Image, bpp int, topDown bool) []byte {
	var pal []byte
	if bpp == 8 {
		for i := 0; i < 256; i++ {
			pal = append(pal, byte(i), byte(i), byte(i), 0)
		}
	}
	stride := (im.W*bpp/8 + 3) &^ 3
	off := 54 + len(pal)
	var b bytes.Buffer
	le := binary.LittleEndian
	h := int32(im.H)
	if topDown {
		h = -h
	}
	b.WriteString("BM")
	binary.Write(&b, le, []uint32{uint32(off + stride*im.H), 0, uint32(off), 40})
	binary.Write(&b, le, []int32{int32(im.W), h})
	binary.Write(&b, le, []uint16{1, uint16(bpp)})
	binary.Write(&b, le, []uint32{0, uint32(stride * im.H), 2835, 2835, uint32(len(pal) / 4), 0})
	b.Write(pal)
	n := im.H * im.W
	for i := 0; i < im.H; i++ {
		y := im.H - 1 - i
		if topDown {
			y = i
		}
		row := make([]byte, stride)
		for x := 0; x < im.W; x++ {
			p := y*im.W + x
			if bpp == 8 {
				row[x] = to8(im.Pix[p])
			} else {
				row[3*x], row[3*x+1], row[3*x+2] = to8(im.Pix[2*n+p]), to8(im.Pix[n+p]), to8(im.Pix[p])
			}
		}
		b.Write(row)
	}
	return b.Bytes()
}

func TestDecodeBMP(t *testing.T) {
	rgb := randomImage("rgb", 3, 5, 1) // width 5: rows need padding
	grey := randomImage("grey", 4, 3, 2)
	n := 4 * 3
	copy(grey.Pix[n:], grey.Pix[:n])
	copy(grey.Pix[2*n:], grey.Pix[:n])
	tests := []struct {
		name    string
		im      *Image
		bpp     int
		topDown bool
	}{
		{"24-bit bottom-up", rgb, 24, false},
		{"24-bit top-down", rgb, 24, true},
		{"8-bit paletted", grey, 8, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(bytes.NewReader(encodeBMP(tc.im, tc.bpp, tc.topDown)), tc.name)
			require.NoError(t, err)
			require.Equal(t, tc.im.Pix, got.Pix)
		})
	}
	bad := encodeBMP(rgb, 24, false)
	_, err := Decode(bytes.NewReader(bad[:70]), "cut.bmp")
	require.ErrorContains(t, err, `cut.bmp": not a decodable`)
}
