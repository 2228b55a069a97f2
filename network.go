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
//     and a map (NewBarycenterMap, or any Map). The Trainer (its
//     checkpoints, log and loss curve) and the Restorer (its Latents
//     included) take it.
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
	// Scope holds every parameter of the network, with its PyTorch
	// state_dict name: Scope.Params lists them.
	Scope    *layers.Scope
	Backbone Backbone
	Map      Map
	// DropResidual, DropBary and DecodeSource change what the decoder is
	// given, not the latents: r = 0, b = 0, and s in place of b (see
	// Config.DropResidual for the paper's ablations they make).
	DropResidual, DropBary, DecodeSource bool
}

// Architecture builds a network, its parameters created in a scope: the
// Trainer and the Restorer build their graphs through it. Config is the
// Architecture of BaryNet and the Restormer; a network of your own is
// another (see Backbone). Its JSON form is recorded in checkpoints, so that
// a run resumes only with the architecture it was saved with.
type Architecture interface {
	Build(s *layers.Scope) (*Network, error)
}

// buildNetwork builds the network arch describes, its parameters created
// in s, and checks that it has a scope and a backbone.
func buildNetwork(s *layers.Scope, arch Architecture) (*Network, error) {
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
	if err := c.validate(); err != nil {
		return nil, err
	}
	if !c.hasMap() {
		return &Network{Scope: s, Backbone: newRestormer(s, c)}, nil
	}
	bb, m := newBaryNet(s, c)
	return &Network{Scope: s, Backbone: bb, Map: m, DropResidual: c.DropResidual, DropBary: c.DropBary, DecodeSource: c.DecodeSource}, nil
}

// Forward builds the network on x (B, 3, H, W): s from the encoder, b =
// T(s) and r = s - b with a map, then the decoder (on b and r, or what
// DropResidual, DropBary and DecodeSource give it instead).
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
	decB, decR := bary, res // what the decoder is given as b and r
	if n.DecodeSource {
		decB = s
	}
	if n.DropBary {
		decB = b.N(layers.Scale(decB, 0))
	}
	if n.DropResidual {
		decR = b.N(layers.Scale(res, 0))
	}
	restored := b.N(n.Backbone.Decode(x, e, decB, decR))
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

// block is the configuration of c's transformer blocks on ch channels.
func (c Config) block(ch, heads int) layers.TransformerBlockConfig {
	return layers.TransformerBlockConfig{Dim: ch, Heads: heads, Hidden: c.hidden(ch), BiasFree: c.BiasFree}
}

// stack is n of c's transformer blocks on ch channels.
func (c Config) stack(s *layers.Scope, n, ch, heads int) layers.Stack {
	return layers.NewStack(s, n, c.block(ch, heads))
}

// conv1x1 is nn.Conv2d(in, out, kernel_size=1, bias=False).
func conv1x1(s *layers.Scope, in, out int) *layers.Conv2d {
	return layers.NewConv2d(s, layers.Conv2dConfig{In: in, Out: out, Kernel: 1})
}

