// Package data provides what BaryIR training and evaluation read and write:
// images as float32 CHW tensors in [0,1], seeded synthetic degradations,
// readers for the authors' and the usual benchmark folder layouts, a seeded
// patch sampler that mixes degradation sources, scikit-image compatible
// PSNR/SSIM, and a small set of embedded public-domain photographs so that
// everything runs without downloading a benchmark.
package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Image is an RGB image stored planar (C=3, H, W) as float32 in [0,1], the
// layout of one item of the (B,3,H,W) tensor the network takes.
// Pix[c*H*W + y*W + x] is channel c at row y, column x.
type Image struct {
	Name string // where it came from (file path or embedded name); used in errors
	H, W int
	Pix  []float32
}

// NewImage returns a black 3×h×w image.
func NewImage(name string, h, w int) *Image {
	return &Image{Name: name, H: h, W: w, Pix: make([]float32, 3*h*w)}
}

// Clone returns a deep copy.
func (im *Image) Clone() *Image {
	c := *im
	c.Pix = append([]float32(nil), im.Pix...)
	return &c
}

// Crop returns a copy of the h×w window whose top-left corner is (y, x).
func (im *Image) Crop(y, x, h, w int) (*Image, error) {
	if y < 0 || x < 0 || h <= 0 || w <= 0 || y+h > im.H || x+w > im.W {
		return nil, fmt.Errorf("data: %s: crop %dx%d at (%d,%d) outside %dx%d image", im.Name, h, w, y, x, im.H, im.W)
	}
	out := NewImage(im.Name, h, w)
	for c := 0; c < 3; c++ {
		for r := 0; r < h; r++ {
			src := im.Pix[c*im.H*im.W+(y+r)*im.W+x:]
			copy(out.Pix[c*h*w+r*w:c*h*w+r*w+w], src[:w])
		}
	}
	return out, nil
}

// CropToMultiple crops the image centrally so H and W are multiples of base,
// as the authors' crop_img(base=16) does before patching and testing (the
// network downsamples by 8 and needs divisible sizes). It fails when a side
// is shorter than base.
func CropToMultiple(im *Image, base int) (*Image, error) {
	h, w := im.H-im.H%base, im.W-im.W%base
	if h == 0 || w == 0 {
		return nil, fmt.Errorf("data: %s: %dx%d image is smaller than %d pixels on a side", im.Name, im.H, im.W, base)
	}
	return im.Crop((im.H%base)/2, (im.W%base)/2, h, w)
}

// Clip clamps every value to [0,1] in place and returns im.
func (im *Image) Clip() *Image {
	for i, v := range im.Pix {
		im.Pix[i] = clip01(v)
	}
	return im
}

func clip01(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// FromImage converts a decoded Go image to an Image. 8-bit samples map to
// v/255 computed in float32, exactly as torchvision's ToTensor does; 16-bit
// samples map to v/65535. Gray images are replicated to three channels and
// alpha is dropped (colours are un-premultiplied first), like PIL's
// convert('RGB') in the authors' loader. JPEG colour is converted the
// libjpeg way (see fromYCbCr), so decoded JPEGs differ from PIL's only by
// the IDCT's rounding.
func FromImage(name string, src image.Image) *Image {
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	im := NewImage(name, h, w)
	n := h * w
	set := func(y, x int, r, g, bl float32) {
		i := y*w + x
		im.Pix[i], im.Pix[n+i], im.Pix[2*n+i] = r, g, bl
	}
	switch s := src.(type) {
	case *image.RGBA:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := s.Pix[s.PixOffset(b.Min.X+x, b.Min.Y+y):]
				if p[3] == 255 {
					set(y, x, float32(p[0])/255, float32(p[1])/255, float32(p[2])/255)
				} else {
					c := color.NRGBAModel.Convert(s.RGBAAt(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
					set(y, x, float32(c.R)/255, float32(c.G)/255, float32(c.B)/255)
				}
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := s.Pix[s.PixOffset(b.Min.X+x, b.Min.Y+y):]
				set(y, x, float32(p[0])/255, float32(p[1])/255, float32(p[2])/255)
			}
		}
	case *image.YCbCr:
		if im := fromYCbCr(name, s); im != nil {
			return im
		}
		return FromImage(name, &nonYCbCr{s})
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := float32(s.Pix[s.PixOffset(b.Min.X+x, b.Min.Y+y)]) / 255
				set(y, x, v, v, v)
			}
		}
	default:
		// 16-bit, paletted, YCbCr (JPEG), CMYK: go through NRGBA64, which
		// keeps full precision and un-premultiplies alpha.
		deep := false
		switch src.ColorModel() {
		case color.RGBA64Model, color.NRGBA64Model, color.Gray16Model:
			deep = true
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBA64Model.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				if deep {
					set(y, x, float32(c.R)/65535, float32(c.G)/65535, float32(c.B)/65535)
				} else {
					// 8-bit sources widened by v*257: recover v exactly.
					set(y, x, float32(c.R>>8)/255, float32(c.G>>8)/255, float32(c.B>>8)/255)
				}
			}
		}
	}
	return im
}

