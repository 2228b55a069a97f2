package data

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
)

// ToNRGBA64 quantises to 16 bits per channel: round(clip(v,0,1)*65535).
// A network's output holds far more than 8 bits of tone; 16-bit PNGs keep
// it for later editing or for metrics computed outside Go.
func (im *Image) ToNRGBA64() *image.NRGBA64 {
	out := image.NewNRGBA64(image.Rect(0, 0, im.W, im.H))
	n := im.H * im.W
	put := func(p []uint8, v float32) {
		q := to16(v)
		p[0], p[1] = uint8(q>>8), uint8(q)
	}
	for i := 0; i < n; i++ {
		p := out.Pix[8*i:]
		put(p[0:], im.Pix[i])
		put(p[2:], im.Pix[n+i])
		put(p[4:], im.Pix[2*n+i])
		p[6], p[7] = 0xff, 0xff
	}
	return out
}

// SavePNG16 writes im to path as a 16-bit-per-channel PNG, atomically
// (temporary file, then rename). Load reads it back to within 1/65535.
func SavePNG16(path string, im *Image) error {
	if len(im.Pix) != 3*im.H*im.W {
		return fmt.Errorf("data: save %q: image has %d values, want 3*%d*%d", path, len(im.Pix), im.H, im.W)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, im.ToNRGBA64()); err != nil {
		return fmt.Errorf("data: save %q: %w", path, err)
	}
	if err := WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("data: save %q: %w", path, err)
	}
	return nil
}
