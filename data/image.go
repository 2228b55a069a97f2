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
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"strings"

	_ "golang.org/x/image/bmp" // registers BMP with image.Decode
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
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
		return nil, fmt.Errorf("data: %q: crop %dx%d at (%d,%d) outside %dx%d image", im.Name, h, w, y, x, im.H, im.W)
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
		return nil, fmt.Errorf("data: %q: %dx%d image is smaller than %d pixels on a side", im.Name, im.H, im.W, base)
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

// ColorModel is color.RGBA64Model: At reports a pixel at 16 bits per
// channel. With Bounds and At it makes an Image an image.Image, so it goes
// wherever Go's image packages take one (png.Encode, draw.Draw).
func (im *Image) ColorModel() color.Model { return color.RGBA64Model }

// Bounds is the rectangle (0,0)-(W,H).
func (im *Image) Bounds() image.Rectangle { return image.Rect(0, 0, im.W, im.H) }

// At is RGBA64At as a color.Color.
func (im *Image) At(x, y int) color.Color { return im.RGBA64At(x, y) }

// RGBA64At is the pixel at column x, row y, clipped to [0,1] and quantised
// to 16 bits per channel, opaque: round(clip(v,0,1)*65535), as ToNRGBA64
// writes it. Outside Bounds, or for an Image whose Pix does not hold
// 3*H*W values, it is transparent black. Pix keeps the exact values.
func (im *Image) RGBA64At(x, y int) color.RGBA64 {
	n := im.H * im.W
	if x < 0 || y < 0 || x >= im.W || y >= im.H || len(im.Pix) != 3*n {
		return color.RGBA64{}
	}
	i := y*im.W + x
	return color.RGBA64{R: to16(im.Pix[i]), G: to16(im.Pix[n+i]), B: to16(im.Pix[2*n+i]), A: 0xffff}
}

// FromImage converts a decoded Go image to an Image. 8-bit samples map to
// v/255 computed in float32, exactly as torchvision's ToTensor does; 16-bit
// samples map to v/65535. Gray images are replicated to three channels and
// alpha is dropped (colours are un-premultiplied first), like PIL's
// convert('RGB') in the authors' loader. JPEG colour is converted the
// libjpeg way (see fromYCbCr), so decoded JPEGs differ from PIL's only by
// the IDCT's rounding. An *Image is copied exactly, its float32 values
// unquantised, under the new name.
func FromImage(name string, src image.Image) *Image {
	if s, ok := src.(*Image); ok {
		c := s.Clone()
		c.Name = name
		return c
	}
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
	case *image.Paletted:
		// PIL's convert('RGB') drops a palette's alpha (PNG tRNS) and keeps
		// each entry's colour as stored: un-premultiplied, never blackened.
		lut := make([][3]float32, len(s.Palette))
		for i, c := range s.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			if nc, ok := c.(color.NRGBA); ok {
				n = nc
			}
			lut[i] = [3]float32{float32(n.R) / 255, float32(n.G) / 255, float32(n.B) / 255}
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var c [3]float32 // an index past the palette is black, as in PIL's zero-padded palette
				if k := int(s.Pix[s.PixOffset(b.Min.X+x, b.Min.Y+y)]); k < len(lut) {
					c = lut[k]
				}
				set(y, x, c[0], c[1], c[2])
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := float32(s.Pix[s.PixOffset(b.Min.X+x, b.Min.Y+y)]) / 255
				set(y, x, v, v, v)
			}
		}
	default:
		// 16-bit, YCbCr that fromYCbCr declines, CMYK: go through NRGBA64, which
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

func to16(v float32) uint16 {
	return uint16(math.Round(float64(clip01(v)) * 65535))
}

// DefaultMaxPixels is the largest image, height times width, that Load and
// Decode read unless a Loader says otherwise: 64 megapixels (8000x8000),
// about 0.8 GB once held as float32 CHW.
const DefaultMaxPixels = 64_000_000

// Loader reads images with a bound on their size: the dimensions are read
// from the header first, so that a small file claiming a huge image is
// refused before its pixels are allocated. The zero value reads images of up
// to DefaultMaxPixels.
type Loader struct {
	// MaxPixels is the largest height times width accepted; 0 means
	// DefaultMaxPixels.
	MaxPixels int
}

func (l Loader) maxPixels() int {
	if l.MaxPixels > 0 {
		return l.MaxPixels
	}
	return DefaultMaxPixels
}

