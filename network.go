package baryir

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/layers"
)

// Output is what a network's forward pass builds. Source, Bary and Residual
// are the bottleneck latents s, b = T(s) and r = s - b of the paper's
// Sec. 4.2; they are nil for a network without BaryIR (Network.Map nil).
type Output struct {
	Restored, Source, Bary, Residual *G.Node
}

// Backbone is what a restoration network provides to host BaryIR at its
// bottleneck, as in the paper's Fig. 2: an encoder that maps an image to a
// latent s, and a decoder that restores the image from the barycenter
// latent b = T(s) and the residual r = s - b.
//
// To plug BaryIR into a network of your own:
//
//  1. Split its forward pass at the bottleneck. Encode builds everything up
//     to the latent s (B, C, h, w) and returns it with the features the
//     decoder reuses (skips). Decode builds the rest, from b, r and the
//     skips. A decoder may use both latents, as BaryNet's does (b and r
//     concatenated, and r through a residual branch into the skips), or b
//     alone, as the Restormer's does.
//  2. Create every parameter in the layers.Scope you are given, with the
//     names your PyTorch module would have, so that weights, checkpoints
//     and optimiser state carry over.
//  3. Make an Architecture whose Build returns a Network with your backbone
//     and a map (NewBarycenterMap, or any Map). The Trainer, the Restorer,
//     checkpoints, WriteLossCurve, the latent study and EvaluateUnseen all
//     take it.
//
// Without a map (Network.Map nil) the same backbone is the baseline without
// BaryIR: Decode gets b = s and r = nil, and no barycenter is trained.
type Backbone interface {
	// Encode builds the encoder on x (B, 3, H, W).
	Encode(x *G.Node) (Encoded, error)
	// Decode builds the decoder and returns the restored image (B, 3, H,
	// W). b and r have the latent's shape; r is nil without a map.
	Decode(x *G.Node, e Encoded, b, r *G.Node) (*G.Node, error)
}

// Encoded is what a Backbone's encoder hands on.
type Encoded struct {
	// Latent is the bottleneck latent s that the map acts on.
	Latent *G.Node
	// Skips are the encoder features the decoder reuses.
	Skips []*G.Node
	// Norm, if set, is applied to the map's output to make b (BaryNet
	// normalises s and T(s) with one LayerNorm); nil keeps T(s).
	Norm func(*G.Node) (*G.Node, error)
}

// Map is a barycenter map T: it maps a latent to one of the same shape.
// BarycenterMap is the library's; any layer with this method will do.
type Map interface {
	Forward(s *G.Node) (*G.Node, error)
}

// Network is a Backbone with BaryIR attached at its bottleneck (Map set)
// or without it (Map nil).
type Network struct {
	// Scope holds every parameter of the network: Params lists them.
	Scope    *layers.Scope
	Backbone Backbone
	Map      Map
	// DropResidual is a test-time ablation, not part of the architecture:
	// the decoder is given r = 0, so it sees only b (see
	// Config.DropResidual).
	DropResidual bool
}

// Architecture builds a network, its parameters created in a scope: the
// Trainer and the Restorer build their graphs through it. Config is the
// Architecture of BaryNet and the Restormer; a network of your own is
// another (see Backbone). Its JSON form is recorded in checkpoints, so that
// a run resumes only with the architecture it was saved with.
type Architecture interface {
	Build(s *layers.Scope) (*Network, error)
}

// NewNetwork builds the network arch describes, its parameters created in s.
func NewNetwork(s *layers.Scope, arch Architecture) (*Network, error) {
	if arch == nil {
		return nil, errorf("network: no architecture")
	}
	n, err := arch.Build(s)
	if err != nil {
		return nil, err
	}
	if n == nil || n.Scope == nil || n.Backbone == nil {
		return nil, errorf("network: %s built a network without a scope or a backbone", describe(arch))
	}
	return n, nil
}

// Build makes the network c describes: BaryNet (the authors' topology,
// with its barycenter map "barylatent") or the plain Restormer.
func (c Config) Build(s *layers.Scope) (*Network, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Arch == ArchRestormer {
		return &Network{Scope: s, Backbone: newRestormer(s, c)}, nil
	}
	bb, m := newBaryNet(s, c)
	return &Network{Scope: s, Backbone: bb, Map: m, DropResidual: c.DropResidual}, nil
}

// Params lists the learnable tensors with their PyTorch state_dict names.
func (n *Network) Params() []layers.Param { return n.Scope.Params() }

