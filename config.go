package baryir

import "fmt"

// Config sizes a network: BaryIR's BaryNet (the authors' topology, with a
// barycenter map) or, with Map MapNone, the plain Restormer of the same
// sizes. The zero value is not valid; start from a preset.
type Config struct {
	Dim        int    // channels at level 1
	Blocks     [4]int // transformer blocks per level
	Heads      [4]int // attention heads per level
	Refinement int    // refinement blocks after decoder level 1
	BaryBlocks int    // residual units of the barycenter map (BaryNet only)
	// Map is the barycenter map's architecture (paper Tab. XI). The zero
	// value, MapTransformer, is the paper's and the authors'. The map has
	// 8*Dim channels, heads[3] heads, the GDFN width as its feed-forward
	// width and, for MapUNet, 8*Dim-channel convolutions (MapConfig).
	// MapNone switches BaryIR off: the network is the plain Restormer
	// (Restormer makes it).
	Map       MapArch
	FFNFactor float64 // GDFN expansion: hidden = int(FFNFactor * channels)
	BiasFree  bool    // BiasFree LayerNorm instead of WithBias

	// The decoder's inputs. BaryNet's decoder takes two latents, b = T(s)
	// and r = s - b (the paper's Sec. 4.2); these switches change what it is
	// given, not the parameters, and the latents s, b and r, the map and the
	// losses on them stay as they are. Weights do not record them: restore
	// a network trained with one through NewRestorer with its Config
	// (OpenRestorer infers the zero value). At test time they are the
	// paper's Fig. 9 feature ablation: R1 "w/o WB" is DropBary, R2 "w/o
	// Res." is DropResidual. In training they make the embedding rows of
	// Tab. IX:
	//
	//	decoder fed   DecodeSource  DropResidual
	//	s             true          true
	//	b                           true
	//	s + r         true
	//	b + r         (BaryIR, the zero value)
	//
	// The map still trains where the decoder does not see b (its MWB, IRC
	// and BRO terms act on s, b and r), but reaches the restoration only
	// through r, or, with s alone, only through the encoder.

	// DropResidual gives the decoder r = 0 in place of the residual latent,
	// so it sees only b and the residual branch carries nothing from the
	// input.
	DropResidual bool
	// DropBary gives the decoder b = 0 in place of the barycenter latent,
	// and r as usual.
	DropBary bool `json:",omitempty"`
	// DecodeSource gives the decoder the source latent s in place of b.
	DecodeSource bool `json:",omitempty"`
}

// Paper is the network of the paper: Restormer sizes with a two-block barycenter map.
func Paper() Config {
	return Config{Dim: 48, Blocks: [4]int{4, 6, 6, 8}, Heads: [4]int{1, 2, 4, 8},
		Refinement: 4, BaryBlocks: 2, FFNFactor: 2.66}
}

// Authors is the network of the authors' code, whose barycenter map has blocks[3] blocks.
func Authors() Config {
	c := Paper()
	c.BaryBlocks = c.Blocks[3]
	return c
}

// Tiny is sized for training on a CPU in minutes.
func Tiny() Config {
	return Config{Dim: 8, Blocks: [4]int{1, 1, 1, 1}, Heads: [4]int{1, 2, 4, 8},
		Refinement: 1, BaryBlocks: 1, FFNFactor: 2.66}
}

// Restormer returns c as the plain Restormer baseline of the same sizes.
func (c Config) Restormer() Config {
	c.BaryBlocks = 0
	c.Map = MapNone
	return c
}

// String describes c for logs: "barynet dim 8 blocks [1 1 1 1]", or
// "restormer ..." without a map.
func (c Config) String() string {
	return fmt.Sprintf("%s dim %d blocks %v", c.family(), c.Dim, c.Blocks)
}

// hasMap says whether c is BaryNet, with BaryIR's barycenter map, rather
// than the plain Restormer.
func (c Config) hasMap() bool { return c.Map != MapNone }

// family names the network: "barynet" or "restormer".
func (c Config) family() string {
	if c.hasMap() {
		return "barynet"
	}
	return "restormer"
}

// mapConfig sizes BaryNet's barycenter map, which acts on the 8*Dim-channel latent.
func (c Config) mapConfig() MapConfig {
	m := MapConfig{Arch: c.Map, Dim: 8 * c.Dim, Blocks: c.BaryBlocks, Heads: c.Heads[3], Hidden: c.hidden(8 * c.Dim),
		BiasFree: c.BiasFree}
	if c.Map == MapUNet {
		m.Hidden = m.Dim // the paper's "feature space"
	}
	return m
}

// hidden is the GDFN hidden width for a level with ch channels.
func (c Config) hidden(ch int) int { return int(float64(ch) * c.FFNFactor) }

// validate reports the first inconsistency in c.
func (c Config) validate() error {
	switch {
	case c.Dim <= 0:
		return errorf("config: dim %d must be positive", c.Dim)
	case c.FFNFactor <= 0:
		return errorf("config: FFN factor %g must be positive", c.FFNFactor)
	case c.Refinement < 0 || c.BaryBlocks < 0:
		return errorf("config: negative block count")
	case c.hasMap() && c.BaryBlocks == 0:
		return errorf("config: BaryNet needs at least one barycenter block")
	case c.DropResidual && !c.hasMap():
		return errorf("config: DropResidual needs BaryNet (the %s has no residual latent)", c.family())
	case (c.DropBary || c.DecodeSource) && !c.hasMap():
		return errorf("config: DropBary and DecodeSource need BaryNet (the %s has no barycenter latent)", c.family())
	case c.DropBary && c.DecodeSource:
		return errorf("config: DropBary with DecodeSource: the decoder would see neither b nor s; set one")
	}
	if err := c.Map.checkOrNone(); err != nil {
		return errorf("config: %w", err)
	}
	for l := range 4 {
		ch := c.Dim << l
		if c.Blocks[l] <= 0 || c.Heads[l] <= 0 {
			return errorf("config: level %d needs positive blocks and heads, got %d and %d", l+1, c.Blocks[l], c.Heads[l])
		}
		if ch%c.Heads[l] != 0 {
			return errorf("config: level %d has %d channels, not divisible by %d heads", l+1, ch, c.Heads[l])
		}
	}
	// The decoder's noise_level blocks run at 2, 4 and 16 times dim with heads[2].
	if c.hasMap() && (2*c.Dim)%c.Heads[2] != 0 {
		return errorf("config: BaryNet decoder has %d channels, not divisible by %d heads (heads[2])", 2*c.Dim, c.Heads[2])
	}
	return nil
}

