package data

import (
	"path/filepath"
	"strings"
)

// benchmarkTokens are the degraded/clean name parts of the paired test sets
// used for the paper's generalisation tables, tried in order: O-HAZE
// ("01_outdoor_hazy.jpg" / "01_outdoor_GT.jpg"), LOL-v2 ("low00690.png" /
// "normal00690.png"), Rain100H ("rain-001.png" / "norain-001.png"), and the
// "_rain" / "_gt" and "rain" / "clean" forms SPANet's releases use.
var benchmarkTokens = [][2]string{
	{"hazy", "GT"}, {"low", "normal"}, {"low", "high"},
	{"rain-", "norain-"}, {"_rain", "_gt"}, {"rain", "clean"},
}

// BenchmarkPairs pairs the images under degradedDir with their targets in
// cleanDir for the stored benchmarks of the generalisation tests (BSD500
// JPEG, Rain100H, UIEB, O-HAZE, LOL-v2, SPANet): a target has the input's
// name (any image extension; UIEB, BSD500 JPEG, most releases) or the name
// with its degraded token swapped for the clean one (see benchmarkTokens,
// case-insensitive). An input without a target is an error naming the names
// tried.
func BenchmarkPairs(degradedDir, cleanDir string) ([]Pair, error) {
	return matchPairs(degradedDir, cleanDir, func(base string) []string {
		ext := filepath.Ext(base)
		stem := strings.TrimSuffix(base, ext)
		c := withExts(stem, ext)
		lower := strings.ToLower(stem)
		for _, t := range benchmarkTokens {
			if i := strings.Index(lower, strings.ToLower(t[0])); i >= 0 {
				c = append(c, withExts(stem[:i]+t[1]+stem[i+len(t[0]):], ext)...)
			}
		}
		return c
	})
}