// Forward builds the network on x (B, 3, H, W): s from the encoder, b =
// T(s) and r = s - b with a map, then the decoder.
func (n *Network) Forward(x *G.Node) (Output, error) {
	b := &layers.Builder{}
	e, err := n.Backbone.Encode(x)
	if err != nil {
		return Output{}, err
	}
	s := e.Latent
	if n.Map == nil {
		restored := b.N(n.Backbone.Decode(x, e, s, nil))
		return Output{Restored: restored}, b.Err()
	}
	bary := b.Do(n.Map.Forward, s)
	if e.Norm != nil {
		bary = b.Do(e.Norm, bary)
	}
	res := b.Sub(s, bary)
	dec := res // what the decoder is given as r
	if n.DropResidual {
		dec = b.N(layers.Scale(res, 0))
	}
	restored := b.N(n.Backbone.Decode(x, e, bary, dec))
	return Output{Restored: restored, Source: s, Bary: bary, Residual: res}, b.Err()
}

// describe names an architecture in messages: its String, if it has one.
func describe(arch Architecture) string {
	if s, ok := arch.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", arch)
}

// encoder is the part Restormer and BaryNet share: patch embedding, three
// encoder levels with downsampling, and the latent level.
type encoder struct {
	patchEmbed *layers.Conv2d
	levels     [3]layers.Stack
	downs      [3]*layers.Resample
	latent     layers.Stack
}

func newEncoder(s *layers.Scope, c Config) encoder {
	e := encoder{patchEmbed: layers.NewPatchEmbed(s.Sub("patch_embed"), 3, c.Dim)}
	for l := range 3 {
		ch := c.Dim << l
		e.levels[l] = c.stack(s.Subf("encoder_level%d", l+1), c.Blocks[l], ch, c.Heads[l])
		e.downs[l] = layers.NewDownsample(s.Subf("down%d_%d", l+1, l+2), ch)
	}
	e.latent = c.stack(s.Sub("latent"), c.Blocks[3], c.Dim*8, c.Heads[3])
	return e
}

func (c Config) stack(s *layers.Scope, n, ch, heads int) layers.Stack {
	return layers.NewStack(s, n, ch, heads, c.Hidden(ch), c.BiasFree)
}

func (c Config) block(s *layers.Scope, ch, heads int) *layers.TransformerBlock {
	return layers.NewTransformerBlock(s, ch, heads, c.Hidden(ch), c.BiasFree)
}

func conv1x1(s *layers.Scope, in, out int) *layers.Conv2d {
	return layers.NewConv2d(s, in, out, 1, 1, 0, 1, false)
}

// Encode returns the latent level's output with the three encoder levels'
// outputs as skips.
func (e encoder) Encode(x *G.Node) (Encoded, error) {
	if err := checkInput(x); err != nil {
		return Encoded{}, err
	}
	b := &layers.Builder{}
	enc := make([]*G.Node, 3)
	h := b.Do(e.patchEmbed.Forward, x)
	for l := range 3 {
		enc[l] = b.Do(e.levels[l].Forward, h)
		h = b.Do(e.downs[l].Forward, enc[l])
	}
	return Encoded{Latent: b.Do(e.latent.Forward, h), Skips: enc}, b.Err()
}

func checkInput(x *G.Node) error {
	s := x.Shape()
	if len(s) != 4 || s[1] != 3 {
		return errorf("network input has shape %v, want (B, 3, H, W)", s)
	}
	if s[2] < 8 || s[3] < 8 || s[2]%8 != 0 || s[3]%8 != 0 {
		return errorf("network input is %dx%d; height and width must be positive multiples of 8", s[2], s[3])
	}
	return nil
}

// restormer is the official Restormer (dual_pixel_task off).
type restormer struct {
	encoder
	ups       [3]*layers.Resample // up4_3, up3_2, up2_1
	reduce    [2]*layers.Conv2d   // reduce_chan_level3, reduce_chan_level2
	decoders  [3]layers.Stack     // decoder_level3, 2, 1
	refine    layers.Stack
	outputLay *layers.Conv2d
}

