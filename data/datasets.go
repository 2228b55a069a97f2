package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

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

// Authors' per-source repeat factors (util/universal_dataset.py), which
// balance the very different dataset sizes within an epoch: each denoising
// image 5 times per noise level, Rain100L's 200 pairs 360 times, SOTS's 72135
// once, GoPro 35 times and LOL 150 times.
var authorsRepeat = map[string]int{"denoise": 5, "derain": 360, "dehaze": 1, "deblur": 35, "lowlight": 150}

// TrainLayout is the authors' training data: Root is their data/Train,
//
//	Denoise/                        clean images (BSD400 + WED); noise is added on the fly
//	Derain/{rainy,gt}/              rain-N.png / norain-N.png (Rain100L's training pairs)
//	Dehaze/{synthetic,original}/    synthetic/part1/0025_0.8_0.04.jpg / original/0025.jpg (RESIDE OTS)
//	Deblur/{blur,sharp}/            same names; or GoPro's train/ scenes as released
//	lowlight/{low,high}/            same names (LOL-v1's our485)
//
// paired as Pairs pairs folders. Lists optionally restricts sources to the
// images their list files name, as the authors' trainer does (AuthorsLists).
type TrainLayout struct {
	Root string
	// Lists maps a source's name (denoise, derain, dehaze, deblur, lowlight)
	// to a text file naming the images it trains on, one a line, as paths
	// under the source's folder: "03000.bmp" for Denoise/03000.bmp,
	// "rainy/rain-100.png" for Derain's, "synthetic/part1/0025_0.8_0.04.jpg"
	// for Dehaze's; for a paired source, its degraded images. A source
	// without a list trains on every image of its folders.
	Lists map[string]string
}

// authorsLists are the list files of the authors' data_dir, per source.
var authorsLists = map[string]string{
	"denoise": "noisy/denoise.txt",     // BSD400 + WED: 5144 names
	"derain":  "rainy/rainTrain.txt",   // Rain100L: 200 rainy images
	"dehaze":  "hazy/hazy_outside.txt", // RESIDE OTS: 72135 hazy images
}

// AuthorsLists finds the authors' list files under dataDir (their
// data_dir: noisy/denoise.txt, rainy/rainTrain.txt, hazy/hazy_outside.txt)
// for TrainLayout.Lists; a folder holding none of them is an error.
func AuthorsLists(dataDir string) (map[string]string, error) {
	out := map[string]string{}
	for src, rel := range authorsLists {
		p := filepath.Join(dataDir, rel)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			out[src] = p
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: none of the authors' lists (noisy/denoise.txt, rainy/rainTrain.txt, hazy/hazy_outside.txt) in %s", dataDir)
	}
	return out, nil
}

// maxListLine bounds a list file's line: a path, not a blob.
const maxListLine = 4096

// ParseList reads a list of image paths, one a line, as the authors' lists
// hold them: blank lines and surrounding spaces (and CR) are ignored, "/"
// separates folders, and an entry may not leave the folder it is read
// under (no absolute paths, no ".."). name labels errors. The entries come
// back cleaned, in slash form, in file order, without repeats.
func ParseList(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxListLine)
	var out []string
	seen := map[string]bool{}
	for line := 1; sc.Scan(); line++ {
		e := strings.TrimSpace(sc.Text())
		if e == "" {
			continue
		}
		if strings.ContainsRune(e, 0) || !utf8.ValidString(e) {
			return nil, fmt.Errorf("data: %s line %d: not a file name", name, line)
		}
		c := path.Clean(strings.ReplaceAll(e, "\\", "/"))
		if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") || c == "." {
			return nil, fmt.Errorf("data: %s line %d: %q is not a path under the source's folder", name, line, e)
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("data: %s: a line longer than %d bytes", name, maxListLine)
		}
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: %s names no images", name)
	}
	return out, nil
}

// readList reads the list file at p (see ParseList).
func readList(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return ParseList(f, p)
}

// keepListed keeps the items whose file (file(item)) the list at listPath
// names under dir; a listed name not among them is an error naming it.
func keepListed[T any](items []T, file func(T) string, dir, listPath string) ([]T, error) {
	names, err := readList(listPath)
	if err != nil {
		return nil, err
	}
	listed := make(map[string]bool, len(names))
	for _, n := range names {
		listed[n] = true
	}
	var out []T
	for _, it := range items {
		rel, err := filepath.Rel(dir, file(it))
		if err != nil {
			continue
		}
		if rel = filepath.ToSlash(rel); listed[rel] {
			out = append(out, it)
			delete(listed, rel)
		}
	}
	if len(listed) > 0 {
		for _, n := range names {
			if listed[n] {
				return nil, fmt.Errorf("data: %s names %d images not found under %s, the first %s", listPath, len(listed), dir, n)
			}
		}
	}
	return out, nil
}

// TrainSources reads the training sources of layout. Only the folders the
// degradations in degs need are read. The result has one Source per group
// (Degradation.Group) in label order, so with ThreeDegradations the ids
// are denoise 0, derain 1, dehaze 2, and with FiveDegradations also
// deblur 3, lowlight 4, the potential indices of the authors' trainer.
// Repeat is set to the authors' factors. A list for a source not trained
// is an error, as is an unknown source name.
func TrainSources(layout TrainLayout, degs []Degradation) ([]*Source, error) {
	groups, err := groupDegradations(degs)
	if err != nil {
		return nil, err
	}
	for name := range layout.Lists {
		if !slices.ContainsFunc(groups, func(g group) bool { return g.name == name }) {
			return nil, fmt.Errorf("data: a list for %q, which is not a source here (%s)", name, groupNames(groups))
		}
	}
	root := layout.Root
	var out []*Source
	for _, g := range groups {
		list := layout.Lists[g.name]
		var src *Source
		if g.name == "denoise" {
			dir := filepath.Join(root, "Denoise")
			files, err := ImageFiles(dir)
			if err == nil && list != "" {
				files, err = keepListed(files, func(f string) string { return f }, dir, list)
			}
			if err != nil {
				return nil, err
			}
			if src, err = NewSyntheticFileSource(g.name, files, g.degs...); err != nil {
				return nil, err
			}
		} else {
			var dir string
			var pairs []Pair
			switch g.name {
			case "derain":
				dir = filepath.Join(root, "Derain")
				pairs, err = Pairs(filepath.Join(dir, "rainy"), filepath.Join(dir, "gt"))
			case "dehaze":
				dir = filepath.Join(root, "Dehaze")
				pairs, err = Pairs(filepath.Join(dir, "synthetic"), filepath.Join(dir, "original"))
			case "deblur":
				dir = filepath.Join(root, "Deblur")
				pairs, err = GoProPairs(dir, false)
			case "lowlight":
				dir = filepath.Join(root, "lowlight")
				pairs, err = Pairs(filepath.Join(dir, "low"), filepath.Join(dir, "high"))
			}
			if err == nil && list != "" {
				pairs, err = keepListed(pairs, func(p Pair) string { return p.Degraded }, dir, list)
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

func groupNames(groups []group) string {
	var names []string
	for _, g := range groups {
		names = append(names, g.name)
	}
	return strings.Join(names, ", ")
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
