package baryir

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/layers"
)

// MapArch names the architecture of the barycenter map T, the network that
// takes a source latent s to its barycenter latent b = T(s) (paper Sec.
// 4.2). The four are those of the paper's Tab. XI; the zero value is the
// paper's own. Every one is a stack of residual units, unit(x) = x + g(x),
// so that T starts near the identity, and keeps the latent's shape
// (B, C, H, W).
type MapArch uint8

const (
	// MapTransformer is BaryNet's map: Restormer transformer blocks, each
	// x + MDTA(LN(x)) then x + GDFN(LN(x)) (layers.TransformerBlock). Its
	// parameters are `0.norm1.body.weight`, `0.attn.qkv.weight`, ..., as
	// the authors' `barylatent`.
	MapTransformer MapArch = iota
	// MapMLP is a per-pixel MLP: each unit is x + fc2(GELU(fc1(x))) with
	// fc1 and fc2 1x1 convolutions with bias (`0.fc1.weight`, ...,
	// Hidden channels between them). It never mixes pixels, so it works
	// at any image size.
	MapMLP
	// MapUNet is a UNet-style map of two conv-ReLU-norm blocks in feature
	// space: each unit is x + proj(norm2(ReLU(conv2(norm1(ReLU(conv1(x))))))),
	// conv1 (C to Hidden channels) and conv2 (Hidden to Hidden) 3x3
	// convolutions with bias, proj a 1x1 convolution with bias back to C
	// (as a UNet's output conv), and norm1, norm2 Restormer's per-pixel
	// LayerNorm over channels (layers.LayerNorm, WithBias or BiasFree as
	// MapConfig.BiasFree says; `0.norm1.body.weight`).
	MapUNet
	// MapViT is standard ViT blocks with the H*W pixels as tokens
	// (layers.ViTBlock): x + MHSA(LN(x)) then x + MLP(LN(x)), with
	// softmax(q^T k / sqrt(C/heads)) attention across pixels, GELU in the
	// MLP and nn.LayerNorm over channels (`0.norm1.weight`,
	// `0.attn.qkv.weight`, `0.mlp.fc1.weight`, ...). Its attention costs
	// (H*W)^2 per image and head.
	MapViT
	// MapNone is no map: in a Config, the plain Restormer, BaryIR
	// switched off (Config.Restormer). NewBarycenterMap refuses it.
	MapNone
)

var mapArchNames = [...]string{MapTransformer: "transformer", MapMLP: "mlp", MapUNet: "unet", MapViT: "vit", MapNone: "none"}

// MapArchs lists every map architecture, the default first.
func mapArchs() []MapArch { return []MapArch{MapTransformer, MapMLP, MapUNet, MapViT} }

// String is "transformer", "mlp", "unet", "vit" or "none".
func (a MapArch) String() string {
	if int(a) < len(mapArchNames) {
		return mapArchNames[a]
	}
	return fmt.Sprintf("MapArch(%d)", uint8(a))
}

// ParseMapArch reads "transformer", "mlp", "unet", "vit" or "none" (any
// case; "" is transformer).
func ParseMapArch(s string) (MapArch, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return MapTransformer, nil
	}
	for a, name := range mapArchNames {
		if t == name {
			return MapArch(a), nil
		}
	}
	return 0, errorf("unknown map architecture %q (want %s)", s, strings.Join(mapArchNames[:], ", "))
}

// checkOrNone rejects values outside the constants.
func (a MapArch) checkOrNone() error {
	if int(a) >= len(mapArchNames) {
		return errorf("unknown map architecture %d (want %s)", uint8(a), strings.Join(mapArchNames[:], ", "))
	}
	return nil
}

// check rejects MapNone too: a map must have an architecture.
func (a MapArch) check() error {
	if a == MapNone {
		return errorf("map architecture none: a barycenter map needs one of %s", strings.Join(mapArchNames[:MapNone], ", "))
	}
	return a.checkOrNone()
}

