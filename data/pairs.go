package data

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// namingRule names the clean stem of a degraded file's stem (file name
// without extension) in one dataset's convention.
type namingRule struct {
	degraded *regexp.Regexp
	clean    string // regexp.Expand template
}

// namingRules are the benchmarks' naming conventions; every reader applies
// all of them, and a clean file may carry any image extension.
var namingRules = []namingRule{
	// same name: LOL-v1, GoPro, UIEB, BSD500 JPEG, CDD-11, LOL-v2 synthetic
	{regexp.MustCompile(`^(.+)$`), "$1"},
	// Rain100L/H (the authors', PromptIR's and PReNet's copies): rain-001 / norain-001
	{regexp.MustCompile(`(?i)^rain([-_].+)$`), "norain$1"},
	// Rain100L/H and Rain200L/H as re-released by PKU: rain/X2/norain-1x2 / norain/norain-1
	{regexp.MustCompile(`(?i)^(.*\d)x\d+$`), "$1"},
	// SPANet real_test_1000: rain/000 / gt/000gt
	{regexp.MustCompile(`^(.+)$`), "${1}gt"},
	{regexp.MustCompile(`(?i)^(.+)_rain$`), "${1}_gt"},
	// SOTS and RESIDE: 0001_0.8_0.2 (image, airlight, beta) / 0001; indoor 1400_1 / 1400
	{regexp.MustCompile(`^(\d+)(?:_[0-9.]+)+$`), "$1"},
	// O-HAZE, NH-HAZE, Dense-Haze: 01_outdoor_hazy / 01_outdoor_GT
	{regexp.MustCompile(`(?i)^(.+)_hazy$`), "${1}_GT"},
	// LOL-v2 real: low00690 / normal00690
	{regexp.MustCompile(`(?i)^low(\d+)$`), "normal$1"},
}

// notInput matches the stems of files that are not inputs: clean targets,
// and the rain masks JORDER's Rain100L/H folders hold beside rain-N and
// norain-N (rainregion-N, rainstreak-N), so that a folder holding inputs
// and targets together gives these no pair of their own.
var notInput = regexp.MustCompile(`(?i)^(norain|normal|rainregion|rainstreak)|(gt|_clean)$`)

