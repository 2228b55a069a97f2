package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Pair names a stored degraded image and its clean target.
type Pair struct {
	Degraded, Clean string
}

// LoadPair reads both images of p and checks that their sizes agree.
func LoadPair(p Pair) (degraded, clean *Image, err error) { return Loader{}.LoadPair(p) }

// LoadPair is the package's LoadPair within l's pixel limit.
func (l Loader) LoadPair(p Pair) (degraded, clean *Image, err error) {
	if degraded, err = l.Load(p.Degraded); err != nil {
		return nil, nil, err
	}
	if clean, err = l.Load(p.Clean); err != nil {
		return nil, nil, err
	}
	if degraded.H != clean.H || degraded.W != clean.W {
		return nil, nil, fmt.Errorf("data: %s is %dx%d but its target %s is %dx%d",
			p.Degraded, degraded.H, degraded.W, p.Clean, clean.H, clean.W)
	}
	return degraded, clean, nil
}

var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".bmp": true, ".tif": true, ".tiff": true, ".webp": true}

func isImageFile(name string) bool {
	return imageExts[strings.ToLower(filepath.Ext(name))] && !strings.HasPrefix(filepath.Base(name), ".")
}

// ImageFiles lists the image files (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp, any case) under
// dir, recursively (the authors' Dehaze/synthetic has part1..part4), sorted.
// Other files (.gitkeep, lists) are ignored. A missing folder or one without
// images is an error naming the folder.
func ImageFiles(dir string) ([]string, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("data: %s is not a folder", dir)
	}
	var out []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isImageFile(p) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data: listing %s: %w", dir, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: no images (.png/.jpg/.jpeg/.bmp/.tif/.tiff/.webp) in %s", dir)
	}
	sort.Strings(out)
	return out, nil
}

// cleanIndex maps lower-cased file names in dir to their paths.
func cleanIndex(dir string) (map[string]string, error) {
	files, err := ImageFiles(dir)
	if err != nil {
		return nil, err
	}
	idx := make(map[string]string, len(files))
	for _, f := range files {
		idx[strings.ToLower(filepath.Base(f))] = f
	}
	return idx, nil
}

