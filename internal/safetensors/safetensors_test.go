package safetensors

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := map[string]Tensor{
		"a.weight": {Shape: []int{2, 3}, Data: []float64{1, 2, 3, 4, 5, 6.5}},
		"b":        {Shape: []int{}, Data: []float64{-1.25}},
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

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]byte{
		"short":      {1, 2},
		"big header": {255, 255, 0, 0, 0, 0, 0, 0, '{', '}'},
		"not json":   append([]byte{3, 0, 0, 0, 0, 0, 0, 0}, "abc"...),
		"bad range":  append([]byte{58, 0, 0, 0, 0, 0, 0, 0}, `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  `...),
	}
	for name, raw := range cases {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, raw, 0o644))
		_, err := Read(p)
		require.Error(t, err, name)
	}
}
