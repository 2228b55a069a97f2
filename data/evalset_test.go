package data

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEvalSets(t *testing.T) {
	dir := t.TempDir()
	a := writeImage(t, dir, "bsd/a.png", 40, 35, 1)
	b := writeImage(t, dir, "bsd/b.png", 33, 50, 2)
	files, err := ImageFiles(filepath.Join(dir, "bsd"))
	require.NoError(t, err)
	require.Equal(t, []string{a, b}, files)

	set, err := NewSyntheticEvalSet(files, Noise50, 3)
	require.NoError(t, err)
	require.Equal(t, 2, set.Len())
	d1, c1, err := set.Get(1)
	require.NoError(t, err)
	require.Equal(t, [4]int{32, 48, 32, 48}, [4]int{d1.H, d1.W, c1.H, c1.W}, "cropped to multiples of 16")
	p, err := PSNR(c1, d1)
	require.NoError(t, err)
	require.Less(t, p, 20.0)
	// reading order does not change an item
	_, _, err = set.Get(0)
	require.NoError(t, err)
	again, _, err := set.Get(1)
	require.NoError(t, err)
	require.Equal(t, d1.Pix, again.Pix)

	writeImage(t, dir, "low/x.png", 20, 20, 4)
	writeImage(t, dir, "high/x.png", 20, 20, 5)
	pairs, err := Pairs(filepath.Join(dir, "low"), filepath.Join(dir, "high"))
	require.NoError(t, err)
	ps, err := NewPairEvalSet(pairs, LowLight)
	require.NoError(t, err)
	d, c, err := ps.Get(0)
	require.NoError(t, err)
	require.Equal(t, [4]int{16, 16, 16, 16}, [4]int{d.H, d.W, c.H, c.W})
	require.Equal(t, filepath.Join(dir, "low/x.png"), ps.Name(0))

	_, _, err = ps.Get(1)
	require.ErrorContains(t, err, "test item 1 of 1")
	_, err = NewPairEvalSet(nil, Rain)
	require.ErrorContains(t, err, "rain test set: no pairs")
}
