package data

import (
	"fmt"
	"math/rand/v2"
)

// EvalSet is a fixed list of full-size test images, read one at a time so a
// benchmark never has to fit in memory. Every image is cropped centrally to
// a multiple of 16, as the authors' test loaders do.
type EvalSet struct {
	Degradation Degradation
	Loader      Loader // reads the images; the zero value allows DefaultMaxPixels
	seed        uint64
	clean       []string // synthetic: clean files, degraded on load
	pairs       []Pair   // stored pairs
}

// NewSyntheticEvalSet makes a test set from clean images (BSD68, Kodak ...):
// image i is degraded by d with a generator seeded by (seed, i), so the set
// is fixed by its seed whatever order it is read in.
func NewSyntheticEvalSet(cleanFiles []string, d Degradation, seed uint64) (*EvalSet, error) {
	if len(cleanFiles) == 0 {
		return nil, fmt.Errorf("data: %s test set: no clean files", d)
	}
	return &EvalSet{Degradation: d, seed: seed, clean: cleanFiles}, nil
}

// NewPairEvalSet makes a test set from stored pairs (Rain100L, SOTS, GoPro,
// LOL), labelled d.
func NewPairEvalSet(pairs []Pair, d Degradation) (*EvalSet, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("data: %s test set: no pairs", d)
	}
	return &EvalSet{Degradation: d, pairs: pairs}, nil
}

// Len is the number of test images.
func (e *EvalSet) Len() int { return len(e.clean) + len(e.pairs) }

// Name is the file the i-th item is read from (its degraded file for pairs).
func (e *EvalSet) Name(i int) string {
	if e.pairs != nil {
		return e.pairs[i].Degraded
	}
	return e.clean[i]
}

// Get loads the i-th (degraded, clean) pair.
func (e *EvalSet) Get(i int) (degraded, clean *Image, err error) {
	if i < 0 || i >= e.Len() {
		return nil, nil, fmt.Errorf("data: test item %d of %d", i, e.Len())
	}
	if e.pairs != nil {
		if degraded, clean, err = e.Loader.LoadPair(e.pairs[i]); err != nil {
			return nil, nil, err
		}
		if degraded, err = CropToMultiple(degraded, 16); err != nil {
			return nil, nil, err
		}
		clean, err = CropToMultiple(clean, 16)
		return degraded, clean, err
	}
	if clean, err = e.Loader.Load(e.clean[i]); err != nil {
		return nil, nil, err
	}
	if clean, err = CropToMultiple(clean, 16); err != nil {
		return nil, nil, err
	}
	return e.Degradation.Apply(clean, rand.New(rand.NewPCG(e.seed, uint64(i)))), clean, nil
}