// outputConv is Restormer's `output`: nn.Conv2d(2 dim, 3, kernel_size=3,
// padding=1, bias=False).
func outputConv(s *layers.Scope, c Config) *layers.Conv2d {
	return layers.NewConv2d(s.Sub("output"), layers.Conv2dConfig{In: 2 * c.Dim, Out: 3, Kernel: 3, Padding: 1})
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

// restormer is the official Restormer (dual_pixel_task off), or with
// prompts PromptIR (see newPromptIR). Its decoder's arrays are indexed by
// step l: level 3, 2, 1.
type restormer struct {
	encoder
	// PromptIR's, nil in the Restormer: each step starts with
	// reduceNoise(noise(cat[h, prompt(h)])).
	prompts     [3]*layers.PromptGenBlock   // prompt3, 2, 1
	noise       [3]*layers.TransformerBlock // noise_level3, 2, 1
	reduceNoise [3]*layers.Conv2d           // reduce_noise_level3, 2, 1

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
	r.outputLay = outputConv(s, c)
	return r
}

// Decode runs the Restormer's (or PromptIR's) decoder from b (the latent
// itself without a map); it does not use r.
func (r *restormer) Decode(x *G.Node, e Encoded, bary, _ *G.Node) (*G.Node, error) {
	b := &layers.Builder{}
	h := bary
	for l := range 3 {
		if r.noise[l] != nil {
			h = withPrompt(b, r.prompts[l], h)
			h = b.Do(r.noise[l].Forward, h)
			h = b.Do(r.reduceNoise[l].Forward, h)
		}
		h = b.Do(r.ups[l].Forward, h)
		h = b.N(layers.Concat(h, e.Skips[2-l]))
		if l < 2 {
			h = b.Do(r.reduce[l].Forward, h)
		}
		h = b.Do(r.decoders[l].Forward, h)
	}
	h = b.Do(r.refine.Forward, h)
	h = b.Do(r.outputLay.Forward, h)
	return add(b, h, x), b.Err()
}

// baryNet is the backbone of the authors' BaryNet with decoder=True: the
// barycenter map T (barylatent) acts on the normalised source latent s =
// LN(latent), b = LN(T(s)), and a residual branch carries r = s - b through
// its own decoder, added into the skips with weight 0.8. Its decoder's
// arrays are indexed by step l: level 3, 2, 1; level 1 has no channel
// reduction and no residual decoder.
type baryNet struct {
	encoder
	ln *layers.LayerNorm // LN

	// The main branch, from [b, r].
	prompts     [3]*layers.PromptGenBlock   // prompt3, 2, 1 of BaryIR on PromptIR; nil in BaryNet
	noise       [3]*layers.TransformerBlock // noise_level3, 2, 1
	reduceNoise [3]*layers.Conv2d           // reduce_noise_level3, 2, 1
	ups         [3]*layers.Resample         // up4_3, up3_2, up2_1
	reduceChan  [2]*layers.Conv2d           // reduce_chan_level3, 2
	decoders    [3]layers.Stack             // decoder_level3, 2, 1
	refine      layers.Stack                // refinement
	outputLay   *layers.Conv2d              // output

	// The residual branch, from r.
	resReduceNoise [3]*layers.Conv2d   // resreduce_noise_level3, 2, 1
	resUps         [3]*layers.Resample // resup4_3, resup3_2, resup2_1
	resReduceChan  [2]*layers.Conv2d   // resreduce_chan_level3, 2
	resDecoders    [2]layers.Stack     // resdecoder_level3, 2
}

// residualSkip is the weight of the residual branch in the decoder's skip connections.
const residualSkip = 0.8

// newBaryNet makes the backbone and its map, in the authors' order of
// parameters.
func newBaryNet(s *layers.Scope, c Config) (*baryNet, Map) { return newBaryNetWith(s, c, nil) }

// newBaryNetWith is newBaryNet with, when p is not nil, PromptIR's prompt
// blocks before the noise_level blocks, which grow by the prompts'
// channels (see PromptIR).
func newBaryNetWith(s *layers.Scope, c Config, p *PromptIR) (*baryNet, Map) {
	d, h := c.Dim, c.Heads
	n := &baryNet{encoder: newEncoder(s, c)}
	var extra [3]int // the prompts' channels, by decoder step
	if p != nil {
		for l := range 3 {
			n.prompts[l] = layers.NewPromptGenBlock(s.Subf("prompt%d", 3-l), p.prompt(l))
			extra[l] = p.PromptDims[2-l]
		}
	}
	bary := newBarycenterMap(s.Sub("barylatent"), c.mapConfig())
	n.ln = layers.NewLayerNorm(s.Sub("LN"), layers.LayerNormConfig{Dim: 8 * d, BiasFree: c.BiasFree})

	n.ups[0] = layers.NewUpsample(s.Sub("up4_3"), 4*d)
	n.reduceChan[0] = conv1x1(s.Sub("reduce_chan_level3"), 6*d, 4*d)
	n.noise[0] = layers.NewTransformerBlock(s.Sub("noise_level3"), c.block(16*d+extra[0], h[2]))
	n.reduceNoise[0] = conv1x1(s.Sub("reduce_noise_level3"), 16*d+extra[0], 4*d)
	n.decoders[0] = c.stack(s.Sub("decoder_level3"), c.Blocks[2], 4*d, h[2])
	n.resUps[0] = layers.NewUpsample(s.Sub("resup4_3"), 8*d)
	n.resReduceChan[0] = conv1x1(s.Sub("resreduce_chan_level3"), 4*d, 4*d)
	n.resReduceNoise[0] = conv1x1(s.Sub("resreduce_noise_level3"), 8*d, 8*d)
	n.resDecoders[0] = c.stack(s.Sub("resdecoder_level3"), c.Blocks[2], 4*d, h[2])

	n.ups[1] = layers.NewUpsample(s.Sub("up3_2"), 4*d)
	n.reduceChan[1] = conv1x1(s.Sub("reduce_chan_level2"), 4*d, 2*d)
	n.noise[1] = layers.NewTransformerBlock(s.Sub("noise_level2"), c.block(4*d+extra[1], h[2]))
	n.reduceNoise[1] = conv1x1(s.Sub("reduce_noise_level2"), 4*d+extra[1], 4*d)
	n.decoders[1] = c.stack(s.Sub("decoder_level2"), c.Blocks[1], 2*d, h[1])
	n.resUps[1] = layers.NewUpsample(s.Sub("resup3_2"), 4*d)
	n.resReduceChan[1] = conv1x1(s.Sub("resreduce_chan_level2"), 2*d, 2*d)
	n.resReduceNoise[1] = conv1x1(s.Sub("resreduce_noise_level2"), 4*d, 4*d)
	n.resDecoders[1] = c.stack(s.Sub("resdecoder_level2"), c.Blocks[1], 2*d, h[1])

	n.ups[2] = layers.NewUpsample(s.Sub("up2_1"), 2*d)
	n.resUps[2] = layers.NewUpsample(s.Sub("resup2_1"), 2*d)
	n.noise[2] = layers.NewTransformerBlock(s.Sub("noise_level1"), c.block(2*d+extra[2], h[2]))
	n.reduceNoise[2] = conv1x1(s.Sub("reduce_noise_level1"), 2*d+extra[2], 2*d)
	n.resReduceNoise[2] = conv1x1(s.Sub("resreduce_noise_level1"), 2*d, 2*d)
	n.decoders[2] = c.stack(s.Sub("decoder_level1"), c.Blocks[0], 2*d, h[0])
	n.refine = c.stack(s.Sub("refinement"), c.Refinement, 2*d, h[0])
	n.outputLay = outputConv(s, c)
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

// Decode runs both branches of BaryNet's decoder. At each level the main
// branch h and the residual branch r are refined and upsampled, and the
// skip joins them with the encoder's output: cat[up(h), enc + 0.8 up(r)].
func (n *baryNet) Decode(x *G.Node, e Encoded, bary, res *G.Node) (*G.Node, error) {
	if res == nil {
		return nil, errorf("network: BaryNet's decoder needs the residual r; build it with its map")
	}
	b := &layers.Builder{}
	h := b.N(layers.Concat(bary, res)) // level 3's main branch sees [b, r]
	r := res
	for l := range 3 {
		h = withPrompt(b, n.prompts[l], h)
		h = b.Do(n.noise[l].Forward, h)
		h = b.Do(n.reduceNoise[l].Forward, h)
		r = b.Do(n.resReduceNoise[l].Forward, r)
		h = b.Do(n.ups[l].Forward, h)
		r = b.Do(n.resUps[l].Forward, r)
		skip := b.N(layers.Scale(r, residualSkip))
		skip = add(b, e.Skips[2-l], skip)
		h = b.N(layers.Concat(h, skip))
		if l < 2 {
			h = b.Do(n.reduceChan[l].Forward, h)
		}
		h = b.Do(n.decoders[l].Forward, h)
		if l < 2 {
			r = b.Do(n.resReduceChan[l].Forward, r)
			r = b.Do(n.resDecoders[l].Forward, r)
		}
	}
	h = b.Do(n.refine.Forward, h)
	h = b.Do(n.outputLay.Forward, h)
	return add(b, h, x), b.Err()
}

// add is layers.Add(x, y) unless the builder holds an error.
func add(b *layers.Builder, x, y *G.Node) *G.Node {
	if b.Err() != nil {
		return nil
	}
	return b.N(layers.Add(x, y))
}
