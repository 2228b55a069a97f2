//go:build ignore

// gen_layouts writes miniature copies of the folder layouts and file names
// of the datasets the paper trains and tests on, as they are distributed,
// for the pairing tests (data/pairs_test.go). Every image is a 32x32
// pattern seeded by its own path, so no two files hold the same pixels and
// a file paired with itself or with the wrong partner shows; no dataset
// content is used. Run from the repository root:
//
//	go run data/testdata/layouts/gen_layouts.go
package main

import (
	"bytes"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/image/bmp"
)

const side = 32

// layouts lists every file, by path under data/testdata/layouts. The
// image format follows the extension; other files are written as given.
var layouts = []string{
	// The authors' data/Train with mixed extensions (WED is .bmp, BSD400
	// .jpg), a grey image and a macOS .DS_Store; their data_dir lists name
	// two of each source's three images.
	"Train/Denoise/00012.bmp", "Train/Denoise/03000.bmp", "Train/Denoise/a247012.jpg", "Train/Denoise/grey_test.png",
	"Train/Denoise/.DS_Store",
	"Train/Derain/rainy/rain-1.png", "Train/Derain/rainy/rain-2.png", "Train/Derain/rainy/rain-3.png",
	"Train/Derain/gt/norain-1.png", "Train/Derain/gt/norain-2.png", "Train/Derain/gt/norain-3.png",
	"Train/Dehaze/synthetic/part1/0025_0.8_0.04.jpg", "Train/Dehaze/synthetic/part1/0026_0.8_0.04.jpg",
	"Train/Dehaze/synthetic/part2/0025_0.9_0.2.jpg",
	"Train/Dehaze/original/0025.jpg", "Train/Dehaze/original/0026.jpg",
	"Train/Deblur/blur/GOPR0372_07_00-000047.png", "Train/Deblur/sharp/GOPR0372_07_00-000047.png",
	"Train/lowlight/low/2.png", "Train/lowlight/high/2.png",
	"data_dir/noisy/denoise.txt", "data_dir/rainy/rainTrain.txt", "data_dir/hazy/hazy_outside.txt",

	// BSD68 as DnCNN ships it (grey), and CBSD68 as one popular copy ships
	// its root: clean images twice, noisy copies beside them.
	"BSD68/test001.png", "BSD68/test002.png",
	"CBSD68/original/0000.jpg", "CBSD68/original/0001.jpg",
	"CBSD68/original_png/0000.png", "CBSD68/original_png/0001.png",
	"CBSD68/noisy5/0000.png", "CBSD68/noisy5/0001.png", "CBSD68/noisy25/0000.png", "CBSD68/noisy25/0001.png",

	// Rain100L: the authors' test layout, one folder (rain-* beside
	// norain-* and JORDER's rain masks), PKU's re-release; Rain100H as PReNet ships it (clean
	// images beside the rainy/ folder).
	"Rain100L/input/rain-001.png", "Rain100L/input/rain-002.png",
	"Rain100L/target/norain-001.png", "Rain100L/target/norain-002.png",
	"Rain100L_onefolder/rain-001.png", "Rain100L_onefolder/norain-001.png",
	"Rain100L_onefolder/rain-002.png", "Rain100L_onefolder/norain-002.png",
	"Rain100L_onefolder/rainregion-002.png", "Rain100L_onefolder/rainstreak-002.png",
	"rain_data_test_Light/rain/X2/norain-1x2.png", "rain_data_test_Light/rain/X2/norain-2x2.png",
	"rain_data_test_Light/norain/norain-1.png", "rain_data_test_Light/norain/norain-2.png",
	"Rain100H/rainy/rain-001.png", "Rain100H/rainy/rain-002.png",
	"Rain100H/norain-001.png", "Rain100H/norain-002.png",

	// SPANet's real_test_1000.
	"real_test_1000/rain/000.png", "real_test_1000/rain/001.png",
	"real_test_1000/gt/000gt.png", "real_test_1000/gt/001gt.png",

	// SOTS outdoor (RESIDE).
	"SOTS/outdoor/hazy/0001_0.8_0.2.jpg", "SOTS/outdoor/hazy/0002_1_0.08.jpg",
	"SOTS/outdoor/gt/0001.png", "SOTS/outdoor/gt/0002.png",

	// GoPro as released: frame names repeat across scenes.
	"GOPRO_Large/test/GOPR0384_11_00/blur/000001.png", "GOPRO_Large/test/GOPR0384_11_00/blur/000002.png",
	"GOPRO_Large/test/GOPR0384_11_00/blur_gamma/000001.png", "GOPRO_Large/test/GOPR0384_11_00/blur_gamma/000002.png",
	"GOPRO_Large/test/GOPR0384_11_00/sharp/000001.png", "GOPRO_Large/test/GOPR0384_11_00/sharp/000002.png",
	"GOPRO_Large/test/GOPR0410_11_00/blur/000001.png",
	"GOPRO_Large/test/GOPR0410_11_00/blur_gamma/000001.png",
	"GOPRO_Large/test/GOPR0410_11_00/sharp/000001.png",
	"GOPRO_Large/train/GOPR0372_07_00/blur/000047.png",
	"GOPRO_Large/train/GOPR0372_07_00/blur_gamma/000047.png",
	"GOPRO_Large/train/GOPR0372_07_00/sharp/000047.png",

	// LOL-v1's eval15 and LOL-v2 real's test split.
	"LOLdataset/eval15/low/1.png", "LOLdataset/eval15/low/22.png",
	"LOLdataset/eval15/high/1.png", "LOLdataset/eval15/high/22.png",
	"LOL-v2/Real_captured/Test/Low/low00690.png", "LOL-v2/Real_captured/Test/Low/low00691.png",
	"LOL-v2/Real_captured/Test/Normal/normal00690.png", "LOL-v2/Real_captured/Test/Normal/normal00691.png",

	// O-HAZE, UIEB, BSD500 at JPEG quality 10 (the authors' test layout),
	// CDD-11's test split.
	"O-HAZE/hazy/01_outdoor_hazy.jpg", "O-HAZE/hazy/02_outdoor_hazy.jpg",
	"O-HAZE/GT/01_outdoor_GT.jpg", "O-HAZE/GT/02_outdoor_GT.jpg",
	"UIEB/raw-890/2_img_.png", "UIEB/raw-890/890_img_.png",
	"UIEB/reference-890/2_img_.png", "UIEB/reference-890/890_img_.png",
	"JPEG/bsds500/color/qf_10/3096.jpg", "JPEG/bsds500/color/qf_10/8023.jpg",
	"JPEG/bsds500/refimgs/3096.png", "JPEG/bsds500/refimgs/8023.png",
	"CDD-11_test/low_haze/000.png", "CDD-11_test/low_haze/001.png",
	"CDD-11_test/clear/000.png", "CDD-11_test/clear/001.png",
}

