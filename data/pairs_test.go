package data

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// layouts is the root of the miniature dataset copies that
// testdata/layouts/gen_layouts.go writes.
const layouts = "testdata/layouts"

// relPairs writes pairs as "degraded -> clean", paths under layouts.
func relPairs(t *testing.T, pairs []Pair) []string {
	t.Helper()
	var out []string
	for _, p := range pairs {
		d, err := filepath.Rel(layouts, p.Degraded)
		require.NoError(t, err)
		c, err := filepath.Rel(layouts, p.Clean)
		require.NoError(t, err)
		out = append(out, filepath.ToSlash(d)+" -> "+filepath.ToSlash(c))
	}
	return out
}

// Every layout the paper's benchmarks are distributed in, pairing exactly.
func TestPairsLayouts(t *testing.T) {
	l := func(p string) string { return filepath.Join(layouts, p) }
	pairs := func(deg, clean string) func() ([]Pair, error) {
		return func() ([]Pair, error) { return Pairs(l(deg), l(clean)) }
	}
	gopro := func(root string, gamma bool) func() ([]Pair, error) {
		return func() ([]Pair, error) { return GoProPairs(l(root), gamma) }
	}
	tests := []struct {
		name string
		read func() ([]Pair, error)
		want []string
	}{
		{"Rain100L, the authors' input/target", pairs("Rain100L/input", "Rain100L/target"), []string{
			"Rain100L/input/rain-001.png -> Rain100L/target/norain-001.png",
			"Rain100L/input/rain-002.png -> Rain100L/target/norain-002.png"}},
		{"Rain100L, the authors' root as both", pairs("Rain100L", "Rain100L"), []string{
			"Rain100L/input/rain-001.png -> Rain100L/target/norain-001.png",
			"Rain100L/input/rain-002.png -> Rain100L/target/norain-002.png"}},
		{"Rain100L as one folder", pairs("Rain100L_onefolder", "Rain100L_onefolder"), []string{
			"Rain100L_onefolder/rain-001.png -> Rain100L_onefolder/norain-001.png",
			"Rain100L_onefolder/rain-002.png -> Rain100L_onefolder/norain-002.png"}},
		{"Rain100L, PKU's re-release", pairs("rain_data_test_Light/rain/X2", "rain_data_test_Light/norain"), []string{
			"rain_data_test_Light/rain/X2/norain-1x2.png -> rain_data_test_Light/norain/norain-1.png",
			"rain_data_test_Light/rain/X2/norain-2x2.png -> rain_data_test_Light/norain/norain-2.png"}},
		{"Rain100H as PReNet ships it", pairs("Rain100H/rainy", "Rain100H"), []string{
			"Rain100H/rainy/rain-001.png -> Rain100H/norain-001.png",
			"Rain100H/rainy/rain-002.png -> Rain100H/norain-002.png"}},
		{"Rain100H, PReNet's root as both", pairs("Rain100H", "Rain100H"), []string{
			"Rain100H/rainy/rain-001.png -> Rain100H/norain-001.png",
			"Rain100H/rainy/rain-002.png -> Rain100H/norain-002.png"}},
		{"SPANet real_test_1000", pairs("real_test_1000/rain", "real_test_1000/gt"), []string{
			"real_test_1000/rain/000.png -> real_test_1000/gt/000gt.png",
			"real_test_1000/rain/001.png -> real_test_1000/gt/001gt.png"}},
		{"SOTS outdoor", pairs("SOTS/outdoor/hazy", "SOTS/outdoor/gt"), []string{
			"SOTS/outdoor/hazy/0001_0.8_0.2.jpg -> SOTS/outdoor/gt/0001.png",
			"SOTS/outdoor/hazy/0002_1_0.08.jpg -> SOTS/outdoor/gt/0002.png"}},
		{"RESIDE OTS, the authors' Dehaze", pairs("Train/Dehaze/synthetic", "Train/Dehaze/original"), []string{
			"Train/Dehaze/synthetic/part1/0025_0.8_0.04.jpg -> Train/Dehaze/original/0025.jpg",
			"Train/Dehaze/synthetic/part1/0026_0.8_0.04.jpg -> Train/Dehaze/original/0026.jpg",
			"Train/Dehaze/synthetic/part2/0025_0.9_0.2.jpg -> Train/Dehaze/original/0025.jpg"}},
		{"GoPro test root", gopro("GOPRO_Large/test", false), []string{
			"GOPRO_Large/test/GOPR0384_11_00/blur/000001.png -> GOPRO_Large/test/GOPR0384_11_00/sharp/000001.png",
			"GOPRO_Large/test/GOPR0384_11_00/blur/000002.png -> GOPRO_Large/test/GOPR0384_11_00/sharp/000002.png",
			"GOPRO_Large/test/GOPR0410_11_00/blur/000001.png -> GOPRO_Large/test/GOPR0410_11_00/sharp/000001.png"}},
		{"GoPro test root, blur_gamma", gopro("GOPRO_Large/test", true), []string{
			"GOPRO_Large/test/GOPR0384_11_00/blur_gamma/000001.png -> GOPRO_Large/test/GOPR0384_11_00/sharp/000001.png",
			"GOPRO_Large/test/GOPR0384_11_00/blur_gamma/000002.png -> GOPRO_Large/test/GOPR0384_11_00/sharp/000002.png",
			"GOPRO_Large/test/GOPR0410_11_00/blur_gamma/000001.png -> GOPRO_Large/test/GOPR0410_11_00/sharp/000001.png"}},
		{"GoPro, one scene", gopro("GOPRO_Large/test/GOPR0410_11_00", false), []string{
			"GOPRO_Large/test/GOPR0410_11_00/blur/000001.png -> GOPRO_Large/test/GOPR0410_11_00/sharp/000001.png"}},
		{"GoPro, the authors' Deblur", gopro("Train/Deblur", false), []string{
			"Train/Deblur/blur/GOPR0372_07_00-000047.png -> Train/Deblur/sharp/GOPR0372_07_00-000047.png"}},
		{"LOL-v1 eval15", pairs("LOLdataset/eval15/low", "LOLdataset/eval15/high"), []string{
			"LOLdataset/eval15/low/1.png -> LOLdataset/eval15/high/1.png",
			"LOLdataset/eval15/low/22.png -> LOLdataset/eval15/high/22.png"}},
		{"LOL-v2 real", pairs("LOL-v2/Real_captured/Test/Low", "LOL-v2/Real_captured/Test/Normal"), []string{
			"LOL-v2/Real_captured/Test/Low/low00690.png -> LOL-v2/Real_captured/Test/Normal/normal00690.png",
			"LOL-v2/Real_captured/Test/Low/low00691.png -> LOL-v2/Real_captured/Test/Normal/normal00691.png"}},
		{"O-HAZE", pairs("O-HAZE/hazy", "O-HAZE/GT"), []string{
			"O-HAZE/hazy/01_outdoor_hazy.jpg -> O-HAZE/GT/01_outdoor_GT.jpg",
			"O-HAZE/hazy/02_outdoor_hazy.jpg -> O-HAZE/GT/02_outdoor_GT.jpg"}},
		{"UIEB", pairs("UIEB/raw-890", "UIEB/reference-890"), []string{
			"UIEB/raw-890/2_img_.png -> UIEB/reference-890/2_img_.png",
			"UIEB/raw-890/890_img_.png -> UIEB/reference-890/890_img_.png"}},
		{"BSD500 JPEG quality 10", pairs("JPEG/bsds500/color/qf_10", "JPEG/bsds500/refimgs"), []string{
			"JPEG/bsds500/color/qf_10/3096.jpg -> JPEG/bsds500/refimgs/3096.png",
			"JPEG/bsds500/color/qf_10/8023.jpg -> JPEG/bsds500/refimgs/8023.png"}},
		{"CBSD68 noisy copies", pairs("CBSD68/noisy25", "CBSD68/original_png"), []string{
			"CBSD68/noisy25/0000.png -> CBSD68/original_png/0000.png",
			"CBSD68/noisy25/0001.png -> CBSD68/original_png/0001.png"}},
		{"CDD-11", pairs("CDD-11_test/low_haze", "CDD-11_test/clear"), []string{
			"CDD-11_test/low_haze/000.png -> CDD-11_test/clear/000.png",
			"CDD-11_test/low_haze/001.png -> CDD-11_test/clear/001.png"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.read()
			require.NoError(t, err)
			require.Equal(t, tc.want, relPairs(t, got))
			for _, p := range got { // every file holds its own pattern: a self-pair would read equal
				d, c, err := LoadPair(p)
				require.NoError(t, err)
				require.NotEqual(t, d.Pix, c.Pix, p.Degraded)
			}
		})
	}
}