// matchPairs pairs every image under degradedDir with the first candidate
// name (from names) that exists in cleanDir. A degraded image without a
// target is an error naming it and the names tried.
func matchPairs(degradedDir, cleanDir string, names func(base string) []string) ([]Pair, error) {
	degraded, err := ImageFiles(degradedDir)
	if err != nil {
		return nil, err
	}
	idx, err := cleanIndex(cleanDir)
	if err != nil {
		return nil, err
	}
	var pairs []Pair
	for _, d := range degraded {
		base := filepath.Base(d)
		cands := names(base)
		found := ""
		for _, c := range cands {
			if p, ok := idx[strings.ToLower(c)]; ok {
				found = p
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("data: no clean image for %s in %s (tried %s)", d, cleanDir, strings.Join(cands, ", "))
		}
		pairs = append(pairs, Pair{Degraded: d, Clean: found})
	}
	return pairs, nil
}

// withExts lists stem with ext first, then with every other image extension,
// for datasets whose targets are stored in another format than the inputs.
func withExts(stem, ext string) []string {
	out := []string{stem + ext}
	for _, e := range []string{".png", ".jpg", ".jpeg", ".bmp"} {
		if !strings.EqualFold(e, ext) {
			out = append(out, stem+e)
		}
	}
	return out
}

// SameNamePairs pairs files with the same name in two folders, as GoPro
// (blur/sharp) and LOL (low/high) are laid out; a target may differ in
// extension.
func SameNamePairs(degradedDir, cleanDir string) ([]Pair, error) {
	return matchPairs(degradedDir, cleanDir, func(base string) []string {
		ext := filepath.Ext(base)
		return withExts(strings.TrimSuffix(base, ext), ext)
	})
}

// DerainPairs pairs rainy images with their ground truth by the Rain100L
// naming: "rain-001.png" -> "norain-001.png" (the authors' rule: the first
// "rain" becomes "norain"), falling back to the same name, as some releases
// use. rainyDir and cleanDir may be the same folder; "norain-*" files in it
// are then not taken as inputs.
func DerainPairs(rainyDir, cleanDir string) ([]Pair, error) {
	pairs, err := matchPairs(rainyDir, cleanDir, func(base string) []string {
		ext := filepath.Ext(base)
		stem := strings.TrimSuffix(base, ext)
		var c []string
		if i := strings.Index(strings.ToLower(stem), "rain"); i >= 0 {
			c = append(c, withExts(stem[:i]+"no"+stem[i:], ext)...)
		}
		return append(c, withExts(stem, ext)...)
	})
	if err != nil {
		return nil, err
	}
	// When both live in one folder, the clean files are listed as inputs too: drop them.
	var out []Pair
	for _, p := range pairs {
		if strings.HasPrefix(strings.ToLower(filepath.Base(p.Degraded)), "norain") {
			continue
		}
		if p.Degraded == p.Clean {
			return nil, fmt.Errorf("data: no clean image for %s in %s", p.Degraded, cleanDir)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: no rainy/clean pairs in %s and %s", rainyDir, cleanDir)
	}
	return out, nil
}

// DehazePairs pairs hazy images with their clear image by the SOTS / RESIDE
// naming: "0001_0.8_0.2.jpg" (image id, airlight, beta) -> "0001.png" (or
// any image extension; the authors' training set keeps ".jpg").
func DehazePairs(hazyDir, clearDir string) ([]Pair, error) {
	return matchPairs(hazyDir, clearDir, func(base string) []string {
		ext := filepath.Ext(base)
		id, _, _ := strings.Cut(strings.TrimSuffix(base, ext), "_")
		return withExts(id, ext)
	})
}

// Authors' per-source repeat factors (util/universal_dataset.py), which
// balance the very different dataset sizes within an epoch: each denoising
// image 5 times per noise level, Rain100L's 200 pairs 360 times, SOTS's 72135
// once, GoPro 35 times and LOL 150 times.
var authorsRepeat = map[string]int{"denoise": 5, "derain": 360, "dehaze": 1, "deblur": 35, "lowlight": 150}

// TrainSources reads the authors' training layout under root (their
// data/Train):
//
//	Denoise/                        clean images (BSD400 + WED); noise is added on the fly
//	Derain/{rainy,gt}/              rain-N.png / norain-N.png
//	Dehaze/{synthetic,original}/    synthetic/**/0001_0.8_0.2.jpg / original/0001.jpg
//	Deblur/{blur,sharp}/            same names
//	lowlight/{low,high}/            same names
//
// Only the folders the degradations in degs need are read. The result has one
// Source per group (Degradation.Group) in label order, so with
// ThreeDegradations the ids are denoise 0, derain 1, dehaze 2, and with
// FiveDegradations also deblur 3, lowlight 4, the potential indices of the
// authors' trainer. Repeat is set to the authors' factors. The authors also
// filter Denoise by a list file (data_dir/noisy/denoise.txt) and Derain and
// Dehaze by theirs; here every image in the folders is used.
func TrainSources(root string, degs []Degradation) ([]*Source, error) {
	groups, err := groupDegradations(degs)
	if err != nil {
		return nil, err
	}
	var out []*Source
	for _, g := range groups {
		var src *Source
		switch g.name {
		case "denoise":
			files, err := ImageFiles(filepath.Join(root, "Denoise"))
			if err != nil {
				return nil, err
			}
			src, err = NewSyntheticFileSource(g.name, files, g.degs...)
			if err != nil {
				return nil, err
			}
		default:
			var pairs []Pair
			switch g.name {
			case "derain":
				pairs, err = DerainPairs(filepath.Join(root, "Derain", "rainy"), filepath.Join(root, "Derain", "gt"))
			case "dehaze":
				pairs, err = DehazePairs(filepath.Join(root, "Dehaze", "synthetic"), filepath.Join(root, "Dehaze", "original"))
			case "deblur":
				pairs, err = SameNamePairs(filepath.Join(root, "Deblur", "blur"), filepath.Join(root, "Deblur", "sharp"))
			case "lowlight":
				pairs, err = SameNamePairs(filepath.Join(root, "lowlight", "low"), filepath.Join(root, "lowlight", "high"))
			}
			if err != nil {
				return nil, err
			}
			if src, err = NewPairSource(g.name, g.degs[0], pairs); err != nil {
				return nil, err
			}
		}
		src.Repeat = authorsRepeat[g.name]
		out = append(out, src)
	}
	return out, nil
}

// EmbeddedSources builds training sources from EmbeddedTrain, synthesising
// every degradation in degs on the fly; one Source per group, ids as in
// TrainSources, Repeat 1.
func EmbeddedSources(degs []Degradation) ([]*Source, error) {
	groups, err := groupDegradations(degs)
	if err != nil {
		return nil, err
	}
	train := EmbeddedTrain()
	out := make([]*Source, len(groups))
	for i, g := range groups {
		if out[i], err = NewSyntheticSource(g.name, train, g.degs...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ThreeDegradations is the authors' three-degradation setting: noise
// (sigma 15, 25, 50), rain, haze; 3 sources.
func ThreeDegradations() []Degradation { return []Degradation{Noise15, Noise25, Noise50, Rain, Haze} }

// FiveDegradations adds blur and low light; 5 sources.
func FiveDegradations() []Degradation { return append(ThreeDegradations(), Blur, LowLight) }

type group struct {
	name string
	degs []Degradation
}

// groupDegradations groups degs by Group, in label order, rejecting
// duplicates and unknown values.
func groupDegradations(degs []Degradation) ([]group, error) {
	if len(degs) == 0 {
		return nil, errors.New("data: no degradations given")
	}
	seen := map[Degradation]bool{}
	for _, d := range degs {
		if d < 0 || d >= numDegradations {
			return nil, fmt.Errorf("data: invalid degradation %d", int(d))
		}
		if seen[d] {
			return nil, fmt.Errorf("data: degradation %s given twice", d)
		}
		seen[d] = true
	}
	var out []group
	for _, d := range Degradations() {
		if !seen[d] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].name == d.Group() {
			out[n-1].degs = append(out[n-1].degs, d)
		} else {
			out = append(out, group{d.Group(), []Degradation{d}})
		}
	}
	return out, nil
}