// cleanStems lists, lower-cased and without repeats, the clean stems a
// degraded stem may have under namingRules.
func cleanStems(stem string) []string {
	var out []string
	for _, r := range namingRules {
		m := r.degraded.FindStringSubmatchIndex(stem)
		if m == nil {
			continue
		}
		s := strings.ToLower(string(r.degraded.ExpandString(nil, r.clean, stem, m)))
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// entry is one image file of a folder being paired.
type entry struct {
	path string
	rel  []string // folders between the listed root and the file
	stem string   // lower-cased, without extension
	id   string   // the file with links resolved: one id per file
	info os.FileInfo
}

// entries lists dir's images with what pairing needs of each.
func entries(dir string) ([]entry, error) {
	files, err := ImageFiles(dir)
	if err != nil {
		return nil, err
	}
	out := make([]entry, len(files))
	for i, f := range files {
		e := entry{path: f}
		base := filepath.Base(f)
		e.stem = strings.ToLower(strings.TrimSuffix(base, filepath.Ext(base)))
		if rel, err := filepath.Rel(dir, filepath.Dir(f)); err == nil && rel != "." {
			e.rel = strings.Split(rel, string(filepath.Separator))
		}
		if e.info, err = os.Stat(f); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if e.id, err = filepath.EvalSymlinks(f); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if e.id, err = filepath.Abs(e.id); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		out[i] = e
	}
	return out, nil
}

// sharedFolders is how many leading folders two files' relative paths share.
func sharedFolders(a, b []string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// Pairs pairs every image under degradedDir with its clean target under
// cleanDir, for every paired dataset the paper trains or tests on (see the
// README's dataset section for the folders as distributed):
//
//   - a target is named by one of the datasets' conventions: the same name
//     (LOL-v1, GoPro, UIEB, BSD500 JPEG, CDD-11), rain-N / norain-N
//     (Rain100L/H), norain-NxK / norain-N (PKU's Rain100L/Rain200L), N / Ngt
//     (SPANet), NNNN_a_b / NNNN (SOTS, RESIDE), NN_outdoor_hazy /
//     NN_outdoor_GT (O-HAZE), lowNNNNN / normalNNNNN (LOL-v2 real); names
//     compare case-insensitively and the extension may differ;
//   - a file never pairs with itself (by identity: links to it count as it);
//   - a pair stays within its scene or subfolder: among the candidates, those
//     whose folders under cleanDir share the most leading names with the
//     input's folders under degradedDir win;
//   - where two candidates remain, the input is refused with both named.
//
// The two folders may be one (Rain100L with rain-* and norain-* side by
// side) or nested (PReNet's Rain100H: rainy/ inside the clean folder); a
// file that is another input's target is then not an input itself. Folders
// that hold GoPro scenes (see GoProPairs) or noisy copies beside their
// clean images (a CBSD68 root) are refused with the folder to pass instead.
// An input without a target is an error naming it and the names tried.
func Pairs(degradedDir, cleanDir string) ([]Pair, error) {
	for _, dir := range []string{degradedDir, cleanDir} {
		if err := refuseKnownRoots(dir); err != nil {
			return nil, err
		}
	}
	deg, err := entries(degradedDir)
	if err != nil {
		return nil, err
	}
	clean, err := entries(cleanDir)
	if err != nil {
		return nil, err
	}
	byStem := map[string][]int{}
	cleanIDs := map[string]bool{}
	for i, c := range clean {
		byStem[c.stem] = append(byStem[c.stem], i)
		cleanIDs[c.id] = true
	}
	type matched struct {
		deg   entry
		clean int // index into clean, -1 when none
	}
	found := make([]matched, len(deg))
	targets := map[string]string{} // target id -> its input
	for i, d := range deg {
		found[i] = matched{d, -1}
		best, tie := -1, -1
		bestShared := -1
		for _, s := range cleanStems(d.stem) {
			for _, ci := range byStem[s] {
				c := clean[ci]
				if c.id == d.id || os.SameFile(c.info, d.info) || ci == best {
					continue
				}
				switch n := sharedFolders(d.rel, c.rel); {
				case n > bestShared:
					best, tie, bestShared = ci, -1, n
				case n == bestShared:
					tie = ci
				}
			}
		}
		if tie >= 0 {
			return nil, fmt.Errorf("data: %s could pair with %s or with %s: pass folders that hold one target per input",
				d.path, clean[best].path, clean[tie].path)
		}
		if best >= 0 {
			found[i].clean = best
			targets[clean[best].id] = d.path
		}
	}
	var pairs []Pair
	for _, m := range found {
		d := m.deg
		input, isTarget := targets[d.id]
		switch {
		case m.clean >= 0 && isTarget:
			return nil, fmt.Errorf("data: %s pairs with %s but is also the target of %s: pass the degraded and the clean folder, not a folder holding both",
				d.path, clean[m.clean].path, input)
		case m.clean >= 0:
			pairs = append(pairs, Pair{Degraded: d.path, Clean: clean[m.clean].path})
		case isTarget, cleanIDs[d.id] && notInput.MatchString(d.stem):
			// a clean file in a folder that holds inputs too
		default:
			var tried []string
			for _, s := range cleanStems(d.stem) {
				tried = append(tried, s+".*")
			}
			return nil, fmt.Errorf("data: no clean image for %s in %s (tried %s)", d.path, cleanDir, strings.Join(tried, ", "))
		}
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("data: no degraded/clean pairs in %s and %s", degradedDir, cleanDir)
	}
	return pairs, nil
}

// refuseKnownRoots refuses a folder that holds a dataset's several
// versions of the same images, whose files would pair across versions or
// be taken for clean images: a GoPro root (scenes with blur/, blur_gamma/
// and sharp/ holding the same frame names) and a CBSD68 root (original/,
// original_png/ and noisy5 ... noisy50/). The error names what to pass.
func refuseKnownRoots(dir string) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil // ImageFiles names the problem
	}
	scenes, err := goproScenes(dir, false)
	if err != nil {
		return err
	}
	if len(scenes) > 0 {
		return fmt.Errorf("data: %s holds GoPro scenes (%s/blur, %s/sharp ...): pair them per scene with GoProPairs (-gopro %s), or pass one blur and one sharp folder",
			dir, scenes[0], scenes[0], dir)
	}
	children, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	var noisy, original []string
	for _, c := range children {
		name := strings.ToLower(c.Name())
		switch {
		case !c.IsDir():
		case strings.HasPrefix(name, "noisy"):
			noisy = append(noisy, c.Name())
		case strings.HasPrefix(name, "original"):
			original = append(original, c.Name())
		}
	}
	if len(noisy) > 0 && len(original) > 0 {
		return fmt.Errorf("data: %s holds noisy copies (%s) beside the clean images: pass %s as the clean folder",
			dir, strings.Join(noisy, ", "), filepath.Join(dir, preferPNG(original)))
	}
	return nil
}

// preferPNG picks "original_png" over "original" (CBSD68 ships both).
func preferPNG(names []string) string {
	for _, n := range names {
		if strings.Contains(strings.ToLower(n), "png") {
			return n
		}
	}
	return names[0]
}

// CleanImages lists the clean test images under dir (BSD68, CBSD68,
// Kodak, BSD500) as ImageFiles does, refusing a folder that holds noisy
// copies beside them (a CBSD68 root with noisy5 ... noisy50/), which
// would be taken for clean images, with the folder to pass instead.
func CleanImages(dir string) ([]string, error) {
	if err := refuseKnownRoots(dir); err != nil {
		return nil, err
	}
	return ImageFiles(dir)
}

// GoProPairs pairs GoPro's blurred frames with their sharp ones as
// released: root is GOPRO_Large/test (or train), one scene folder, or a
// folder with blur/ and sharp/ directly (the authors' Deblur). Frames pair
// by name within their scene; gamma takes blur_gamma/ instead of blur/.
// A folder holding both train/ and test/ is refused, naming test/.
func GoProPairs(root string, gamma bool) ([]Pair, error) {
	scenes, err := goproScenes(root, gamma)
	if err != nil {
		return nil, err
	}
	blur := goproBlur(gamma)
	if len(scenes) == 0 {
		return nil, fmt.Errorf("data: no GoPro scene (a folder with %s/ and sharp/) in %s", blur, root)
	}
	var out []Pair
	for _, s := range scenes {
		pairs, err := Pairs(filepath.Join(s, blur), filepath.Join(s, "sharp"))
		if err != nil {
			return nil, err
		}
		out = append(out, pairs...)
	}
	return out, nil
}

func goproBlur(gamma bool) string {
	if gamma {
		return "blur_gamma"
	}
	return "blur"
}

// goproScenes lists root, or its subfolders, that hold a blur (or
// blur_gamma) and a sharp folder, sorted.
func goproScenes(root string, gamma bool) ([]string, error) {
	isScene := func(dir string) bool {
		for _, sub := range []string{goproBlur(gamma), "sharp"} {
			if st, err := os.Stat(filepath.Join(dir, sub)); err != nil || !st.IsDir() {
				return false
			}
		}
		return true
	}
	if isScene(root) {
		return []string{root}, nil
	}
	children, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var scenes []string
	hasSplit := map[string]bool{}
	for _, c := range children {
		if !c.IsDir() {
			continue
		}
		dir := filepath.Join(root, c.Name())
		if isScene(dir) {
			scenes = append(scenes, dir)
		}
		if n := strings.ToLower(c.Name()); n == "train" || n == "test" {
			if sub, _ := goproScenes(dir, gamma); len(sub) > 0 {
				hasSplit[n] = true
			}
		}
	}
	if len(scenes) == 0 && len(hasSplit) > 0 {
		return nil, fmt.Errorf("data: %s holds GoPro's train/ and test/ splits: pass %s to test on, %s to train on",
			root, filepath.Join(root, "test"), filepath.Join(root, "train"))
	}
	return scenes, nil
}
