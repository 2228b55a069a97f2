// Package baryir implements BaryIR (Tang et al., "Learning Continuous
// Wasserstein Barycenter Space for Generalized All-in-One Image Restoration"):
// a Restormer encoder/decoder whose bottleneck latents from every degradation
// are mapped into their Wasserstein barycenter, with residual embeddings kept
// contrastive and orthogonal to it. The package holds the model, its config,
// its weights and its trainer; the pieces live in layers, ot and losses.
//
// # Slicing in your own graphs
//
// Gorgonia (v0.9.18) merges graph nodes whose hashes match, and its slice op
// hashes start, end and step as single bytes: gorgonia.Slice(x, S(0, 10))
// and gorgonia.Slice(x, S(256, 266)) become one node, silently, and the
// gradient of gorgonia.Concat (which slices) gives blocks 256 rows apart
// one gradient. Slice with layers.Slice and concatenate with
// layers.ConcatAxis (or layers.Concat, for channels), as every builder of
// this module does. NewMachine refuses a graph in which Gorgonia's slice or
// its gradient slices an axis longer than 256, and names the node; opt in
// with AllowGorgoniaSlices only where no two slices of one node have bounds
// equal modulo 256.
package baryir

import "fmt"

// Arch names the network family.
type Arch string

const (
	// ArchBaryNet is BaryIR's network (the authors' BaryNet).
	ArchBaryNet Arch = "barynet"
	// ArchRestormer is the plain Restormer baseline.
	ArchRestormer Arch = "restormer"
)

// Config sizes a network. The zero value is not valid; start from a preset.
type Config struct {
	Arch       Arch
	Dim        int    // channels at level 1
	Blocks     [4]int // transformer blocks per level
	Heads      [4]int // attention heads per level
	Refinement int    // refinement blocks after decoder level 1
	BaryBlocks int    // residual units of the barycenter map (BaryNet only)
	// Map is the barycenter map's architecture (BaryNet only; paper Tab.
	// XI). The zero value, MapTransformer, is the paper's and the authors'.
	// The map has 8*Dim channels, heads[3] heads, the GDFN width as its
	// feed-forward width and, for MapUNet, 8*Dim-channel convolutions
	// (MapConfig).
	Map       MapArch
	FFNFactor float64 // GDFN expansion: hidden = int(FFNFactor * channels)
	BiasFree  bool    // BiasFree LayerNorm instead of WithBias

	// DropResidual is a test-time ablation, not part of the architecture
	// (weights neither need nor record it): BaryNet runs with the residual
	// latent r = s - T(s) replaced by zeros, so the decoder sees only the
	// barycenter latent b and the residual branch carries nothing from the
	// input. Comparing restorations with and without it shows what the
	// residual embeddings carry (the paper's ablation figure).
	DropResidual bool
}

// Paper is the network of the paper: Restormer sizes with a two-block barycenter map.
func Paper() Config {
	return Config{Arch: ArchBaryNet, Dim: 48, Blocks: [4]int{4, 6, 6, 8}, Heads: [4]int{1, 2, 4, 8},
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
	return Config{Arch: ArchBaryNet, Dim: 8, Blocks: [4]int{1, 1, 1, 1}, Heads: [4]int{1, 2, 4, 8},
		Refinement: 1, BaryBlocks: 1, FFNFactor: 2.66}
}

// Restormer returns c as the plain Restormer baseline of the same sizes.
func (c Config) Restormer() Config {
	c.Arch = ArchRestormer
	c.BaryBlocks = 0
	c.Map = MapTransformer
	return c
}

// String describes c for logs: "barynet dim 8 blocks [1 1 1 1]".
func (c Config) String() string {
	return fmt.Sprintf("%s dim %d blocks %v", c.Arch, c.Dim, c.Blocks)
}

// mapConfig sizes BaryNet's barycenter map, which acts on the 8*Dim-channel latent.
func (c Config) mapConfig() MapConfig {
	m := MapConfig{Arch: c.Map, Dim: 8 * c.Dim, Blocks: c.BaryBlocks, Heads: c.Heads[3], Hidden: c.Hidden(8 * c.Dim),
		BiasFree: c.BiasFree}
	if c.Map == MapUNet {
		m.Hidden = m.Dim // the paper's "feature space"
	}
	return m
}

// Hidden is the GDFN hidden width for a level with ch channels.
func (c Config) Hidden(ch int) int { return int(float64(ch) * c.FFNFactor) }

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	switch {
	case c.Arch != ArchBaryNet && c.Arch != ArchRestormer:
		return fmt.Errorf("config: unknown arch %q", c.Arch)
	case c.Dim <= 0:
		return fmt.Errorf("config: dim %d must be positive", c.Dim)
	case c.FFNFactor <= 0:
		return fmt.Errorf("config: FFN factor %g must be positive", c.FFNFactor)
	case c.Refinement < 0 || c.BaryBlocks < 0:
		return fmt.Errorf("config: negative block count")
	case c.Arch == ArchBaryNet && c.BaryBlocks == 0:
		return fmt.Errorf("config: BaryNet needs at least one barycenter block")
	case c.DropResidual && c.Arch != ArchBaryNet:
		return fmt.Errorf("config: DropResidual needs BaryNet (the %s has no residual latent)", c.Arch)
	case c.Map != MapTransformer && c.Arch != ArchBaryNet:
		return fmt.Errorf("config: a %s barycenter map needs BaryNet (the %s has no map)", c.Map, c.Arch)
	}
	if err := c.Map.check(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for l := range 4 {
		ch := c.Dim << l
		if c.Blocks[l] <= 0 || c.Heads[l] <= 0 {
			return fmt.Errorf("config: level %d needs positive blocks and heads, got %d and %d", l+1, c.Blocks[l], c.Heads[l])
		}
		if ch%c.Heads[l] != 0 {
			return fmt.Errorf("config: level %d has %d channels, not divisible by %d heads", l+1, ch, c.Heads[l])
		}
	}
	// The decoder's noise_level blocks run at 2, 4 and 16 times dim with heads[2].
	if c.Arch == ArchBaryNet && (2*c.Dim)%c.Heads[2] != 0 {
		return fmt.Errorf("config: BaryNet decoder has %d channels, not divisible by %d heads (heads[2])", 2*c.Dim, c.Heads[2])
	}
	return nil
}
