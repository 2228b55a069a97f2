package baryir

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// modules lists the top-level state_dict modules of each family (PromptIR
// adds promptModules), so that a checkpoint of another network (Restormer's
// dual-pixel skip_conv) is refused instead of half-read.
var modules = map[string][]string{
	"restormer": {"patch_embed", "encoder_level1", "down1_2", "encoder_level2", "down2_3", "encoder_level3",
		"down3_4", "latent", "up4_3", "reduce_chan_level3", "decoder_level3", "up3_2", "reduce_chan_level2",
		"decoder_level2", "up2_1", "decoder_level1", "refinement", "output"},
	"barynet": {"patch_embed", "chnl_reduce1", "chnl_reduce2", "chnl_reduce3", "reduce_noise_channel_1",
		"reduce_noise_channel_2", "reduce_noise_channel_3", "encoder_level1", "down1_2", "encoder_level2",
		"down2_3", "encoder_level3", "down3_4", "latent", "barylatent", "LN", "up4_3", "reduce_chan_level3",
		"noise_level3", "reduce_noise_level3", "decoder_level3", "resup4_3", "resreduce_chan_level3",
		"resreduce_noise_level3", "resdecoder_level3", "up3_2", "reduce_chan_level2", "noise_level2",
		"reduce_noise_level2", "decoder_level2", "resup3_2", "resreduce_chan_level2", "resreduce_noise_level2",
		"resdecoder_level2", "up2_1", "resup2_1", "noise_level1", "reduce_noise_level1",
		"resreduce_noise_level1", "decoder_level1", "refinement", "output"},
}

// inferConfig reads a network's Config from the names and shapes of its
// state_dict (PyTorch naming, without a "module." prefix), so that a
// checkpoint can be loaded without being told its sizes. It checks only what
// it needs to infer a consistent Config, and that the tensors hold at least
// the Config's parameter count (so that a few small tensors claiming a huge
// dim are refused before a network is built); matching every tensor against
// the built network is left to the loader.
func inferConfig(shapes map[string][]int) (Config, error) {
	c, err := inferNet(shapes, false)
	if err != nil {
		return c, err
	}
	return c, checkElements(c, c.parameters(), shapes)
}

// inferArchitecture is inferConfig for any family: PromptIR (with or
// without BaryIR) when the state_dict holds prompt blocks, else a Config.
func inferArchitecture(shapes map[string][]int) (Architecture, error) {
	for _, p := range []string{"prompt1.", "prompt2.", "prompt3."} {
		if hasPrefix(shapes, p) {
			return inferPromptIR(shapes)
		}
	}
	return inferConfig(shapes)
}

// promptModules are the modules PromptIR adds to a Restormer's or BaryNet's
// state_dict (the authors' unused six tensors included).
var promptModules = []string{"prompt1", "prompt2", "prompt3", "noise_level3", "reduce_noise_level3", "noise_level2",
	"reduce_noise_level2", "noise_level1", "reduce_noise_level1", "chnl_reduce1", "chnl_reduce2", "chnl_reduce3",
	"reduce_noise_channel_1", "reduce_noise_channel_2", "reduce_noise_channel_3"}

// inferPromptIR reads a PromptIR's sizes from its state_dict: the network's
// as inferConfig reads them, and the prompts' from each block's
// prompt_param (1, len, dim, size, size).
func inferPromptIR(shapes map[string][]int) (PromptIR, error) {
	var p PromptIR
	c, err := inferNet(shapes, true)
	if err != nil {
		return p, err
	}
	p.Net = c
	for i := range 3 {
		name := fmt.Sprintf("prompt%d.prompt_param", i+1)
		s, ok := shapes[name]
		if !ok {
			return p, errorf("infer: no %s", name)
		}
		if len(s) != 5 || s[0] != 1 || s[1] <= 0 || s[2] <= 0 || s[3] <= 0 || s[3] != s[4] {
			return p, errorf("infer: %s has shape %v, want (1, len, dim, size, size)", name, s)
		}
		if i > 0 && s[1] != p.PromptLen {
			return p, errorf("infer: %s has %d prompts but prompt1 has %d; one prompt length is supported", name, s[1], p.PromptLen)
		}
		p.PromptLen, p.PromptDims[i], p.PromptSizes[i] = s[1], s[2], s[3]
	}
	if err := p.validate(); err != nil {
		return p, errorf("infer: inferred an invalid PromptIR: %w", err)
	}
	return p, checkElements(p, p.parameters(), shapes)
}