// MapConfig sizes a barycenter map.
type MapConfig struct {
	Arch MapArch
	// Dim is the latent's channel count C; it is required.
	Dim int
	// Blocks is the number of residual units (transformer or ViT blocks,
	// MLP units, pairs of conv-ReLU-norm blocks); 0 means the paper's 2.
	Blocks int
	// Heads is the attention heads of MapTransformer and MapViT; 0 means 1.
	Heads int
	// Hidden is the feed-forward width of MapTransformer (GDFN), MapViT
	// and MapMLP, and the width of MapUNet's convolutions; 0 means
	// int(2.66*Dim), Restormer's GDFN width, and Dim for MapUNet.
	Hidden int
	// BiasFree selects Restormer's BiasFree LayerNorm over WithBias in
	// MapTransformer and MapUNet.
	BiasFree bool
}

// withDefaults fills the zero fields MapConfig documents.
func (c MapConfig) withDefaults() MapConfig {
	if c.Blocks == 0 {
		c.Blocks = 2
	}
	if c.Heads == 0 {
		c.Heads = 1
	}
	switch {
	case c.Hidden != 0:
	case c.Arch == MapUNet:
		c.Hidden = c.Dim
	default:
		c.Hidden = int(2.66 * float64(c.Dim))
	}
	return c
}

// validate reports the first inconsistency of a config with its defaults filled.
func (c MapConfig) validate() error {
	if err := c.Arch.check(); err != nil {
		return errorf("barycenter map: %w", err)
	}
	switch {
	case c.Dim <= 0:
		return errorf("barycenter map: %d channels, want a positive number", c.Dim)
	case c.Blocks < 0 || c.Heads < 0 || c.Hidden < 0:
		return errorf("barycenter map: negative size (blocks %d, heads %d, hidden %d)", c.Blocks, c.Heads, c.Hidden)
	case (c.Arch == MapTransformer || c.Arch == MapViT) && c.Dim%c.Heads != 0:
		return errorf("barycenter map: %d channels not divisible by %d heads", c.Dim, c.Heads)
	}
	return nil
}

// barycenterMap is the Map NewBarycenterMap builds: its units in order.
type barycenterMap struct {
	cfg    MapConfig
	units  []forwarder
	params []layers.Param
}

// forwarder is a layer: one residual unit of a map.
type forwarder interface {
	Forward(x *G.Node) (*G.Node, error)
}

// NewBarycenterMap makes the barycenter map T of BaryIR (paper Sec. 4.2,
// Fig. 2) that cfg describes, its parameters created in s: it takes a batch
// of source latents s (B, C, H, W) to T(s) of the same shape. The
// parameters carry the names of the PyTorch module that holds the units as
// an nn.Sequential under s (BaryNet's is `barylatent`); s.Params lists them.
//
// In BaryNet the barycenter latent is b = LN(T(s)) with LN BaryNet's own
// LayerNorm (`LN`, the one that also normalises s): that LayerNorm is not
// part of the map.
func NewBarycenterMap(s *layers.Scope, cfg MapConfig) (Map, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newBarycenterMap(s, cfg), nil
}

// newBarycenterMap builds a validated config.
func newBarycenterMap(s *layers.Scope, c MapConfig) *barycenterMap {
	first := len(s.Params())
	m := &barycenterMap{cfg: c, units: make([]forwarder, c.Blocks)}
	for i := range m.units {
		u := s.Subf("%d", i)
		switch c.Arch {
		case MapTransformer:
			m.units[i] = layers.NewTransformerBlock(u, layers.TransformerBlockConfig{Dim: c.Dim, Heads: c.Heads, Hidden: c.Hidden, BiasFree: c.BiasFree})
		case MapMLP:
			m.units[i] = newMLPUnit(u, c)
		case MapUNet:
			m.units[i] = newUNetUnit(u, c)
		case MapViT:
			m.units[i] = layers.NewViTBlock(u, layers.ViTBlockConfig{Dim: c.Dim, Heads: c.Heads, Hidden: c.Hidden})
		}
	}
	m.params = s.Params()[first:]
	return m
}

