package baryir

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/layers"
)

// PromptIR is the architecture of PromptIR (Potlapalli et al., NeurIPS
// 2023), the backbone of the paper's best results (Tab. III: BaryIR on
// PromptIR), with or without BaryIR at its bottleneck.
//
// Without BaryIR (Net.Map is MapNone, as Net.Restormer() makes it)
// it is the authors' PromptIR with decoder=True: a Restormer encoder
// (patch_embed, encoder_level1..3, latent), then at decoder levels 3, 2
// and 1 a prompt block (layers.PromptGenBlock `prompt3`, `prompt2`,
// `prompt1`, reading the level's features) whose prompt is concatenated to
// the features, a transformer block on the result (`noise_level3..1`,
// heads[2]) and a 1x1 reduction (`reduce_noise_level3..1`):
//
//	l3 = reduce_noise_level3(noise_level3(cat[s, prompt3(s)]))   8d+P3 -> 4d
//	d3 = decoder_level3(reduce_chan_level3(cat[up4_3(l3), e3]))    6d -> 4d
//	l2 = reduce_noise_level2(noise_level2(cat[d3, prompt2(d3)]))  4d+P2 -> 4d
//	d2 = decoder_level2(reduce_chan_level2(cat[up3_2(l2), e2]))    4d -> 2d
//	l1 = reduce_noise_level1(noise_level1(cat[d2, prompt1(d2)]))  2d+P1 -> 2d
//	out = output(refinement(decoder_level1(cat[up2_1(l1), e1]))) + x
//
// with s the latent, e1..e3 the encoder levels and P1..P3 PromptDims. The
// prompt blocks read 8d, 4d and 2d channels (lin_dim). The authors write
// the widths for d = 48 (4d+512, 2d+224, 2d+192); in terms of d, as here,
// the network works for any dim. Their decoder=False does not run (it
// upsamples the 8d latent with a 4d Upsample and returns an undefined
// variable), so only decoder=True is offered. Parameters carry the
// authors' names, so their state dicts (and PromptIR's released Lightning
// checkpoints, see ReadWeights) load as they are; the six tensors their
// module holds but never uses (chnl_reduce1..3, reduce_noise_channel_1..3)
// are ignored.
//
// With BaryIR (any other Net.Map) the barycenter map T of Net
// (NewBarycenterMap: Net.BaryBlocks units of Net.Map, `barylatent`)
// acts at PromptIR's bottleneck as in BaryNet: s = LN(latent), b =
// LN(T(s)), r = s - b (paper Sec. 4.2, `LN` one LayerNorm), and the
// decoder is BaryNet's with PromptIR's prompts added at the same three
// places: level 3's main branch reads [b, r] (16d channels) and its
// prompt block reads that too,
//
//	l3 = reduce_noise_level3(noise_level3(cat[b, r, prompt3([b, r])]))  16d+P3 -> 4d
//
// levels 2 and 1 concatenate prompt2 and prompt1 before noise_level2 and
// noise_level1 as above, and the residual branch (resreduce_noise_level*,
// resup*, resreduce_chan_level*, resdecoder_level*) carries r into the
// skips, cat[up(h), e + 0.8 up(r)], as BaryNet's does. The authors' code
// has no such network; this is the composition the paper's Fig. 2 draws
// for a backbone with PromptIR's decoder.
//
// PromptIR{Net: Paper()} is BaryIR on PromptIR at the paper's sizes and
// PromptIR{Net: Paper().Restormer()} the authors' PromptIR. Its JSON form,
// with the prompts' defaults filled in, is what a checkpoint records.
type PromptIR struct {
	// Net sizes the Restormer part (Dim, Blocks, Heads, Refinement,
	// FFNFactor, BiasFree) and, with a map, the barycenter map
	// (BaryBlocks, Map) and the DropResidual ablation.
	Net Config
	// PromptLen is the number of prompts of each block (prompt_len); 0
	// means the authors' 5.
	PromptLen int
	// PromptDims and PromptSizes are the channels and the side of the
	// prompts of prompt1, prompt2 and prompt3 (decoder levels 1, 2, 3);
	// zero arrays mean the authors' 64, 128, 320 channels and 64, 32, 16
	// pixels.
	PromptDims, PromptSizes [3]int
}

// withDefaults is p with the authors' prompts where p leaves them zero:
// 5 prompts of 64, 128 and 320 channels, 64, 32 and 16 pixels wide, at
// levels 1, 2 and 3.
func (p PromptIR) withDefaults() PromptIR {
	if p.PromptLen == 0 {
		p.PromptLen = 5
	}
	if p.PromptDims == [3]int{} {
		p.PromptDims = [3]int{64, 128, 320}
	}
	if p.PromptSizes == [3]int{} {
		p.PromptSizes = [3]int{64, 32, 16}
	}
	return p
}

// String describes p for logs: "promptir dim 48 blocks [4 6 6 8]", with
// "+ BaryIR" when the map is attached.
func (p PromptIR) String() string {
	s := fmt.Sprintf("promptir dim %d blocks %v", p.Net.Dim, p.Net.Blocks)
	if p.Net.hasMap() {
		s += " + BaryIR"
	}
	return s
}

