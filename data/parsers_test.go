package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// npyWith is a version-1 (or, with v2, version-2) .npy of the given header
// dict and 48 bytes of data: a (3,2,2) float32 image.
func npyWith(dict string, v2 bool) []byte {
	b := []byte(npyMagic)
	if v2 {
		b = binary.LittleEndian.AppendUint32(append(b, 2, 0), uint32(len(dict)))
	} else {
		b = binary.LittleEndian.AppendUint16(append(b, 1, 0), uint16(len(dict)))
	}
	b = append(b, dict...)
	for i := range 12 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i)/12))
	}
	return b
}

// TestNPYHeaders: the header is read as the Python dict NumPy writes and
// reads, so what NumPy would read as another array is refused, and every
// spelling NumPy accepts of a supported one is read.
func TestNPYHeaders(t *testing.T) {
	cases := []struct{ dict, says string }{
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2), }\n", ""},
		{`{"descr":"<f4","fortran_order":False,"shape":(3,2,2)}`, ""},
		{"{'shape': (1L, 3L, 2L, 2L), 'fortran_order': False, 'descr': '<f4'}   \n", ""},
		{"{ 'descr' : '<f4' ,\n 'fortran_order' : False , 'shape' : ( 1 , 3 , 2 , 2 , ) , }", ""},
		// What numpy reads as a structured (16,8,3,1) Fortran array, with the
		// keys a pattern search would find inside a field name.
		{`{'descr': [("'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2)", '<f4')], 'fortran_order': True, 'shape': (16, 8, 3, 1), }`, "descr is not a string: structured"},
		{"{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2, 2), }", "Fortran-ordered arrays are not supported"},
		{"{'descr': '>f4', 'fortran_order': False, 'shape': (3, 2, 2), }", `dtype ">f4" not supported`},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2), 'extra': 1}", `unexpected key "extra"`},
		{"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2)}", `key "descr" given twice`},
		{"{'descr': '<f4', 'fortran_order': False}", "no shape"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (12)}", "(n) is a number in Python, not a tuple"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': [3, 2, 2]}", `want '('`},
		{"{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 2, 2)}", `fortran_order is "0"`},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2)} {'shape': (1,)}", "after the dict"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 02, 2)}", `bad dimension "02"`},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2)", "ends where"},
		{"{'descr': '<\\x66\\x34', 'fortran_order': False, 'shape': (3, 2, 2)}", "with an escape"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 99999999999999999999)}", "bad dimension"},
	}
	for _, c := range cases {
		for _, v2 := range []bool{false, true} {
			im, err := Loader{}.readNPYImage(bytes.NewReader(npyWith(c.dict, v2)), 0, "x.npy")
			if c.says == "" {
				// size 0 is wrong on purpose for the refusals: the header is read first
				raw := npyWith(c.dict, v2)
				im, err = Loader{}.readNPYImage(bytes.NewReader(raw), int64(len(raw)), "x.npy")
				require.NoError(t, err, c.dict)
				require.Equal(t, [2]int{2, 2}, [2]int{im.H, im.W})
				require.Equal(t, float32(5)/12, im.Pix[5])
				continue
			}
			require.ErrorContains(t, err, c.says, c.dict)
		}
	}
}

// TestNPYNaNBlamesTheInput: a NaN in an input image is the input's fault
// and the message says where it is.
func TestNPYNaNBlamesTheInput(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.npy")
	vals := make([]float32, 3*2*5)
	vals[2*10+1*5+3] = float32(math.NaN())
	require.NoError(t, WriteNPY(p, vals, []int{1, 3, 2, 5}))
	_, err := Load(p)
	require.ErrorContains(t, err, `"`+p+`": the input image holds NaN at channel 2, row 1, column 3`)
	vals[2*10+1*5+3] = float32(math.Inf(-1))
	require.NoError(t, WriteNPY(p, vals, []int{1, 3, 2, 5}))
	_, err = Load(p)
	require.ErrorContains(t, err, "holds -Inf at channel 2")
}

// manyScans is a progressive JPEG header for a w x h grey image followed by
// n DC scans of one entropy-coded byte each.
func manyScans(w, h uint16, n int) []byte {
	b := []byte{0xff, 0xd8}
	b = append(b, 0xff, 0xdb, 0, 67, 0) // DQT, table 0, all ones
	b = append(b, bytes.Repeat([]byte{1}, 64)...)
	b = append(b, 0xff, 0xc2, 0, 11, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)
	b = append(b, 0xff, 0xc4, 0, 20, 0x00, 1) // DHT: DC table 0, one code of length 1 for 0
	b = append(b, make([]byte, 15)...)
	b = append(b, 0)
	for range n {
		b = append(b, 0xff, 0xda, 0, 8, 1, 1, 0x00, 0, 0, 0, 0x00)
	}
	return append(b, 0xff, 0xd9)
}