// Config is the map's configuration, its defaults filled in.
func (m *barycenterMap) Config() MapConfig { return m.cfg }

// Params lists the map's learnable tensors with their full names, in creation order.
func (m *barycenterMap) Params() []layers.Param { return append([]layers.Param(nil), m.params...) }

// Forward builds T(s) for s (B, C, H, W).
func (m *barycenterMap) Forward(s *G.Node) (*G.Node, error) {
	if s == nil {
		return nil, errorf("barycenter map: nil input")
	}
	if sh := s.Shape(); len(sh) != 4 || sh[1] != m.cfg.Dim {
		return nil, errorf("barycenter map: input shape %v, want (B, %d, H, W)", sh, m.cfg.Dim)
	}
	b := &layers.Builder{}
	for _, u := range m.units {
		s = b.Do(u.Forward, s)
	}
	return s, b.Err()
}

// mlpUnit is one unit of MapMLP: x + fc2(GELU(fc1(x))), per pixel.
type mlpUnit struct {
	fc1, fc2 *layers.Conv2d
}

func newMLPUnit(s *layers.Scope, c MapConfig) *mlpUnit {
	return &mlpUnit{fc1: pointwise(s.Sub("fc1"), c.Dim, c.Hidden), fc2: pointwise(s.Sub("fc2"), c.Hidden, c.Dim)}
}

func (u *mlpUnit) Forward(x *G.Node) (*G.Node, error) {
	b := &layers.Builder{}
	h := b.Do(u.fc1.Forward, x)
	h = b.Do(layers.GELU, h)
	h = b.Do(u.fc2.Forward, h)
	return add(b, x, h), b.Err()
}

// unetUnit is one unit of MapUNet: two conv-ReLU-norm blocks and a 1x1
// projection, added to the input.
type unetUnit struct {
	conv1, conv2 *layers.Conv2d
	norm1, norm2 *layers.LayerNorm
	proj         *layers.Conv2d
}

func newUNetUnit(s *layers.Scope, c MapConfig) *unetUnit {
	norm := layers.LayerNormConfig{Dim: c.Hidden, BiasFree: c.BiasFree}
	return &unetUnit{
		conv1: conv3x3(s.Sub("conv1"), c.Dim, c.Hidden),
		norm1: layers.NewLayerNorm(s.Sub("norm1"), norm),
		conv2: conv3x3(s.Sub("conv2"), c.Hidden, c.Hidden),
		norm2: layers.NewLayerNorm(s.Sub("norm2"), norm),
		proj:  pointwise(s.Sub("proj"), c.Hidden, c.Dim),
	}
}

func (u *unetUnit) Forward(x *G.Node) (*G.Node, error) {
	b := &layers.Builder{}
	h := b.Do(u.conv1.Forward, x)
	h = b.Do(layers.ReLU, h)
	h = b.Do(u.norm1.Forward, h)
	h = b.Do(u.conv2.Forward, h)
	h = b.Do(layers.ReLU, h)
	h = b.Do(u.norm2.Forward, h)
	h = b.Do(u.proj.Forward, h)
	return add(b, x, h), b.Err()
}

// pointwise is nn.Conv2d(in, out, 1) with bias.
func pointwise(s *layers.Scope, in, out int) *layers.Conv2d {
	return layers.NewConv2d(s, layers.Conv2dConfig{In: in, Out: out, Kernel: 1, Bias: true})
}

// conv3x3 is nn.Conv2d(in, out, 3, padding=1) with bias.
func conv3x3(s *layers.Scope, in, out int) *layers.Conv2d {
	return layers.NewConv2d(s, layers.Conv2dConfig{In: in, Out: out, Kernel: 3, Padding: 1, Bias: true})
}
