package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// decodeBMP reads the uncompressed Windows bitmaps that WED, part of the
// authors' denoising training set, ships as: 24- or 32-bit BI_RGB (or 32-bit
// BI_BITFIELDS in the usual BGRA order) and 8-bit paletted, bottom-up or
// top-down. The standard library has no BMP decoder and the project avoids
// new modules for this.
func decodeBMP(r io.Reader) (image.Image, error) {
	var hdr [54]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("bmp header: %w", err)
	}
	le := binary.LittleEndian
	if string(hdr[:2]) != "BM" {
		return nil, errors.New("not a BMP file")
	}
	offset := int(le.Uint32(hdr[10:]))
	dibSize := int(le.Uint32(hdr[14:]))
	w := int(int32(le.Uint32(hdr[18:])))
	h := int(int32(le.Uint32(hdr[22:])))
	bpp := int(le.Uint16(hdr[28:]))
	compression := le.Uint32(hdr[30:])
	topDown := h < 0
	if topDown {
		h = -h
	}
	if dibSize < 40 || w <= 0 || h <= 0 || w > 1<<15 || h > 1<<15 {
		return nil, fmt.Errorf("unsupported BMP header (DIB size %d, %dx%d)", dibSize, w, h)
	}
	if !(compression == 0 || (compression == 3 && bpp == 32)) {
		return nil, fmt.Errorf("compressed BMP (method %d) not supported", compression)
	}
	read := 54
	var palette color.Palette
	switch bpp {
	case 24, 32:
	case 8:
		colors := int(le.Uint32(hdr[46:]))
		if colors == 0 {
			colors = 256
		}
		if skip := 14 + dibSize - read; skip > 0 {
			if _, err := io.CopyN(io.Discard, r, int64(skip)); err != nil {
				return nil, err
			}
			read += skip
		}
		buf := make([]byte, 4*colors)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("bmp palette: %w", err)
		}
		read += len(buf)
		for i := 0; i < colors; i++ {
			palette = append(palette, color.RGBA{buf[4*i+2], buf[4*i+1], buf[4*i], 255})
		}
	default:
		return nil, fmt.Errorf("%d-bit BMP not supported", bpp)
	}
	if skip := offset - read; skip > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(skip)); err != nil {
			return nil, err
		}
	}
	stride := (w*bpp/8 + 3) &^ 3 // rows are padded to 4 bytes
	row := make([]byte, stride)
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < h; i++ {
		if _, err := io.ReadFull(r, row); err != nil {
			return nil, fmt.Errorf("bmp pixel data: %w", err)
		}
		y := h - 1 - i
		if topDown {
			y = i
		}
		p := out.Pix[y*out.Stride:]
		for x := 0; x < w; x++ {
			var c color.RGBA
			switch bpp {
			case 24, 32:
				s := row[x*bpp/8:]
				c = color.RGBA{s[2], s[1], s[0], 255}
			case 8:
				if int(row[x]) >= len(palette) {
					return nil, fmt.Errorf("bmp palette index %d out of range", row[x])
				}
				c = palette[row[x]].(color.RGBA)
			}
			p[4*x], p[4*x+1], p[4*x+2], p[4*x+3] = c.R, c.G, c.B, 255
		}
	}
	return out, nil
}