// TestJPEGScans: a JPEG of more scans than encoders write is refused before
// decoding, at once whatever its size claims; ordinary ones are counted.
func TestJPEGScans(t *testing.T) {
	var base bytes.Buffer
	require.NoError(t, jpeg.Encode(&base, randomImage("x", 16, 24, 1).ToNRGBA(), nil))
	progressive := mustRead(t, filepath.Join("testdata", "jpeg", "stripes_420.jpg"))
	for _, c := range []struct {
		name string
		raw  []byte
		want int
	}{
		{"baseline", base.Bytes(), 1},
		{"stuffed and restart bytes", append(manyScans(8, 8, 2)[:len(manyScans(8, 8, 2))-2], 0xff, 0x00, 0xff, 0xd3, 0x12, 0xff, 0xd9), 2},
		{"over the cap", manyScans(4096, 4096, 6000), MaxJPEGScans + 1},
		{"at the cap", manyScans(64, 64, MaxJPEGScans), MaxJPEGScans},
		{"testdata", progressive, -1},
	} {
		n, err := jpegScans(bufio.NewReader(bytes.NewReader(c.raw)))
		require.NoError(t, err, c.name)
		if c.want >= 0 {
			require.Equal(t, c.want, n, c.name)
		} else {
			require.True(t, n >= 1 && n <= 20, "%s: %d scans", c.name, n)
		}
	}
	start := time.Now()
	_, err := Decode(bytes.NewReader(manyScans(4096, 4096, 6000)), "scans.jpg")
	require.ErrorContains(t, err, `"scans.jpg": JPEG of 257 or more scans, more than the 256 read`)
	require.Less(t, time.Since(start), 2*time.Second)
	_, err = Decode(bytes.NewReader(manyScans(64, 64, MaxJPEGScans)), "cap.jpg")
	require.NotContains(t, fmt.Sprint(err), "scans", "at the cap the decoder decides")
}

// endless is a stream that repeats its tail for ever after its head,
// counting what is read.
type endless struct {
	head []byte
	tail byte
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.head)
	e.head = e.head[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.tail
	}
	e.read += int64(len(p))
	return len(p), nil
}

// TestStreamsBoundedByHeader: a stream that does not end is refused once it
// holds more than its header's image can take, not after a gigabyte.
func TestStreamsBoundedByHeader(t *testing.T) {
	for _, c := range []struct {
		name string
		head []byte
		most int64
		says string
	}{
		{"zeros", nil, 1 << 17, "not a decodable"},
		{"16x16 PNG then chunks for ever", craftedPNG(16, 16)[:33], imageBytes(256) + 1<<17, "more than the 16781312 bytes a 16x16 image can take"},
	} {
		r := &endless{head: c.head}
		_, err := Decode(io.MultiReader(r), c.name) // MultiReader hides nothing, but is no io.Seeker
		require.ErrorContains(t, err, c.says, c.name)
		require.LessOrEqual(t, r.read, c.most, c.name)
	}
	// A stream that ends is read as a file is.
	var buf bytes.Buffer
	im := randomImage("x", 9, 7, 3)
	require.NoError(t, jpeg.Encode(&buf, im.ToNRGBA(), &jpeg.Options{Quality: 100}))
	want, err := Decode(bytes.NewReader(buf.Bytes()), "x")
	require.NoError(t, err)
	got, err := Decode(io.MultiReader(bytes.NewReader(buf.Bytes())), "x")
	require.NoError(t, err)
	require.Equal(t, want.Pix, got.Pix)
}

// TestWebPSizeLie: a WebP whose RIFF header claims more bytes than the input
// holds is refused from the header, file or stream.
func TestWebPSizeLie(t *testing.T) {
	raw := mustRead(t, filepath.Join("testdata", "images", "lossless.webp"))
	lie := webpLie(t)
	_, err := Decode(bytes.NewReader(lie), "lie.webp")
	require.ErrorContains(t, err, `"lie.webp": WebP header claims 2147483656 bytes, the input holds `)
	_, err = Decode(io.MultiReader(bytes.NewReader(lie)), "lie.webp")
	require.ErrorContains(t, err, "WebP header claims")
	_, err = Decode(bytes.NewReader(raw), "ok.webp")
	require.NoError(t, err)
}

// webpLie is testdata's lossless WebP with a RIFF size of 2 GiB.
func webpLie(t *testing.T) []byte {
	lie := mustRead(t, filepath.Join("testdata", "images", "lossless.webp"))
	binary.LittleEndian.PutUint32(lie[4:], 1<<31)
	return lie
}

// TestNamesQuoted: a file name with terminal control bytes comes back
// escaped in errors.
func TestNamesQuoted(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a\x1b]0;owned\x07\r.png")
	require.NoError(t, os.WriteFile(name, []byte("not an image"), 0o644))
	_, err := Load(name)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "\x1b")
	require.NotContains(t, err.Error(), "\r")
	require.Contains(t, err.Error(), `a\x1b]0;owned\a\r.png`)
	_, err = Load(strings.TrimSuffix(name, ".png") + ".npy")
	require.NotContains(t, err.Error(), "\x1b")
}

// FuzzNPYHeader: any header is parsed or refused without a panic, and what
// is accepted reads back the same once written the way NumPy writes it.
func FuzzNPYHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, dict []byte) {
		h, err := parseNPYDict(string(dict))
		if err != nil {
			return
		}
		dims := make([]string, len(h.shape))
		for i, n := range h.shape {
			if n < 0 {
				t.Fatalf("negative dimension in %v", h.shape)
			}
			dims[i] = fmt.Sprint(n)
		}
		tuple := strings.Join(dims, ", ")
		if len(dims) == 1 {
			tuple += ","
		}
		again, err := parseNPYDict(fmt.Sprintf("{'descr': '<f%d', 'fortran_order': False, 'shape': (%s), }", h.size, tuple))
		if err != nil || again.size != h.size || fmt.Sprint(again.shape) != fmt.Sprint(h.shape) {
			t.Fatalf("%q read as %+v, written back as %+v (%v)", dict, h, again, err)
		}
	})
}

// FuzzJPEGScans: the scan count never passes the cap by more than one and
// never exceeds the SOS markers present.
func FuzzJPEGScans(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, err := jpegScans(bufio.NewReader(bytes.NewReader(raw)))
		if err == nil && (n > MaxJPEGScans+1 || n > bytes.Count(raw, []byte{0xff, 0xda})) {
			t.Fatalf("%d scans counted in %d bytes with %d SOS markers", n, len(raw), bytes.Count(raw, []byte{0xff, 0xda}))
		}
	})
}
