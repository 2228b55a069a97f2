package data

import (
	"bufio"
	"fmt"
	"image"
	"path/filepath"
	"strings"
)

// checkPatch refuses a patch larger than any sample it would be cut from,
// before a trainer sized for it is built. Images in memory are measured
// directly, files by their headers (the pixels are not read).
func checkPatch(sources []*Source, patch int) error {
	for _, src := range sources {
		for _, smp := range src.samples {
			var h, w int
			var err error
			switch {
			case smp.clean != nil:
				h, w = smp.clean.H, smp.clean.W
			case smp.cleanPath != "":
				h, w, err = imageSize(smp.cleanPath)
			default:
				h, w, err = imageSize(smp.pair.Clean)
			}
			if err != nil {
				return err
			}
			if h -= h % 16; h < patch || w-w%16 < patch {
				return fmt.Errorf("data: %s: image is %dx%d after cropping to a multiple of 16, smaller than the %dx%d patch",
					smp.name(), h, w-w%16, patch, patch)
			}
		}
	}
	return nil
}

// imageSize reads an image file's height and width from its header.
func imageSize(path string) (h, w int, err error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		im, err := LoadNPY(path)
		if err != nil {
			return 0, 0, err
		}
		return im.H, im.W, nil
	}
	f, _, err := OpenFile(path, Loader{}.MaxBytes())
	if err != nil {
		return 0, 0, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return 0, 0, wrapDecode(path, err)
	}
	return cfg.Height, cfg.Width, nil
}
