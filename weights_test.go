package baryir

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Weights written to an io.Writer read back from an io.Reader, and agree
// with the path functions: a state dict, a PyTorch .pth and a training
// checkpoint (whose network DecodeWeights gives) alike.
func TestWeightsThroughReaderAndWriter(t *testing.T) {
	sd := StateDict{
		"a.weight": {Shape: []int{2, 2}, Data: []float64{0.5, -1, 2, 0.25}},
		"b.bias":   {Shape: []int{1}, Data: []float64{3}},
	}
	var buf bytes.Buffer
	require.NoError(t, EncodeWeights(&buf, sd))
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	require.NoError(t, WriteWeights(path, sd))
	onDisk, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, onDisk, buf.Bytes(), "EncodeWeights writes what WriteWeights does")
	got, err := DecodeWeights(&buf)
	require.NoError(t, err)
	require.Equal(t, sd, got)

	pthFile := filepath.Join("testdata", "barynet_tiny.pth")
	want, err := ReadWeights(pthFile)
	require.NoError(t, err)
	f, err := os.Open(pthFile)
	require.NoError(t, err)
	defer f.Close()
	got, err = DecodeWeights(f)
	require.NoError(t, err)
	require.Equal(t, want, got)

	tr, _ := testTraining(t, familyRestormer, nil)
	ckpt := filepath.Join(dir, "ckpt.safetensors")
	require.NoError(t, tr.SaveCheckpoint(ckpt))
	raw, err := os.ReadFile(ckpt)
	require.NoError(t, err)
	got, err = DecodeWeights(bytes.NewReader(raw))
	require.NoError(t, err)
	net, err := tr.StateDict()
	require.NoError(t, err)
	require.Equal(t, net, got, "a checkpoint gives its network")
}

func TestWeightsErrors(t *testing.T) {
	var good bytes.Buffer
	require.NoError(t, EncodeWeights(&good, StateDict{"x": {Shape: []int{2}, Data: []float64{1, 2}}}))
	for _, c := range []struct {
		name string
		raw  []byte
		says string
	}{
		{"empty", nil, "empty"},
		{"text", []byte("just some text"), "not a PyTorch checkpoint"},
		{"cut safetensors", good.Bytes()[:good.Len()-1], "outside the 7 bytes of data"},
		{"no tensors", safetensorsBytes(t, `{}`), "holds no tensors"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeWeights(bytes.NewReader(c.raw))
			require.ErrorContains(t, err, c.says)
			require.True(t, strings.HasPrefix(err.Error(), "baryir: "), err.Error())
		})
	}
	require.ErrorContains(t, EncodeWeights(&bytes.Buffer{}, StateDict{"x": {Shape: []int{3}, Data: []float64{1}}}), "1 values for shape [3]")
	_, err := ReadWeights(filepath.Join(t.TempDir(), "absent.pth"))
	require.ErrorContains(t, err, "absent.pth")
}

// safetensorsBytes is a safetensors file of header h and no data.
func safetensorsBytes(t *testing.T, h string) []byte {
	t.Helper()
	for len(h)%8 != 0 {
		h += " "
	}
	return append([]byte(fmt.Sprintf("%c\x00\x00\x00\x00\x00\x00\x00", len(h))), h...)
}

// FuzzDecodeWeights reads any bytes as weights: either format, told apart
// by the first bytes, must refuse damage with an error and never return
// more values than the input could pay for (FuzzSafetensors and FuzzPth
// cover each format's parser in depth).
func FuzzDecodeWeights(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		sd, err := DecodeWeights(bytes.NewReader(raw))
		if err != nil {
			return
		}
		total := 0
		for _, tn := range sd {
			total += len(tn.Data)
		}
		if total > 2*len(raw)+4096 {
			t.Fatalf("%d values from %d bytes", total, len(raw))
		}
	})
}

// TestWriteDecodeWeightsSeeds writes FuzzDecodeWeights' committed seed
// corpus (BARYIR_WRITE_SEEDS=1): a small safetensors file, a training
// checkpoint's layout, and small PyTorch files in both containers.
func TestWriteDecodeWeightsSeeds(t *testing.T) {
	if os.Getenv("BARYIR_WRITE_SEEDS") == "" {
		t.Skip("set BARYIR_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeWeights")
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	var st, ckpt bytes.Buffer
	require.NoError(t, EncodeWeights(&st, StateDict{"a.weight": {Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}}}))
	require.NoError(t, EncodeWeights(&ckpt, StateDict{"net/a": {Shape: []int{1}, Data: []float64{1}}, "meta/step": {Shape: []int{}, Data: []float64{3}}}))
	seeds := map[string][]byte{"safetensors": st.Bytes(), "checkpoint": ckpt.Bytes()}
	for name, file := range map[string]string{"pth_zip": "valid.pth", "pth_legacy": "valid_legacy.pth"} {
		raw, err := os.ReadFile(filepath.Join("internal", "pth", "testdata", "crafted", file))
		require.NoError(t, err)
		seeds[name] = raw
	}
	for name, raw := range seeds {
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(seed), 0o644))
	}
}