// Known wrong inputs are refused, naming what to pass instead.
func TestPairsRefusals(t *testing.T) {
	l := func(p string) string { return filepath.Join(layouts, p) }
	tests := []struct {
		name string
		err  func() error
		want []string
	}{
		{"GoPro test root to Pairs", func() error { _, err := Pairs(l("GOPRO_Large/test"), l("GOPRO_Large/test")); return err },
			[]string{"holds GoPro scenes", "GoProPairs"}},
		{"GoPro scene to Pairs", func() error {
			_, err := Pairs(l("GOPRO_Large/test/GOPR0410_11_00"), l("GOPRO_Large/test/GOPR0410_11_00/sharp"))
			return err
		}, []string{"holds GoPro scenes"}},
		{"GoPro root with both splits", func() error { _, err := GoProPairs(l("GOPRO_Large"), false); return err },
			[]string{"train/ and test/", "pass " + l("GOPRO_Large/test")}},
		{"GoPro without scenes", func() error { _, err := GoProPairs(l("UIEB"), false); return err },
			[]string{"no GoPro scene"}},
		{"CBSD68 root as clean folder", func() error { _, err := Pairs(l("CBSD68/noisy25"), l("CBSD68")); return err },
			[]string{"noisy25, noisy5", "pass " + l("CBSD68/original_png")}},
		{"CBSD68 root as clean images", func() error { _, err := CleanImages(l("CBSD68")); return err },
			[]string{"noisy copies", l("CBSD68/original_png")}},
		{"LOL root as both", func() error { _, err := Pairs(l("LOLdataset/eval15"), l("LOLdataset/eval15")); return err },
			[]string{"is also the target of", "not a folder holding both"}},
		{"rainy folder alone", func() error { _, err := Pairs(l("Rain100H/rainy"), l("Rain100H/rainy")); return err },
			[]string{"no clean image for " + l("Rain100H/rainy/rain-001.png"), "norain-001.*"}},
		{"wrong partner folder", func() error { _, err := Pairs(l("Rain100L/input"), l("SOTS/outdoor/gt")); return err },
			[]string{"no clean image for", "tried rain-001.*, norain-001.*"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
	files, err := CleanImages(l("CBSD68/original_png"))
	require.NoError(t, err)
	require.Len(t, files, 2)
}

// A file never pairs with itself, through a link either; where two targets
// are possible the input is refused with both named.
func TestPairsIdentity(t *testing.T) {
	dir := t.TempDir()
	j := func(p string) string { return filepath.Join(dir, p) }
	writeImage(t, dir, "rainy/rain-1.png", 16, 16, 1)
	require.NoError(t, os.MkdirAll(j("linked"), 0o755))
	require.NoError(t, os.Symlink(j("rainy/rain-1.png"), j("linked/rain-1.png")))
	require.NoError(t, os.Link(j("rainy/rain-1.png"), j("linked/rain-1gt.png")))
	_, err := Pairs(j("rainy"), j("linked"))
	require.ErrorContains(t, err, "no clean image for "+j("rainy/rain-1.png"))

	writeImage(t, dir, "rain/000.png", 16, 16, 2)
	writeImage(t, dir, "gt/000gt.png", 16, 16, 3)
	writeImage(t, dir, "gt/000.jpg", 16, 16, 4)
	_, err = Pairs(j("rain"), j("gt"))
	require.ErrorContains(t, err, "could pair with")
	require.ErrorContains(t, err, j("gt/000.jpg"))
	require.ErrorContains(t, err, j("gt/000gt.png"))

	// the clean folder's own subfolder wins over another's
	for _, p := range []string{"a/x/1.png", "a/y/1.png", "b/x/1.png", "b/y/1.png"} {
		writeImage(t, dir, "scenes/"+p, 16, 16, uint64(len(p)))
	}
	pairs, err := Pairs(j("scenes/a"), j("scenes/b"))
	require.NoError(t, err)
	require.Equal(t, []Pair{{j("scenes/a/x/1.png"), j("scenes/b/x/1.png")}, {j("scenes/a/y/1.png"), j("scenes/b/y/1.png")}}, pairs)
	_, err = Pairs(j("scenes/a/x"), j("scenes/b"))
	require.ErrorContains(t, err, "could pair with", "no subfolder to tell x/1.png from y/1.png")
}