func newRestormer(s *layers.Scope, c Config) *restormer {
	d := c.Dim
	r := &restormer{encoder: newEncoder(s, c)}
	r.ups[0] = layers.NewUpsample(s.Sub("up4_3"), 8*d)
	r.reduce[0] = conv1x1(s.Sub("reduce_chan_level3"), 8*d, 4*d)
	r.decoders[0] = c.stack(s.Sub("decoder_level3"), c.Blocks[2], 4*d, c.Heads[2])
	r.ups[1] = layers.NewUpsample(s.Sub("up3_2"), 4*d)
	r.reduce[1] = conv1x1(s.Sub("reduce_chan_level2"), 4*d, 2*d)
	r.decoders[1] = c.stack(s.Sub("decoder_level2"), c.Blocks[1], 2*d, c.Heads[1])
	r.ups[2] = layers.NewUpsample(s.Sub("up2_1"), 2*d)
	r.decoders[2] = c.stack(s.Sub("decoder_level1"), c.Blocks[0], 2*d, c.Heads[0])
	r.refine = c.stack(s.Sub("refinement"), c.Refinement, 2*d, c.Heads[0])
	r.outputLay = layers.NewConv2d(s.Sub("output"), 2*d, 3, 3, 1, 1, 1, false)
	return r
}

// Decode runs the Restormer's decoder from b (the latent itself without a
// map); it does not use r.
func (r *restormer) Decode(x *G.Node, e Encoded, bary, _ *G.Node) (*G.Node, error) {
	b := &layers.Builder{}
	h := bary
	for l := range 3 {
		h = b.N(layers.Concat(b.Do(r.ups[l].Forward, h), e.Skips[2-l]))
		if l < 2 {
			h = b.Do(r.reduce[l].Forward, h)
		}
		h = b.Do(r.decoders[l].Forward, h)
	}
	h = b.Do(r.outputLay.Forward, b.Do(r.refine.Forward, h))
	return add(b, h, x), b.Err()
}

// baryNet is the backbone of the authors' BaryNet with decoder=True: the
// barycenter map T (barylatent) acts on the normalised source latent s =
// LN(latent), b = LN(T(s)), and a residual branch carries r = s - b through
// its own decoder, added into the skips with weight 0.8.
type baryNet struct {
	encoder
	ln *layers.LayerNorm

	noise3                        *layers.TransformerBlock
	reduceNoise3, resReduceNoise3 *layers.Conv2d
	up43, resUp43                 *layers.Resample
	reduceChan3, resReduceChan3   *layers.Conv2d
	dec3, resDec3                 layers.Stack

	noise2                        *layers.TransformerBlock
	reduceNoise2, resReduceNoise2 *layers.Conv2d
	up32, resUp32                 *layers.Resample
	reduceChan2, resReduceChan2   *layers.Conv2d
	dec2, resDec2                 layers.Stack

	noise1                        *layers.TransformerBlock
	reduceNoise1, resReduceNoise1 *layers.Conv2d
	up21, resUp21                 *layers.Resample
	dec1, refine                  layers.Stack
	outputLay                     *layers.Conv2d
}

// residualSkip is the weight of the residual branch in the decoder's skip connections.
const residualSkip = 0.8

// newBaryNet makes the backbone and its map, in the authors' order of
// parameters.
func newBaryNet(s *layers.Scope, c Config) (*baryNet, Map) {
	d, h := c.Dim, c.Heads
	n := &baryNet{encoder: newEncoder(s, c)}
	bary := newBarycenterMap(s.Sub("barylatent"), c.mapConfig())
	n.ln = layers.NewLayerNorm(s.Sub("LN"), 8*d, c.BiasFree)

	n.up43 = layers.NewUpsample(s.Sub("up4_3"), 4*d)
	n.reduceChan3 = conv1x1(s.Sub("reduce_chan_level3"), 6*d, 4*d)
	n.noise3 = c.block(s.Sub("noise_level3"), 16*d, h[2])
	n.reduceNoise3 = conv1x1(s.Sub("reduce_noise_level3"), 16*d, 4*d)
	n.dec3 = c.stack(s.Sub("decoder_level3"), c.Blocks[2], 4*d, h[2])
	n.resUp43 = layers.NewUpsample(s.Sub("resup4_3"), 8*d)
	n.resReduceChan3 = conv1x1(s.Sub("resreduce_chan_level3"), 4*d, 4*d)
	n.resReduceNoise3 = conv1x1(s.Sub("resreduce_noise_level3"), 8*d, 8*d)
	n.resDec3 = c.stack(s.Sub("resdecoder_level3"), c.Blocks[2], 4*d, h[2])

	n.up32 = layers.NewUpsample(s.Sub("up3_2"), 4*d)
	n.reduceChan2 = conv1x1(s.Sub("reduce_chan_level2"), 4*d, 2*d)
	n.noise2 = c.block(s.Sub("noise_level2"), 4*d, h[2])
	n.reduceNoise2 = conv1x1(s.Sub("reduce_noise_level2"), 4*d, 4*d)
	n.dec2 = c.stack(s.Sub("decoder_level2"), c.Blocks[1], 2*d, h[1])
	n.resUp32 = layers.NewUpsample(s.Sub("resup3_2"), 4*d)
	n.resReduceChan2 = conv1x1(s.Sub("resreduce_chan_level2"), 2*d, 2*d)
	n.resReduceNoise2 = conv1x1(s.Sub("resreduce_noise_level2"), 4*d, 4*d)
	n.resDec2 = c.stack(s.Sub("resdecoder_level2"), c.Blocks[1], 2*d, h[1])

	n.up21 = layers.NewUpsample(s.Sub("up2_1"), 2*d)
	n.resUp21 = layers.NewUpsample(s.Sub("resup2_1"), 2*d)
	n.noise1 = c.block(s.Sub("noise_level1"), 2*d, h[2])
	n.reduceNoise1 = conv1x1(s.Sub("reduce_noise_level1"), 2*d, 2*d)
	n.resReduceNoise1 = conv1x1(s.Sub("resreduce_noise_level1"), 2*d, 2*d)
	n.dec1 = c.stack(s.Sub("decoder_level1"), c.Blocks[0], 2*d, h[0])
	n.refine = c.stack(s.Sub("refinement"), c.Refinement, 2*d, h[0])
	n.outputLay = layers.NewConv2d(s.Sub("output"), 2*d, 3, 3, 1, 1, 1, false)
	return n, bary
}