// validate reports the first inconsistency in p.
func (p PromptIR) validate() error {
	p = p.withDefaults()
	if err := p.Net.validate(); err != nil {
		return err
	}
	if p.PromptLen < 1 {
		return errorf("config: PromptIR needs at least one prompt, got prompt length %d", p.PromptLen)
	}
	for i := range 3 {
		if p.PromptDims[i] < 1 || p.PromptSizes[i] < 1 {
			return errorf("config: PromptIR prompt%d has %d channels of side %d; both must be positive",
				i+1, p.PromptDims[i], p.PromptSizes[i])
		}
	}
	widths := p.noiseWidths()
	for l := range 3 {
		if widths[l]%p.Net.Heads[2] != 0 {
			return errorf("config: PromptIR's noise_level%d has %d channels, not divisible by %d heads (heads[2])",
				3-l, widths[l], p.Net.Heads[2])
		}
	}
	return nil
}

// promptIn is the channels the prompt blocks read, by decoder step (levels
// 3, 2, 1): the latent (with BaryIR, [b, r]) and the decoder's levels.
func (p PromptIR) promptIn() [3]int {
	d := p.Net.Dim
	if p.Net.hasMap() {
		return [3]int{16 * d, 4 * d, 2 * d}
	}
	return [3]int{8 * d, 4 * d, 2 * d}
}

// noiseWidths is the channels of the noise_level blocks, by decoder step.
func (p PromptIR) noiseWidths() [3]int {
	in := p.promptIn()
	for l := range 3 {
		in[l] += p.PromptDims[2-l]
	}
	return in
}

// prompt is the configuration of the prompt block of decoder step l.
func (p PromptIR) prompt(l int) layers.PromptGenBlockConfig {
	return layers.PromptGenBlockConfig{Dim: p.PromptDims[2-l], Len: p.PromptLen, Size: p.PromptSizes[2-l],
		LinDim: p.promptIn()[l]}
}

// Build makes PromptIR, with BaryIR's map unless Net.Map is MapNone.
func (p PromptIR) Build(s *layers.Scope) (*Network, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, err
	}
	if !p.Net.hasMap() {
		return &Network{Scope: s, Backbone: newPromptIR(s, p)}, nil
	}
	bb, m := newBaryNetWith(s, p.Net, &p)
	return &Network{Scope: s, Backbone: bb, Map: m, DropResidual: p.Net.DropResidual}, nil
}

// parameters counts p's learnable values without building it.
func (p PromptIR) parameters() float64 {
	p = p.withDefaults()
	k := counter{p.Net}
	d, b, h := p.Net.Dim, p.Net.Blocks, p.Net.Heads
	n := 0.0
	in, widths, out := p.promptIn(), p.noiseWidths(), [3]int{4 * d, 4 * d, 2 * d}
	for l := range 3 {
		c := p.prompt(l)
		n += float64(c.Len*c.Dim*c.Size*c.Size) + float64(c.LinDim*c.Len+c.Len) + k.conv(c.Dim, c.Dim, 3, 1)
		n += k.block(widths[l], h[2]) + k.conv(widths[l], out[l], 1, 1)
		if p.Net.hasMap() { // BaryNet's noise blocks and reductions, without the prompts' channels
			n -= k.block(in[l], h[2]) + k.conv(in[l], out[l], 1, 1)
		}
	}
	if p.Net.hasMap() {
		return n + p.Net.parameters()
	}
	return n + k.encoder() + k.up(4*d) + k.conv(6*d, 4*d, 1, 1) + k.stack(b[2], 4*d, h[2]) +
		k.up(4*d) + k.conv(4*d, 2*d, 1, 1) + k.stack(b[1], 2*d, h[1]) +
		k.up(2*d) + k.stack(b[0], 2*d, h[0])
}

// newPromptIR makes the authors' PromptIR (decoder=True): the Restormer's
// type with the prompt blocks, noise_level blocks and reductions, and
// PromptIR's decoder widths.
func newPromptIR(s *layers.Scope, p PromptIR) *restormer {
	c, d, h := p.Net, p.Net.Dim, p.Net.Heads
	n := &restormer{encoder: newEncoder(s, c)}
	widths := p.noiseWidths()
	out := [3]int{4 * d, 4 * d, 2 * d}     // after reduce_noise_level*
	decoded := [3]int{4 * d, 2 * d, 2 * d} // decoder_level* channels
	chanIn := [2]int{6 * d, 4 * d}         // reduce_chan_level* inputs: cat[up, skip]
	decHeads := [3]int{h[2], h[1], h[0]}   // decoder_level* heads
	decBlocks := [3]int{c.Blocks[2], c.Blocks[1], c.Blocks[0]}
	for l := range 3 {
		level := 3 - l
		n.prompts[l] = layers.NewPromptGenBlock(s.Subf("prompt%d", level), p.prompt(l))
		n.ups[l] = layers.NewUpsample(s.Subf("up%d_%d", level+1, level), out[l])
		if l < 2 {
			n.reduce[l] = conv1x1(s.Subf("reduce_chan_level%d", level), chanIn[l], decoded[l])
		}
		n.noise[l] = layers.NewTransformerBlock(s.Subf("noise_level%d", level), c.block(widths[l], h[2]))
		n.reduceNoise[l] = conv1x1(s.Subf("reduce_noise_level%d", level), widths[l], out[l])
		n.decoders[l] = c.stack(s.Subf("decoder_level%d", level), decBlocks[l], decoded[l], decHeads[l])
	}
	n.refine = c.stack(s.Sub("refinement"), c.Refinement, 2*d, h[0])
	n.outputLay = outputConv(s, c)
	return n
}

// withPrompt is cat[h, p(h)]: h with the prompt block p's prompt for it;
// h itself when p is nil.
func withPrompt(b *layers.Builder, p *layers.PromptGenBlock, h *G.Node) *G.Node {
	if p == nil || b.Err() != nil {
		return h
	}
	prompt := b.Do(p.Forward, h)
	return b.N(layers.Concat(h, prompt))
}
