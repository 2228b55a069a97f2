package data

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEmbeddedImages(t *testing.T) {
	train, test := EmbeddedTrain(), EmbeddedTest()
	require.GreaterOrEqual(t, len(train), 10)
	require.GreaterOrEqual(t, len(test), 3)
	photo := func(im *Image) string { // "embedded/test/chelsea_1.png" -> "chelsea"
		base := im.Name[strings.LastIndex(im.Name, "/")+1:]
		return base[:strings.LastIndex(base, "_")]
	}
	trainPhotos := map[string]bool{}
	for _, im := range train {
		require.Equal(t, [2]int{128, 128}, [2]int{im.H, im.W}, im.Name)
		trainPhotos[photo(im)] = true
	}
	for _, im := range test {
		require.Equal(t, [2]int{160, 160}, [2]int{im.H, im.W}, im.Name)
		require.False(t, trainPhotos[photo(im)], "%s: test photo also used for training", im.Name)
	}
	for _, im := range append(train, test...) {
		var lo, hi float32 = 1, 0
		for _, v := range im.Pix {
			lo, hi = min(lo, v), max(hi, v)
		}
		require.Greater(t, hi-lo, float32(0.3), "%s has real content", im.Name)
	}
	// callers get copies
	train[0].Pix[0] = -1
	require.NotEqual(t, float32(-1), EmbeddedTrain()[0].Pix[0])

	var total int64
	require.NoError(t, fs.WalkDir(embeddedFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			total += info.Size()
		}
		return err
	}))
	t.Logf("embedded: %d train + %d test images, %d bytes", len(train), len(test), total)
	require.Less(t, total, int64(1500_000), "embedded data stays small")
}