// Encode normalises the latent level's output: s = LN(latent), and b =
// LN(T(s)) through Norm.
func (n *baryNet) Encode(x *G.Node) (Encoded, error) {
	e, err := n.encoder.Encode(x)
	if err != nil {
		return e, err
	}
	e.Latent, err = n.ln.Forward(e.Latent)
	e.Norm = n.ln.Forward
	return e, err
}

// Decode runs both branches of BaryNet's decoder.
func (n *baryNet) Decode(x *G.Node, e Encoded, bary, dec *G.Node) (*G.Node, error) {
	if dec == nil {
		return nil, errorf("network: BaryNet's decoder needs the residual r; build it with its map")
	}
	b := &layers.Builder{}
	enc := e.Skips
	// Level 3: the latent decoder sees [b, r]; the residual branch sees r.
	h := b.Do(n.reduceNoise3.Forward, b.Do(n.noise3.Forward, b.N(layers.Concat(bary, dec))))
	r := b.Do(n.resReduceNoise3.Forward, dec)
	h, r = n.skip(b, n.up43, n.resUp43, h, r, enc[2])
	h = b.Do(n.dec3.Forward, b.Do(n.reduceChan3.Forward, h))
	r = b.Do(n.resDec3.Forward, b.Do(n.resReduceChan3.Forward, r))

	h = b.Do(n.reduceNoise2.Forward, b.Do(n.noise2.Forward, h))
	r = b.Do(n.resReduceNoise2.Forward, r)
	h, r = n.skip(b, n.up32, n.resUp32, h, r, enc[1])
	h = b.Do(n.dec2.Forward, b.Do(n.reduceChan2.Forward, h))
	r = b.Do(n.resDec2.Forward, b.Do(n.resReduceChan2.Forward, r))

	h = b.Do(n.reduceNoise1.Forward, b.Do(n.noise1.Forward, h))
	r = b.Do(n.resReduceNoise1.Forward, r)
	h, _ = n.skip(b, n.up21, n.resUp21, h, r, enc[0])
	h = b.Do(n.refine.Forward, b.Do(n.dec1.Forward, h))
	return add(b, b.Do(n.outputLay.Forward, h), x), b.Err()
}

// skip upsamples both branches and joins them with the encoder output e:
// cat[up(h), e + 0.8 up(r)]. It returns the joined tensor and up(r).
func (n *baryNet) skip(b *layers.Builder, up, resUp *layers.Resample, h, r, e *G.Node) (*G.Node, *G.Node) {
	uh := b.Do(up.Forward, h)
	ur := b.Do(resUp.Forward, r)
	scaled := b.N(layers.Scale(ur, residualSkip))
	return b.N(layers.Concat(uh, add(b, e, scaled))), ur
}

// add is layers.Add(x, y) unless the builder holds an error.
func add(b *layers.Builder, x, y *G.Node) *G.Node {
	if b.Err() != nil {
		return nil
	}
	return b.N(layers.Add(x, y))
}