// inferNet reads the Config of a Restormer, BaryNet or (prompts) PromptIR
// state_dict, without checking its element count.
func inferNet(shapes map[string][]int, prompts bool) (Config, error) {
	var c Config
	if len(shapes) == 0 {
		return c, errorf("infer: empty state_dict")
	}
	if !hasPrefix(shapes, "barylatent.") && !hasPrefix(shapes, "LN.") {
		c.Map = MapNone
	}
	if err := checkModules(shapes, c.family(), prompts); err != nil {
		return c, err
	}

	pe, ok := shapes["patch_embed.proj.weight"]
	if !ok {
		return c, errorf("infer: no patch_embed.proj.weight")
	}
	if len(pe) != 4 || pe[0] <= 0 {
		return c, errorf("infer: patch_embed.proj.weight has shape %v, want (dim, in, 3, 3)", pe)
	}
	c.Dim = pe[0]

	_, withBias := shapes["encoder_level1.0.norm1.body.bias"]
	if _, ok := shapes["encoder_level1.0.norm1.body.weight"]; !ok {
		return c, errorf("infer: no encoder_level1.0.norm1.body.weight")
	}
	c.BiasFree = !withBias

	var err error
	for l, m := range []string{"encoder_level1", "encoder_level2", "encoder_level3", "latent"} {
		if c.Blocks[l], err = countBlocks(shapes, m); err != nil {
			return c, err
		}
		if c.Blocks[l] == 0 {
			return c, errorf("infer: no %s blocks", m)
		}
		if c.Heads[l], err = heads(shapes, m+".0"); err != nil {
			return c, err
		}
	}
	if c.Refinement, err = countBlocks(shapes, "refinement"); err != nil {
		return c, err
	}
	if c.hasMap() {
		if c.BaryBlocks, err = countBlocks(shapes, "barylatent"); err != nil {
			return c, err
		}
		c.Map = inferMap(shapes)
	}

	// Every decoder stack repeats its encoder level's count and heads.
	type stack struct {
		module string
		level  int
	}
	stacks := []stack{{"decoder_level3", 2}, {"decoder_level2", 1}, {"decoder_level1", 0}}
	if c.hasMap() {
		stacks = append(stacks, stack{"resdecoder_level3", 2}, stack{"resdecoder_level2", 1})
	}
	for _, s := range stacks {
		n, err := countBlocks(shapes, s.module)
		if err != nil {
			return c, err
		}
		if n != c.Blocks[s.level] {
			return c, errorf("infer: %s has %d blocks but encoder level %d has %d; one count per level is supported",
				s.module, n, s.level+1, c.Blocks[s.level])
		}
		h, err := heads(shapes, s.module+".0")
		if err != nil {
			return c, err
		}
		if h != c.Heads[s.level] {
			return c, errorf("infer: %s has %d heads but encoder level %d has %d", s.module, h, s.level+1, c.Heads[s.level])
		}
	}

	// BaryNet's and PromptIR's single blocks: the authors give every
	// noise_level block heads[2] and the barycenter map heads[3].
	if c.hasMap() || prompts {
		for _, b := range []struct {
			block string
			level int
		}{{"noise_level3", 2}, {"noise_level2", 2}, {"noise_level1", 2}, {"barylatent.0", 3}} {
			if b.level == 3 && (c.BaryBlocks == 0 || c.Map != MapTransformer) {
				continue // validate reports a missing map; only the transformer's heads are in its weights
			}
			h, err := heads(shapes, b.block)
			if err != nil {
				return c, err
			}
			if h != c.Heads[b.level] {
				return c, errorf("infer: %s has %d heads, want heads[%d] = %d", b.block, h, b.level, c.Heads[b.level])
			}
		}
	}

	if c.FFNFactor, err = ffnFactor(shapes); err != nil {
		return c, err
	}
	if err := c.validate(); err != nil {
		return c, errorf("infer: inferred an invalid config: %w", err)
	}
	return c, nil
}

// inferMap tells the barycenter map's architecture by the names of its
// first unit's parameters (see BarycenterMap).
func inferMap(shapes map[string][]int) MapArch {
	switch {
	case hasPrefix(shapes, "barylatent.0.fc1."):
		return MapMLP
	case hasPrefix(shapes, "barylatent.0.conv1."):
		return MapUNet
	case hasPrefix(shapes, "barylatent.0.mlp."):
		return MapViT
	}
	return MapTransformer
}