// checkSize refuses an empty image or one of more than MaxPixels pixels.
func (l Loader) checkSize(name string, h, w int) error {
	if err := l.sizeError(h, w); err != nil {
		return fmt.Errorf("data: %q: %w", name, err)
	}
	return nil
}

// sizeError is checkSize's error without the name.
func (l Loader) sizeError(h, w int) error {
	if h <= 0 || w <= 0 {
		return fmt.Errorf("empty image (%dx%d)", w, h)
	}
	if limit := l.maxPixels(); h > limit/w {
		return fmt.Errorf("image is %dx%d, more than the limit of %d pixels (MaxPixels, -max-pixels)", w, h, limit)
	}
	return nil
}

// metadataBytes is what an image file may hold beyond its pixels' worth
// (EXIF, ICC profiles, thumbnails, text chunks) before it is refused.
const metadataBytes = 16 << 20

// imageBytes is the most bytes read for an image of the given pixel count:
// 16 per pixel (twice 16-bit RGBA stored uncompressed) plus metadataBytes.
func imageBytes(pixels int) int64 { return int64(pixels)*16 + metadataBytes }

// MaxBytes is the largest image file or stream read: imageBytes of
// MaxPixels, 16 bytes a pixel plus 16 MiB (about 1 GB at DefaultMaxPixels).
func (l Loader) MaxBytes() int64 { return imageBytes(l.maxPixels()) }

// imageFormats names the formats Decode reads, for messages.
const imageFormats = "PNG/JPEG/BMP/TIFF/WebP"

// Decode reads a PNG, JPEG, BMP, TIFF (8- or 16-bit) or WebP image from r,
// detected from its content; name is used in errors and stored in the
// result. Work and memory are bounded by the input's size and the pixel
// limit, whatever the bytes say:
//   - the dimensions are read first and checked against MaxPixels;
//   - an io.ReadSeeker is read twice (header, then pixels) and may hold at
//     most MaxBytes; any other reader is read into memory, and is refused
//     once it holds more than an image of its header's size can take
//     (16 bytes a pixel plus 16 MiB), so an endless stream stops there;
//   - a WebP whose RIFF header claims more bytes than there are is refused
//     before its chunks are allocated;
//   - a JPEG of more than MaxJPEGScans scans is refused before decoding,
//     since every scan revisits the whole image.
func (l Loader) Decode(r io.Reader, name string) (*Image, error) {
	src, ok := r.(io.ReadSeeker)
	if !ok {
		raw, err := l.readStream(r, name)
		if err != nil {
			return nil, err
		}
		src = bytes.NewReader(raw)
	}
	var cfg image.Config
	start, err := src.Seek(0, io.SeekCurrent)
	if err == nil {
		var end int64
		if end, err = src.Seek(0, io.SeekEnd); err == nil {
			_, err = src.Seek(start, io.SeekStart)
		}
		if err == nil && end-start > l.MaxBytes() {
			return nil, fmt.Errorf("data: %q: %d bytes, more than the %d read for an image of at most %d pixels", name, end-start, l.MaxBytes(), l.maxPixels())
		}
		if err == nil {
			cfg, err = l.check(src, name, end-start)
		}
		if err == nil {
			_, err = src.Seek(start, io.SeekStart)
		}
	}
	if err != nil {
		return nil, wrapDecode(name, err)
	}
	im, _, err := image.Decode(bufio.NewReader(src))
	if err != nil {
		return nil, wrapDecode(name, err)
	}
	if b := im.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("data: %q: header says %dx%d, the pixels are %dx%d", name, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	return FromImage(name, im), nil
}

// check reads the header of the image at the start of src (size bytes),
// refuses it by its pixel count, a WebP whose RIFF size exceeds size and a
// JPEG of too many scans, and returns the header; it leaves src anywhere.
func (l Loader) check(src io.ReadSeeker, name string, size int64) (image.Config, error) {
	start, err := src.Seek(0, io.SeekCurrent)
	if err != nil {
		return image.Config{}, err
	}
	cfg, format, err := image.DecodeConfig(bufio.NewReader(src))
	if err != nil {
		return cfg, err
	}
	if err := l.checkSize(name, cfg.Height, cfg.Width); err != nil {
		return cfg, err
	}
	if _, err := src.Seek(start, io.SeekStart); err != nil {
		return cfg, err
	}
	switch format {
	case "webp":
		var head [8]byte
		if _, err := io.ReadFull(src, head[:]); err != nil {
			return cfg, err
		}
		if claimed := int64(binary.LittleEndian.Uint32(head[4:])) + 8; claimed > size {
			return cfg, fmt.Errorf("data: %q: WebP header claims %d bytes, the input holds %d", name, claimed, size)
		}
	case "jpeg":
		if n, err := jpegScans(bufio.NewReader(src)); err != nil {
			return cfg, fmt.Errorf("data: %q: %w", name, err)
		} else if n > MaxJPEGScans {
			return cfg, fmt.Errorf("data: %q: JPEG of %d or more scans, more than the %d read (encoders write a few dozen at most)", name, n, MaxJPEGScans)
		}
	}
	return cfg, nil
}

// wrapDecode names the file in a decoder's error; errors of this package
// already do.
func wrapDecode(name string, err error) error {
	if strings.HasPrefix(err.Error(), "data: ") {
		return err
	}
	return fmt.Errorf("data: %q: not a decodable %s image: %w", name, imageFormats, err)
}

// readStream reads an image from a reader that cannot seek: it grows a
// buffer until the header gives the image's size, then reads at most what
// an image of that size can take (imageBytes), refusing more. Bytes that
// are no image are refused at the first 64 KiB.
func (l Loader) readStream(r io.Reader, name string) ([]byte, error) {
	var buf bytes.Buffer
	limit := l.MaxBytes()
	for want := int64(64 << 10); ; want = min(2*want, limit+1) {
		_, err := buf.ReadFrom(io.LimitReader(r, want-int64(buf.Len())))
		if err != nil {
			return nil, fmt.Errorf("data: %q: %w", name, err)
		}
		ended := int64(buf.Len()) < want // the reader ran dry
		cfg, _, err := image.DecodeConfig(bytes.NewReader(buf.Bytes()))
		switch {
		case err == nil:
			if err := l.checkSize(name, cfg.Height, cfg.Width); err != nil {
				return nil, err
			}
			limit = min(limit, imageBytes(cfg.Width*cfg.Height))
			if _, err := buf.ReadFrom(io.LimitReader(r, limit+1-int64(buf.Len()))); err != nil {
				return nil, fmt.Errorf("data: %q: %w", name, err)
			}
			if int64(buf.Len()) > limit {
				return nil, fmt.Errorf("data: %q: more than the %d bytes a %dx%d image can take", name, limit, cfg.Width, cfg.Height)
			}
			return buf.Bytes(), nil
		case ended || !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			return nil, wrapDecode(name, err)
		case int64(buf.Len()) > limit:
			return nil, fmt.Errorf("data: %q: more than %d bytes, too large for an image of at most %d pixels", name, limit, l.maxPixels())
		}
	}
}

// Load reads an image file: .npy (a float32 (1,3,H,W) or (3,H,W) array, see
// ReadNPY) or any image Decode reads (detected from content, not the
// extension), within the Loader's pixel limit. Only regular files of at
// most MaxBytes are read (see OpenFile): a named pipe or a device is refused.
func (l Loader) Load(path string) (*Image, error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		return l.LoadNPY(path)
	}
	f, _, err := OpenFile(path, l.MaxBytes())
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return l.Decode(f, path)
}

