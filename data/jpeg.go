package data

import "image"

// Go's image/jpeg upsamples chroma by pixel replication and converts colour
// with its own rounding; libjpeg, which PIL and hence the authors' loader
// use, interpolates chroma ("fancy upsampling") and rounds differently. On
// photos with saturated edges that moves pixels by tens of levels. fromYCbCr
// redoes both steps the libjpeg way on the planes Go decoded, leaving only
// the IDCT's ±1 differences.

// ycc is libjpeg's fixed-point colour table (jdcolor.c, 16 fractional bits).
var ycc = func() (t struct{ crR, cbB, crG, cbG [256]int64 }) {
	const half = 1 << 15
	fix := func(x float64) int64 { return int64(x*(1<<16) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int64(i - 128)
		t.crR[i] = (fix(1.40200)*x + half) >> 16
		t.cbB[i] = (fix(1.77200)*x + half) >> 16
		t.crG[i] = -fix(0.71414) * x
		t.cbG[i] = -fix(0.34414)*x + half
	}
	return t
}()

func clamp255(v int64) float32 {
	return float32(min(max(v, 0), 255)) / 255
}

// fromYCbCr converts a decoded JPEG as libjpeg would, or returns nil for
// subsampling ratios it does not handle (the caller then uses Go's
// conversion).
func fromYCbCr(name string, s *image.YCbCr) *Image {
	b := s.Bounds()
	if b.Min != (image.Point{}) {
		return nil // sub-images: not produced by the decoder
	}
	h, w := b.Dy(), b.Dx()
	var cb, cr []uint8
	switch s.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		cb, cr = planeRows(s.Cb, s.CStride, w, h), planeRows(s.Cr, s.CStride, w, h)
	case image.YCbCrSubsampleRatio422:
		cw := (w + 1) / 2
		cb = upsampleH2V1(planeRows(s.Cb, s.CStride, cw, h), cw, h, w)
		cr = upsampleH2V1(planeRows(s.Cr, s.CStride, cw, h), cw, h, w)
	case image.YCbCrSubsampleRatio420:
		cw, ch := (w+1)/2, (h+1)/2
		cb = upsampleH2V2(planeRows(s.Cb, s.CStride, cw, ch), cw, ch, w, h)
		cr = upsampleH2V2(planeRows(s.Cr, s.CStride, cw, ch), cw, ch, w, h)
	default:
		return nil
	}
	im := NewImage(name, h, w)
	n := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			yy := int64(s.Y[y*s.YStride+x])
			cbv, crv := cb[i], cr[i]
			im.Pix[i] = clamp255(yy + ycc.crR[crv])
			im.Pix[n+i] = clamp255(yy + (ycc.cbG[cbv]+ycc.crG[crv])>>16)
			im.Pix[2*n+i] = clamp255(yy + ycc.cbB[cbv])
		}
	}
	return im
}

// planeRows copies a strided w×h plane into a packed slice.
func planeRows(p []uint8, stride, w, h int) []uint8 {
	out := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		copy(out[y*w:(y+1)*w], p[y*stride:y*stride+w])
	}
	return out
}

// upsampleH2V1 is libjpeg's h2v1_fancy_upsample: each output sample is
// 3/4 of the nearer input plus 1/4 of the next, with alternating rounding.
func upsampleH2V1(in []uint8, cw, ch, w int) []uint8 {
	out := make([]uint8, w*ch)
	row := make([]uint8, 2*cw)
	for y := 0; y < ch; y++ {
		r := in[y*cw : (y+1)*cw]
		if cw <= 2 { // libjpeg replicates narrow planes instead
			for x := range row {
				row[x] = r[x/2]
			}
		} else {
			for x := 0; x < cw; x++ {
				v := int(r[x]) * 3
				left, right := int(r[max(x-1, 0)]), int(r[min(x+1, cw-1)])
				switch x {
				case 0:
					row[0] = r[0]
					row[1] = uint8((v + right + 2) >> 2)
				case cw - 1:
					row[2*x] = uint8((v + left + 1) >> 2)
					row[2*x+1] = r[x]
				default:
					row[2*x] = uint8((v + left + 1) >> 2)
					row[2*x+1] = uint8((v + right + 2) >> 2)
				}
			}
		}
		copy(out[y*w:(y+1)*w], row[:w])
	}
	return out
}

// upsampleH2V2 is libjpeg's h2v2_fancy_upsample: a separable triangle
// filter (9/16, 3/16, 3/16, 1/16) with libjpeg's rounding biases; rows
// beyond the image repeat the edge row.
func upsampleH2V2(in []uint8, cw, ch, w, h int) []uint8 {
	out := make([]uint8, w*h)
	row := make([]uint8, 2*cw)
	colsum := make([]int, cw)
	if cw <= 2 { // libjpeg replicates narrow planes instead
		for oy := 0; oy < h; oy++ {
			for x := 0; x < w; x++ {
				out[oy*w+x] = in[(oy/2)*cw+x/2]
			}
		}
		return out
	}
	for oy := 0; oy < h; oy++ {
		iy := oy / 2
		other := iy - 1 // even output rows lean on the row above
		if oy%2 == 1 {
			other = iy + 1
		}
		other = min(max(other, 0), ch-1)
		near, far := in[iy*cw:(iy+1)*cw], in[other*cw:(other+1)*cw]
		for x := range colsum {
			colsum[x] = int(near[x])*3 + int(far[x])
		}
		for x := 0; x < cw; x++ {
			this := colsum[x]
			switch x {
			case 0:
				row[0] = uint8((this*4 + 8) >> 4)
				row[1] = uint8((this*3 + colsum[1] + 7) >> 4)
			case cw - 1:
				row[2*x] = uint8((this*3 + colsum[x-1] + 8) >> 4)
				row[2*x+1] = uint8((this*4 + 7) >> 4)
			default:
				row[2*x] = uint8((this*3 + colsum[x-1] + 8) >> 4)
				row[2*x+1] = uint8((this*3 + colsum[x+1] + 7) >> 4)
			}
		}
		copy(out[oy*w:(oy+1)*w], row[:w])
	}
	return out
}