// parameters is the number of learnable values of the network c describes,
// counted from the layer sizes without building anything (float64, so that
// absurd configs count without overflow).
func (c Config) parameters() float64 {
	k := counter{c}
	d, b, h := c.Dim, c.Blocks, c.Heads
	n := k.encoder()
	if !c.hasMap() {
		return n + k.up(8*d) + k.conv(8*d, 4*d, 1, 1) + k.stack(b[2], 4*d, h[2]) +
			k.up(4*d) + k.conv(4*d, 2*d, 1, 1) + k.stack(b[1], 2*d, h[1]) +
			k.up(2*d) + k.stack(b[0], 2*d, h[0])
	}
	n += c.mapParameters(k.block) + k.ln(8*d)
	// level 3: up4_3, reduce_chan_level3, noise_level3, reduce_noise_level3, decoder_level3 and the res* twins
	n += k.up(4*d) + k.conv(6*d, 4*d, 1, 1) + k.block(16*d, h[2]) + k.conv(16*d, 4*d, 1, 1) + k.stack(b[2], 4*d, h[2])
	n += k.up(8*d) + k.conv(4*d, 4*d, 1, 1) + k.conv(8*d, 8*d, 1, 1) + k.stack(b[2], 4*d, h[2])
	// level 2
	n += k.up(4*d) + k.conv(4*d, 2*d, 1, 1) + k.block(4*d, h[2]) + k.conv(4*d, 4*d, 1, 1) + k.stack(b[1], 2*d, h[1])
	n += k.up(4*d) + k.conv(2*d, 2*d, 1, 1) + k.conv(4*d, 4*d, 1, 1) + k.stack(b[1], 2*d, h[1])
	// level 1: up2_1, resup2_1, noise_level1, reduce_noise_level1, resreduce_noise_level1, decoder_level1
	n += 2*k.up(2*d) + k.block(2*d, h[2]) + 2*k.conv(2*d, 2*d, 1, 1) + k.stack(b[0], 2*d, h[0])
	return n
}

// counter counts the parameters of c's layers.
type counter struct{ c Config }

func (k counter) ln(ch int) float64 {
	if k.c.BiasFree {
		return float64(ch)
	}
	return 2 * float64(ch)
}

func (k counter) conv(in, out, size, groups int) float64 {
	return float64(out) * float64(in/groups) * float64(size*size)
}

// block is one transformer block on ch channels.
func (k counter) block(ch, heads int) float64 {
	h := k.c.hidden(ch)
	attn := float64(heads) + k.conv(ch, 3*ch, 1, 1) + k.conv(3*ch, 3*ch, 3, 3*ch) + k.conv(ch, ch, 1, 1)
	ffn := k.conv(ch, 2*h, 1, 1) + k.conv(2*h, 2*h, 3, 2*h) + k.conv(h, ch, 1, 1)
	return 2*k.ln(ch) + attn + ffn
}

func (k counter) stack(n, ch, heads int) float64 { return float64(n) * k.block(ch, heads) }
func (k counter) down(ch int) float64            { return k.conv(ch, ch/2, 3, 1) }
func (k counter) up(ch int) float64              { return k.conv(ch, 2*ch, 3, 1) }

// encoder counts what every family shares: patch_embed, the encoder
// levels with their downsampling, the latent level, the refinement and
// the output conv.
func (k counter) encoder() float64 {
	d, b, h := k.c.Dim, k.c.Blocks, k.c.Heads
	n := k.conv(3, d, 3, 1) + k.stack(b[3], 8*d, h[3]) + k.conv(2*d, 3, 3, 1) + k.stack(k.c.Refinement, 2*d, h[0])
	for l := range 3 {
		n += k.stack(b[l], d<<l, h[l]) + k.down(d<<l)
	}
	return n
}

// mapParameters counts the barycenter map's parameters (see BarycenterMap);
// block counts one transformer block's.
func (c Config) mapParameters(block func(ch, heads int) float64) float64 {
	if c.BaryBlocks == 0 {
		return 0
	}
	m := c.mapConfig().withDefaults()
	dd, hh := float64(m.Dim), float64(m.Hidden)
	var unit float64
	switch m.Arch {
	case MapMLP: // fc1, fc2: 1x1 convs with bias
		unit = dd*hh + hh + hh*dd + dd
	case MapUNet: // conv1, norm1, conv2, norm2 (3x3 convs with bias), proj (1x1 with bias)
		norm := 2 * hh
		if m.BiasFree {
			norm = hh
		}
		unit = 9*dd*hh + hh + norm + 9*hh*hh + hh + norm + hh*dd + dd
	case MapViT: // norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2
		unit = 2*dd + 3*dd*dd + 3*dd + dd*dd + dd + 2*dd + dd*hh + hh + hh*dd + dd
	default: // Restormer transformer blocks
		unit = block(m.Dim, m.Heads)
	}
	return float64(m.Blocks) * unit
}