// ToNRGBA quantises to 8 bits per channel: round(clip(v,0,1)*255).
func (im *Image) ToNRGBA() *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, im.W, im.H))
	n := im.H * im.W
	for i := 0; i < n; i++ {
		out.Pix[4*i] = to8(im.Pix[i])
		out.Pix[4*i+1] = to8(im.Pix[n+i])
		out.Pix[4*i+2] = to8(im.Pix[2*n+i])
		out.Pix[4*i+3] = 255
	}
	return out
}

func to8(v float32) uint8 {
	return uint8(math.Round(float64(clip01(v)) * 255))
}

// Decode reads a PNG, JPEG or uncompressed BMP from r; name is used in
// errors and stored in the result.
func Decode(r io.Reader, name string) (*Image, error) {
	br := bufio.NewReader(r)
	var src image.Image
	var err error
	if head, _ := br.Peek(2); string(head) == "BM" {
		src, err = decodeBMP(br)
	} else {
		src, _, err = image.Decode(br)
	}
	if err != nil {
		return nil, fmt.Errorf("data: %s: not a decodable PNG/JPEG/BMP image: %w", name, err)
	}
	if b := src.Bounds(); b.Empty() {
		return nil, fmt.Errorf("data: %s: empty image", name)
	}
	return FromImage(name, src), nil
}

// Load reads an image file: .npy (a float32 (1,3,H,W) or (3,H,W) array, see
// ReadNPY) or any PNG/JPEG/BMP (detected from content, not the extension).
func Load(path string) (*Image, error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		return LoadNPY(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return Decode(f, path)
}

// Save writes im to path atomically (temporary file, then rename). The
// format follows the extension: .png (8-bit), .jpg/.jpeg (quality 95) or
// .npy (float32 (1,3,H,W), lossless).
func Save(path string, im *Image) error {
	if len(im.Pix) != 3*im.H*im.W {
		return fmt.Errorf("data: save %s: image has %d values, want 3*%d*%d", path, len(im.Pix), im.H, im.W)
	}
	var buf bytes.Buffer
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png":
		if err := png.Encode(&buf, im.ToNRGBA()); err != nil {
			return fmt.Errorf("data: save %s: %w", path, err)
		}
	case ".jpg", ".jpeg":
		if err := jpeg.Encode(&buf, im.ToNRGBA(), &jpeg.Options{Quality: 95}); err != nil {
			return fmt.Errorf("data: save %s: %w", path, err)
		}
	case ".npy":
		return SaveNPY(path, im)
	default:
		return fmt.Errorf("data: save %s: unknown extension %q (want .png, .jpg, .jpeg or .npy)", path, ext)
	}
	if err := WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("data: save %s: %w", path, err)
	}
	return nil
}

// Stack packs same-sized images into one (B,3,H,W) float32 slice.
func Stack(ims []*Image) ([]float32, error) {
	if len(ims) == 0 {
		return nil, errors.New("data: Stack of no images")
	}
	h, w := ims[0].H, ims[0].W
	out := make([]float32, 0, len(ims)*3*h*w)
	for _, im := range ims {
		if im.H != h || im.W != w {
			return nil, fmt.Errorf("data: Stack: %s is %dx%d, %s is %dx%d", im.Name, im.H, im.W, ims[0].Name, h, w)
		}
		out = append(out, im.Pix...)
	}
	return out, nil
}

// Split is the inverse of Stack: it copies a (B,3,H,W) slice into B images.
func Split(batch []float32, b, h, w int) ([]*Image, error) {
	n := 3 * h * w
	if b <= 0 || h <= 0 || w <= 0 || len(batch) != b*n {
		return nil, fmt.Errorf("data: Split: %d values do not form (%d,3,%d,%d)", len(batch), b, h, w)
	}
	out := make([]*Image, b)
	for i := range out {
		out[i] = &Image{Name: fmt.Sprintf("batch[%d]", i), H: h, W: w, Pix: append([]float32(nil), batch[i*n:(i+1)*n]...)}
	}
	return out, nil
}

// nonYCbCr hides the concrete type so FromImage takes its generic path.
type nonYCbCr struct{ image.Image }
