package data

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"sync"
)

// embeddedFS holds small crops of CC0 / public-domain photographs (see
// embedded/ATTRIBUTION.md; embedded/gen_crops.py makes them), so training
// and evaluation demos run without any benchmark download.
//
//go:embed embedded/train/*.png embedded/test/*.png
var embeddedFS embed.FS

var (
	embeddedOnce  sync.Once
	embeddedTrain []*Image
	embeddedTest  []*Image
)

// EmbeddedTrain returns the embedded training crops: 128×128 RGB, from
// photographs that EmbeddedTest does not use. Callers get fresh copies and
// may modify them.
func EmbeddedTrain() []*Image { return cloneAll(embedded().train) }

// EmbeddedTest returns the embedded test crops: 160×160 RGB, from photographs
// distinct from the training ones. Names are "embedded/test/<photo>_<k>.png".
func EmbeddedTest() []*Image { return cloneAll(embedded().test) }

func embedded() struct{ train, test []*Image } {
	embeddedOnce.Do(func() {
		embeddedTrain = mustDecodeDir("embedded/train")
		embeddedTest = mustDecodeDir("embedded/test")
	})
	return struct{ train, test []*Image }{embeddedTrain, embeddedTest}
}

// mustDecodeDir panics only if the binary itself is broken: the files are
// compiled in and checked by the tests.
func mustDecodeDir(dir string) []*Image {
	names, err := fs.Glob(embeddedFS, dir+"/*.png")
	if err != nil || len(names) == 0 {
		panic(fmt.Sprintf("data: no embedded images in %s: %v", dir, err))
	}
	sort.Strings(names)
	out := make([]*Image, len(names))
	for i, n := range names {
		raw, err := embeddedFS.ReadFile(n)
		if err == nil {
			out[i], err = Decode(bytes.NewReader(raw), path.Clean(n))
		}
		if err != nil {
			panic(fmt.Sprintf("data: embedded image: %v", err))
		}
	}
	return out
}

func cloneAll(ims []*Image) []*Image {
	out := make([]*Image, len(ims))
	for i, im := range ims {
		out[i] = im.Clone()
	}
	return out
}

// EmbeddedEval returns the embedded test photos and copies of them degraded
// by d. Image i is degraded with its own generator seeded by (seed, i), so an
// evaluation set is fixed by its seed and independent of the others.
func EmbeddedEval(d Degradation, seed uint64) (degraded, clean []*Image) {
	clean = EmbeddedTest()
	degraded = make([]*Image, len(clean))
	for i, im := range clean {
		degraded[i] = d.Apply(im, rand.New(rand.NewPCG(seed, uint64(i))))
	}
	return degraded, clean
}
