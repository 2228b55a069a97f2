package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := map[string]Tensor{
		"a.weight": {Shape: []int{2, 3}, Data: []float64{1, 2, 3, 4, 5, 6.5}},
		"b":        {Shape: []int{}, Data: []float64{-1.25}},
		"empty":    {Shape: []int{0, 4}, Data: []float64{}},
	}
	for _, f64 := range []bool{false, true} {
		p := filepath.Join(dir, "w.safetensors")
		require.NoError(t, Write(p, in, f64))
		out, err := Read(p)
		require.NoError(t, err)
		require.Equal(t, in, out)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	require.Empty(t, left, "temporary files left behind")
}

// file builds a safetensors file from a header text and a data section.
func file(header string, data int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), make([]byte, data)...)
}

// crafted are hostile or damaged files of a few bytes each, with the words
// the error must contain.
var crafted = []struct {
	name string
	raw  []byte
	want string
}{
	{"short", []byte{1, 2}, "2 bytes"},
	{"header past the end", file(`{}`, 0)[:9], "exceeds file size"},
	{"header over 100 MB", binary.LittleEndian.AppendUint64(nil, 100_000_001), "limit"},
	{"not an object", file(`[1]`, 0), "start with '{'"},
	{"not json", file(`{abc`, 0), "bad header"},
	{"trailing data", file(`{}{}`, 0), "after the header"},
	{"duplicate name", file(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "twice"},
	{"unknown dtype", file(`{"x":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}`, 4), "unknown dtype"},
	{"unsupported dtype", file(`{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, 4), "unsupported dtype F16"},
	{"negative dim", file(`{"x":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}`, 16), "negative"},
	{"shape product overflows", file(`{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0), "overflows"},
	{"overflow to the right size", file(`{"x":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,4]}}`, 4), "overflows"},
	{"range past the end", file(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "outside"},
	{"range too short", file(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "needs 8"},
	{"hole", file(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "starts at 4, want 0"},
	{"overlap", file(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "want 8"},
	{"bytes left over", file(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8), "cover 4 bytes"},
	{"reversed range", file(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,-4]}}`, 4), "holds -4 bytes"},
	{"bad metadata", file(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
}

func TestCraftedFiles(t *testing.T) {
	for _, c := range crafted {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.raw)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestMetadataAndPaddingAccepted(t *testing.T) {
	raw := file(`{"__metadata__":{"format":"pt"},"x":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}   `, 4)
	raw[len(raw)-4] = 7
	ts, err := Decode(raw)
	require.NoError(t, err)
	require.Equal(t, map[string]Tensor{"x": {Shape: []int{1}, Data: []float64{7}}}, ts)
}

func FuzzSafetensors(f *testing.F) {
	for _, c := range crafted {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ts, err := Decode(raw)
		if err != nil {
			return
		}
		total := 0
		for name, tn := range ts {
			if n, err := byteSize(tn.Shape, 1); err != nil || n != len(tn.Data) {
				t.Fatalf("%s: %d values for shape %v", name, len(tn.Data), tn.Shape)
			}
			total += len(tn.Data)
		}
		if total > len(raw) { // every element was paid for by at least one byte
			t.Fatalf("%d elements from %d bytes", total, len(raw))
		}
	})
}

// TestWriteFuzzSeeds writes the crafted files as the committed seed corpus
// of FuzzSafetensors. Run with BARYIR_WRITE_SEEDS=1 after changing them.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("BARYIR_WRITE_SEEDS") == "" {
		t.Skip("set BARYIR_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSafetensors")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, c := range crafted {
		name := strings.ReplaceAll(c.name, " ", "_")
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", c.raw)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.safetensors")
	ts := map[string]Tensor{"x": {Shape: []int{1}, Data: []float64{3}}}
	meta := map[string]string{"baryir.train_config": `{"Batch":4}`}
	require.NoError(t, WriteMeta(p, ts, false, meta))
	got, gotMeta, err := ReadMeta(p)
	require.NoError(t, err)
	require.Equal(t, ts, got)
	require.Equal(t, meta, gotMeta)
	require.Error(t, WriteMeta(p, map[string]Tensor{"__metadata__": ts["x"]}, false, meta))
}

// Encode streams tensors larger than its buffers to any writer, and
// reports the writer's error.
func TestEncodeToWriter(t *testing.T) {
	big := Tensor{Shape: []int{3, 7000}, Data: make([]float64, 21000)}
	for i := range big.Data {
		big.Data[i] = float64(i) - 0.5
	}
	in := map[string]Tensor{"big": big, "b": {Shape: []int{1}, Data: []float64{2}}}
	for _, f64 := range []bool{false, true} {
		var buf bytes.Buffer
		require.NoError(t, Encode(&buf, in, f64, map[string]string{"k": "v"}))
		out, meta, err := DecodeMeta(buf.Bytes())
		require.NoError(t, err)
		require.Equal(t, in, out)
		require.Equal(t, map[string]string{"k": "v"}, meta)
		err = Encode(&failAfter{n: buf.Len() / 2}, in, f64, nil)
		require.ErrorIs(t, err, errFull)
	}
	require.ErrorContains(t, Encode(io.Discard, map[string]Tensor{"x": {Shape: []int{2}, Data: []float64{1}}}, false, nil), "1 values for shape [2]")
}

var errFull = errors.New("disk full")

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errFull
	}
	f.n -= len(p)
	return len(p), nil
}
