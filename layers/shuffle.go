package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// PixelUnshuffle is torch.nn.PixelUnshuffle(r): x (B, C, H, W) becomes
// (B, C*r*r, H/r, W/r) with out[c*r*r + r*i + j, h, w] = x[c, r*h+i, r*w+j].
// Restormer's Downsample uses it with r = 2.
func PixelUnshuffle(x *G.Node, r int) (*G.Node, error) {
	b, c, h, w, err := nchw("PixelUnshuffle", x)
	if err != nil {
		return nil, err
	}
	if r < 1 {
		return nil, fmt.Errorf("PixelUnshuffle: factor %d, want >= 1", r)
	}
	if h%r != 0 || w%r != 0 {
		return nil, fmt.Errorf("PixelUnshuffle: size %dx%d not divisible by %d", h, w, r)
	}
	return op.Apply(shuffle{big: tensor.Shape{b, c, h, w}, r: r, down: true}, x)
}

// PixelShuffle is torch.nn.PixelShuffle(r), the inverse of PixelUnshuffle:
// x (B, C*r*r, H, W) becomes (B, C, H*r, W*r). Restormer's Upsample uses r = 2.
func PixelShuffle(x *G.Node, r int) (*G.Node, error) {
	b, c, h, w, err := nchw("PixelShuffle", x)
	if err != nil {
		return nil, err
	}
	if r < 1 {
		return nil, fmt.Errorf("PixelShuffle: factor %d, want >= 1", r)
	}
	if c%(r*r) != 0 {
		return nil, fmt.Errorf("PixelShuffle: %d channels not divisible by %d", c, r*r)
	}
	return op.Apply(shuffle{big: tensor.Shape{b, c / (r * r), h * r, w * r}, r: r}, x)
}

// shuffle moves data between the big layout (B, C, H, W) and the small one
// (B, C*r*r, H/r, W/r): unshuffle when down, shuffle otherwise. Each is the
// other's gradient, as both are permutations.
type shuffle struct {
	big  tensor.Shape
	r    int
	down bool
}

func (k shuffle) small() tensor.Shape {
	return tensor.Shape{k.big[0], k.big[1] * k.r * k.r, k.big[2] / k.r, k.big[3] / k.r}
}

func (k shuffle) Name() string {
	if k.down {
		return fmt.Sprintf("pixel_unshuffle%v_r%d", k.big, k.r)
	}
	return fmt.Sprintf("pixel_shuffle%v_r%d", k.small(), k.r)
}

func (k shuffle) OutShape() tensor.Shape {
	if k.down {
		return k.small()
	}
	return k.big
}
func (k shuffle) Forward32(o []float32, in [][]float32) { permute(k, o, in[0]) }
func (k shuffle) Forward64(o []float64, in [][]float64) { permute(k, o, in[0]) }
func (k shuffle) DiffWRT() []bool                       { return []bool{true} }
func (k shuffle) Grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	inv := k
	inv.down = !k.down
	dx, err := op.Apply(inv, dy)
	return G.Nodes{dx}, err
}

// permute copies, for each channel c of the big layout, its r*r sub-grids
// to channels c*r*r + r*i + j of the small layout (or back).
func permute[T op.Float](k shuffle, out, in []T) {
	c, r := k.big[1], k.r
	bh, bw := k.big[2], k.big[3]
	sh, sw := bh/r, bw/r
	op.ParallelFor(k.big[0]*c, func(plane int) {
		big := plane * bh * bw // b*C + c indexes the big plane
		for i := range r {
			for j := range r {
				small := (plane*r*r + r*i + j) * sh * sw
				for y := range sh {
					brow := big + (r*y+i)*bw + j
					srow := small + y*sw
					if k.down {
						for x := range sw {
							out[srow+x] = in[brow+r*x]
						}
					} else {
						for x := range sw {
							out[brow+r*x] = in[srow+x]
						}
					}
				}
			}
		}
	})
}