// Decode is Loader{}.Decode: it reads an image of at most DefaultMaxPixels.
func Decode(r io.Reader, name string) (*Image, error) { return Loader{}.Decode(r, name) }

// Load is Loader{}.Load: it reads an image file of at most DefaultMaxPixels.
func Load(path string) (*Image, error) { return Loader{}.Load(path) }

// Save writes im to path atomically (temporary file, then rename). The
// format follows the extension: .png (8-bit), .jpg/.jpeg (quality 95) or
// .npy (float32 (1,3,H,W), lossless).
func Save(path string, im *Image) error {
	if len(im.Pix) != 3*im.H*im.W {
		return fmt.Errorf("data: save %q: image has %d values, want 3*%d*%d", path, len(im.Pix), im.H, im.W)
	}
	var buf bytes.Buffer
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png":
		if err := png.Encode(&buf, im.ToNRGBA()); err != nil {
			return fmt.Errorf("data: save %q: %w", path, err)
		}
	case ".jpg", ".jpeg":
		if err := jpeg.Encode(&buf, im.ToNRGBA(), &jpeg.Options{Quality: 95}); err != nil {
			return fmt.Errorf("data: save %q: %w", path, err)
		}
	case ".npy":
		return SaveNPY(path, im)
	default:
		return fmt.Errorf("data: save %q: unknown extension %q (want .png, .jpg, .jpeg or .npy)", path, ext)
	}
	if err := WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("data: save %q: %w", path, err)
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
