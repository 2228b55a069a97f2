package baryir

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/layers"
)

// Output is what a network's forward pass builds. Source, Bary and Residual
// are the bottleneck latents s, b = T(s) and r = s - b of the paper's Sec. 4.2; they are
// nil for the plain Restormer.
type Output struct {
	Restored, Source, Bary, Residual *G.Node
}

// Network is a restoration network built on a Gorgonia graph.
type Network interface {
	// Forward builds the network on x (B, 3, H, W), H and W multiples of 8.
	Forward(x *G.Node) (Output, error)
	// Params lists the learnable tensors with their PyTorch state_dict names.
	Params() []layers.Param
	// Config is the architecture the network was made with.
	Config() Config
}

// NewNetwork makes the network cfg describes, its parameters created in s.
func NewNetwork(s *layers.Scope, cfg Config) (Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Arch == ArchRestormer {
		return newRestormer(s, cfg), nil
	}
	return newBaryNet(s, cfg), nil
}

// encoder is the part Restormer and BaryNet share: patch embedding, three
// encoder levels with downsampling, and the latent level.
type encoder struct {
	cfg        Config
	scope      *layers.Scope
	patchEmbed *layers.Conv2d
	levels     [3]layers.Stack
	downs      [3]*layers.Resample
	latent     layers.Stack
}

func newEncoder(s *layers.Scope, c Config) encoder {
	e := encoder{cfg: c, scope: s, patchEmbed: layers.NewPatchEmbed(s.Sub("patch_embed"), 3, c.Dim)}
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

func (e encoder) Params() []layers.Param { return e.scope.Params() }
func (e encoder) Config() Config         { return e.cfg }

// forward returns the three encoder levels' outputs and the latent input.
func (e encoder) forward(b *layers.Builder, x *G.Node) (enc [3]*G.Node, lat *G.Node) {
	if err := checkInput(x); err != nil {
		b.Fail(err)
		return enc, nil
	}
	h := b.Do(e.patchEmbed.Forward, x)
	for l := range 3 {
		enc[l] = b.Do(e.levels[l].Forward, h)
		h = b.Do(e.downs[l].Forward, enc[l])
	}
	return enc, b.Do(e.latent.Forward, h)
}

func checkInput(x *G.Node) error {
	s := x.Shape()
	if len(s) != 4 || s[1] != 3 {
		return fmt.Errorf("network input has shape %v, want (B, 3, H, W)", s)
	}
	if s[2] < 8 || s[3] < 8 || s[2]%8 != 0 || s[3]%8 != 0 {
		return fmt.Errorf("network input is %dx%d; height and width must be positive multiples of 8", s[2], s[3])
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

func (r *restormer) Forward(x *G.Node) (Output, error) {
	b := &layers.Builder{}
	enc, h := r.forward(b, x)
	for l := range 3 {
		h = b.N(layers.Concat(b.Do(r.ups[l].Forward, h), enc[2-l]))
		if l < 2 {
			h = b.Do(r.reduce[l].Forward, h)
		}
		h = b.Do(r.decoders[l].Forward, h)
	}
	h = b.Do(r.outputLay.Forward, b.Do(r.refine.Forward, h))
	return Output{Restored: add(b, h, x)}, b.Err()
}

// baryNet is the authors' BaryNet with decoder=True: the barycenter map T
// (barylatent) acts on the normalised source latent, and a residual branch
// carries r = s - T(s) through its own decoder, added into the skips with
// weight 0.8.
type baryNet struct {
	encoder
	bary *BarycenterMap
	ln   *layers.LayerNorm

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

func newBaryNet(s *layers.Scope, c Config) *baryNet {
	d, h := c.Dim, c.Heads
	n := &baryNet{encoder: newEncoder(s, c)}
	n.bary = newBarycenterMap(s.Sub("barylatent"), c.mapConfig())
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
	return n
}

func (n *baryNet) Forward(x *G.Node) (Output, error) {
	b := &layers.Builder{}
	enc, lat := n.forward(b, x)
	src := b.Do(n.ln.Forward, lat)
	bary := b.Do(n.ln.Forward, b.Do(n.bary.Forward, src))
	res := b.Sub(src, bary)
	dec := res // what the decoder is given as r
	if n.cfg.DropResidual {
		dec = b.N(layers.Scale(res, 0)) // the test-time ablation (Config.DropResidual)
	}

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
	out := add(b, b.Do(n.outputLay.Forward, h), x)
	return Output{Restored: out, Source: src, Bary: bary, Residual: res}, b.Err()
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