func hasPrefix(shapes map[string][]int, p string) bool {
	for k := range shapes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// checkModules refuses names outside the family's modules (with PromptIR's
// when prompts).
func checkModules(shapes map[string][]int, family string, prompts bool) error {
	known := map[string]bool{}
	for _, m := range modules[family] {
		known[m] = true
	}
	if prompts {
		for _, m := range promptModules {
			known[m] = true
		}
	}
	var odd []string
	seen := map[string]bool{}
	for k := range shapes {
		m, _, _ := strings.Cut(k, ".")
		if !known[m] && !seen[m] {
			seen[m] = true
			odd = append(odd, m)
		}
	}
	if len(odd) > 0 {
		sort.Strings(odd)
		hint := ""
		if strings.HasPrefix(k0(shapes), "module.") {
			hint = " (strip the DataParallel \"module.\" prefix first)"
		}
		if prompts {
			family = "PromptIR"
		}
		return errorf("infer: modules %q are not part of a %s state_dict%s", odd, family, hint)
	}
	return nil
}

// k0 is the smallest name, for hints.
func k0(shapes map[string][]int) string {
	first := ""
	for k := range shapes {
		if first == "" || k < first {
			first = k
		}
	}
	return first
}

// countBlocks counts the blocks module.0, module.1, ... of a Sequential and
// checks the indices run from 0 without gaps.
func countBlocks(shapes map[string][]int, module string) (int, error) {
	idx := map[int]bool{}
	p := module + "."
	for k := range shapes {
		rest, ok := strings.CutPrefix(k, p)
		if !ok {
			continue
		}
		s, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 {
			return 0, errorf("infer: %q: %q is not a block index", k, s)
		}
		idx[i] = true
	}
	for i := range len(idx) {
		if !idx[i] {
			return 0, errorf("infer: %s has blocks up to %d but no block %d", module, len(idx), i)
		}
	}
	return len(idx), nil
}

// heads reads a block's head count from its attention temperature (heads, 1, 1).
func heads(shapes map[string][]int, block string) (int, error) {
	name := block + ".attn.temperature"
	t, ok := shapes[name]
	if !ok {
		return 0, errorf("infer: no %s", name)
	}
	if len(t) != 3 || t[0] <= 0 || t[1] != 1 || t[2] != 1 {
		return 0, errorf("infer: %s has shape %v, want (heads, 1, 1)", name, t)
	}
	return t[0], nil
}

// ffnFactor finds the GDFN expansion f with int(C*f) = hidden at every block:
// the usual 2.66 when it fits, else the shortest decimal that fits them all.
func ffnFactor(shapes map[string][]int) (float64, error) {
	type width struct{ ch, hidden int }
	var ws []width
	lo, hi := 0.0, math.Inf(1) // f lies in [max h/C, min (h+1)/C)
	for k, s := range shapes {
		if !strings.HasSuffix(k, ".ffn.project_in.weight") {
			continue
		}
		if len(s) != 4 || s[0]%2 != 0 || s[0] == 0 || s[1] <= 0 || s[2] != 1 || s[3] != 1 {
			return 0, errorf("infer: %s has shape %v, want (2*hidden, C, 1, 1)", k, s)
		}
		w := width{s[1], s[0] / 2}
		ws = append(ws, w)
		lo = max(lo, float64(w.hidden)/float64(w.ch))
		hi = min(hi, float64(w.hidden+1)/float64(w.ch))
	}
	if len(ws) == 0 {
		return 0, errorf("infer: no ffn.project_in.weight")
	}
	fits := func(f float64) bool {
		for _, w := range ws {
			if int(float64(w.ch)*f) != w.hidden {
				return false
			}
		}
		return true
	}
	if fits(2.66) {
		return 2.66, nil
	}
	for d := 0; d <= 8 && lo < hi; d++ {
		p := math.Pow(10, float64(d))
		for _, f := range []float64{math.Ceil(lo*p) / p, math.Ceil(lo*p+1) / p} {
			if f < hi && fits(f) {
				return f, nil
			}
		}
	}
	desc := make([]string, len(ws))
	for i, w := range ws {
		desc[i] = fmt.Sprintf("%d->%d", w.ch, w.hidden)
	}
	sort.Strings(desc)
	return 0, errorf("infer: no FFN factor gives every hidden width (channels->hidden: %s)", strings.Join(desc, ", "))
}

// checkElements refuses a config whose need parameters could not all be in
// the tensors given: building its network would allocate what the file
// never held.
func checkElements(arch fmt.Stringer, need float64, shapes map[string][]int) error {
	present := 0.0
	for _, s := range shapes {
		n := 1.0
		for _, d := range s {
			n *= float64(max(d, 0))
		}
		present += n
	}
	if need > present {
		return errorf("infer: the inferred %s has %.0f parameters, but the tensors hold only %.0f values",
			arch, need, present)
	}
	return nil
}