// texts are the files that are not images.
var texts = map[string]string{
	"Train/Denoise/.DS_Store":        "Bud1\x00\x00",
	"data_dir/noisy/denoise.txt":     "03000.bmp\r\na247012.jpg\r\n",
	"data_dir/rainy/rainTrain.txt":   "rainy/rain-1.png\nrainy/rain-3.png\n",
	"data_dir/hazy/hazy_outside.txt": "synthetic/part1/0025_0.8_0.04.jpg\nsynthetic/part2/0025_0.9_0.2.jpg\n\n",
}

// pattern is a smooth picture seeded by name: JPEG keeps it apart from
// every other file's.
func pattern(name string, grey bool) image.Image {
	h := fnv.New64a()
	h.Write([]byte(name))
	s := h.Sum64()
	a, b, c := int(s%7)+1, int(s>>8%7)+1, int(s>>16%256)
	if grey {
		im := image.NewGray(image.Rect(0, 0, side, side))
		for y := 0; y < side; y++ {
			for x := 0; x < side; x++ {
				im.SetGray(x, y, color.Gray{uint8((a*x + b*y + c) % 256)})
			}
		}
		return im
	}
	im := image.NewRGBA(image.Rect(0, 0, side, side))
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			im.SetRGBA(x, y, color.RGBA{uint8((a*x + b*y + c) % 256), uint8((b*x + 3*y + c/2) % 256), uint8((4*x + a*y + 2*c) % 256), 255})
		}
	}
	return im
}

func encode(name string) []byte {
	if t, ok := texts[name]; ok {
		return []byte(t)
	}
	im := pattern(name, strings.Contains(name, "grey") || strings.HasPrefix(name, "BSD68/"))
	var buf bytes.Buffer
	var err error
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png":
		err = png.Encode(&buf, im)
	case ".jpg":
		err = jpeg.Encode(&buf, im, &jpeg.Options{Quality: 95})
	case ".bmp":
		err = bmp.Encode(&buf, im)
	default:
		log.Fatalf("%s: no encoder", name)
	}
	if err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func main() {
	root := filepath.Join("data", "testdata", "layouts")
	for _, name := range layouts {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, encode(name), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
