"""PyTorch reference models for baryir's parity tests: the authors' BaryNet
(decoder=True), the official Restormer and the authors' potential network.

Import from a fixture generator with

    import os, sys
    sys.path.insert(0, os.path.join(REPO, "testdata", "torchref"))
    import barynet
    net = barynet.BaryNet(dim=8, num_blocks=(1, 1, 1, 1), heads=(1, 2, 4, 8),
                          num_refinement_blocks=1, bary_blocks=1)
    out, s, b, r = net(x)            # x: (B, 3, H, W), H and W multiples of 8
    ref = barynet.Restormer(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1)
    out = ref(x)
    pots = barynet.Potentials(num_potentials=3, channels=8 * 8, size=64)
    f = pots(b[0], k)                # one sample (C, H/8, W/8) -> (1, 1)

or build from the names of baryir.Config with barynet.build(...) / paper() /
authors() / tiny().

Written from the paper (Sec. 4) and checked by reading (not copying) against
  xl-tang3/BaryIR    af5cb9ac57d142874f08f267523f122fd927b86d  model_bary.py
                     (classes BaryNet, Potentials; trainer_bary.py for their use)
  swz30/Restormer    df766d5521afd21cce56e24159f300b30ebf3fb0
                     basicsr/models/archs/restormer_arch.py
The state_dict names and their order are the authors' (BaryNet) and the
official ones (Restormer); check_upstream.py verifies names, order, shapes and
outputs (float64, exactly equal) against those files. einops is replaced by reshape/permute, which orders
elements the same way.

Findings against the paper's Sec. 4.2 (all checked in model_bary.py):
  * The forward of Sec. 4.2 matches the authors' code line for line:
    s = LN(latent(down3_4(e3))); b = LN(barylatent(s)) with the SAME LN module
    (`LN.body.*`, one set of weights); r = s - b; the three 0.8 factors sit
    on the residual branch added to the encoder skip (e_l + 0.8 * ru_l) at
    levels 3, 2 and 1; decoder_level3/resdecoder_level3 have num_blocks[2]
    blocks (heads[2]), decoder_level2/resdecoder_level2 num_blocks[1]
    (heads[1]), decoder_level1 and refinement num_blocks[0] / refinement
    blocks at 2*dim with heads[0]; output = Conv3x3(2d->3) + input.
  * Names the paper leaves out: the level-2 "TB(2d, heads[2])" and its convs are
    `noise_level1`, `reduce_noise_level1`, `resreduce_noise_level1`; the
    level-3 ones are `noise_level2`, `reduce_noise_level2`,
    `resreduce_noise_level2`; ResDec3/ResDec2 are `resdecoder_level3/2`,
    their input convs `resreduce_chan_level3/2`; the barycenter map is
    `barylatent` (no underscore) and the shared norm `LN`.
  * All three `noise_level*` blocks use heads[2] whatever their width, so
    16*dim, 4*dim and 2*dim must all be divisible by heads[2]
    (the Go Config's validation only checks the encoder levels).
  * The barycenter map `barylatent` has num_blocks[3] blocks with heads[3]
    in the authors' code (the paper says 2); here `bary_blocks` (default
    num_blocks[3]).
  * Hard-coded widths at dim 48 that this module writes in terms of d:
    reduce_chan_level3 in = 2d+192 (= 6d), noise_level3 / reduce_noise_level3
    width 4d+576 (= 16d), resreduce_noise_level3 in = 4d+192 (= 8d). At any
    other dim the authors' module cannot run its forward; ours can. The six
    unused tensors keep the authors' shapes exactly: chnl_reduce1 (64,64,1,1),
    chnl_reduce2 (128,128,1,1), chnl_reduce3 (256,320,1,1),
    reduce_noise_channel_1 (d, d+64,1,1), _2 (2d, 2d+128,1,1),
    _3 (4d, 4d+256,1,1): the last three depend on dim.
  * The authors' BaryNet also takes `decoder`; with decoder=False its forward
    fails (undefined `latent`), so only decoder=True exists here.
  * The authors' trainer saves {"epoch", "BaryIR": module, "Pots": module}
    (whole pickled modules, key "BaryIR", not "model"); their `--pretrained`
    path reads keys "model" and "discr".
  * Potentials: ModuleList `potentials`, each Sequential
    0 Conv2d(C, C, 4, stride 4, pad 1, groups 4, no bias), 1 LeakyReLU(0.2),
    2 Flatten, 3 Linear(F, F//4), 4 Linear(F//4, 64), 5 LeakyReLU(0.2),
    6 Linear(64, 1), with F = C * s * s, s = (size//8 + 2 - 4)//4 + 1;
    conv weights N(0, 0.02), Linear layers keep PyTorch's default init (with
    biases). Its forward takes ONE sample (C, h, w) and unsqueezes it, and
    the trainer calls it per sample; int(F/4) in the authors' code equals
    F//4 for the sizes used.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["BaryNet", "Restormer", "Potentials", "build", "paper", "authors", "tiny"]


class BiasFree_LayerNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        var = x.var(-1, keepdim=True, unbiased=False)
        return x / torch.sqrt(var + 1e-5) * self.weight


class WithBias_LayerNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.weight + self.bias


class LayerNorm(nn.Module):
    """Per-pixel LayerNorm over channels of a (B, C, H, W) map."""

    def __init__(self, dim, LayerNorm_type="WithBias"):
        super().__init__()
        self.body = BiasFree_LayerNorm(dim) if LayerNorm_type == "BiasFree" else WithBias_LayerNorm(dim)

    def forward(self, x):
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FeedForward(nn.Module):
    """GDFN: 1x1 to 2h, depthwise 3x3, GELU gate, 1x1 back."""

    def __init__(self, dim, ffn_expansion_factor, bias=False):
        super().__init__()
        h = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, h * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(h * 2, h * 2, 3, 1, 1, groups=h * 2, bias=bias)
        self.project_out = nn.Conv2d(h, dim, 1, bias=bias)

    def forward(self, x):
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class Attention(nn.Module):
    """MDTA: transposed (channel) attention per head."""

    def __init__(self, dim, num_heads, bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, 1, 1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        q = q.reshape(b, self.num_heads, c // self.num_heads, h * w)
        k = k.reshape(b, self.num_heads, c // self.num_heads, h * w)
        v = v.reshape(b, self.num_heads, c // self.num_heads, h * w)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        return self.project_out((attn @ v).reshape(b, c, h, w))


class TransformerBlock(nn.Module):
    def __init__(self, dim, num_heads, ffn_expansion_factor, bias=False, LayerNorm_type="WithBias"):
        super().__init__()
        self.norm1 = LayerNorm(dim, LayerNorm_type)
        self.attn = Attention(dim, num_heads, bias)
        self.norm2 = LayerNorm(dim, LayerNorm_type)
        self.ffn = FeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class OverlapPatchEmbed(nn.Module):
    def __init__(self, in_c=3, embed_dim=48, bias=False):
        super().__init__()
        self.proj = nn.Conv2d(in_c, embed_dim, 3, 1, 1, bias=bias)

    def forward(self, x):
        return self.proj(x)


class Downsample(nn.Module):
    """Conv3x3(C -> C/2), PixelUnshuffle(2): (C, H, W) -> (2C, H/2, W/2)."""

    def __init__(self, n_feat):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n_feat, n_feat // 2, 3, 1, 1, bias=False), nn.PixelUnshuffle(2))

    def forward(self, x):
        return self.body(x)


class Upsample(nn.Module):
    """Conv3x3(C -> 2C), PixelShuffle(2): (C, H, W) -> (C/2, 2H, 2W)."""

    def __init__(self, n_feat):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n_feat, n_feat * 2, 3, 1, 1, bias=False), nn.PixelShuffle(2))

    def forward(self, x):
        return self.body(x)


def _blocks(n, dim, heads, ffn, bias, ln):
    return nn.Sequential(*[TransformerBlock(dim, heads, ffn, bias, ln) for _ in range(n)])


class Restormer(nn.Module):
    """The official Restormer (dual_pixel_task=False). forward(x) -> out."""

    def __init__(self, dim=48, num_blocks=(4, 6, 6, 8), heads=(1, 2, 4, 8), num_refinement_blocks=4,
                 ffn_expansion_factor=2.66, LayerNorm_type="WithBias", inp_channels=3, out_channels=3,
                 bias=False):
        super().__init__()
        d, nb, hd, f, ln = dim, num_blocks, heads, ffn_expansion_factor, LayerNorm_type
        self.patch_embed = OverlapPatchEmbed(inp_channels, d)
        self.encoder_level1 = _blocks(nb[0], d, hd[0], f, bias, ln)
        self.down1_2 = Downsample(d)
        self.encoder_level2 = _blocks(nb[1], 2 * d, hd[1], f, bias, ln)
        self.down2_3 = Downsample(2 * d)
        self.encoder_level3 = _blocks(nb[2], 4 * d, hd[2], f, bias, ln)
        self.down3_4 = Downsample(4 * d)
        self.latent = _blocks(nb[3], 8 * d, hd[3], f, bias, ln)
        self.up4_3 = Upsample(8 * d)
        self.reduce_chan_level3 = nn.Conv2d(8 * d, 4 * d, 1, bias=bias)
        self.decoder_level3 = _blocks(nb[2], 4 * d, hd[2], f, bias, ln)
        self.up3_2 = Upsample(4 * d)
        self.reduce_chan_level2 = nn.Conv2d(4 * d, 2 * d, 1, bias=bias)
        self.decoder_level2 = _blocks(nb[1], 2 * d, hd[1], f, bias, ln)
        self.up2_1 = Upsample(2 * d)
        self.decoder_level1 = _blocks(nb[0], 2 * d, hd[0], f, bias, ln)
        self.refinement = _blocks(num_refinement_blocks, 2 * d, hd[0], f, bias, ln)
        self.output = nn.Conv2d(2 * d, out_channels, 3, 1, 1, bias=bias)

    def forward(self, x):
        e1 = self.encoder_level1(self.patch_embed(x))
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        lat = self.latent(self.down3_4(e3))
        d3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(lat), e3], 1)))
        d2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(d3), e2], 1)))
        d1 = self.decoder_level1(torch.cat([self.up2_1(d2), e1], 1))
        return self.output(self.refinement(d1)) + x


class BaryNet(nn.Module):
    """The authors' BaryNet with decoder=True, widths written in terms of dim.

    forward(x) -> (out, s, b, r): restored image, source latent, barycenter
    latent and residual s - b (all latents (B, 8*dim, H/8, W/8)).
    """

    def __init__(self, dim=48, num_blocks=(4, 6, 6, 8), heads=(1, 2, 4, 8), num_refinement_blocks=4,
                 bary_blocks=None, ffn_expansion_factor=2.66, LayerNorm_type="WithBias", inp_channels=3,
                 out_channels=3, bias=False):
        super().__init__()
        d, nb, hd, f, ln = dim, num_blocks, heads, ffn_expansion_factor, LayerNorm_type
        if bary_blocks is None:
            bary_blocks = nb[3]
        # Registration order follows the authors' __init__ so that the
        # state_dict lists names in their order.
        self.patch_embed = OverlapPatchEmbed(inp_channels, d)
        # Unused by forward; kept because the authors' checkpoints hold them.
        self.chnl_reduce1 = nn.Conv2d(64, 64, 1, bias=bias)
        self.chnl_reduce2 = nn.Conv2d(128, 128, 1, bias=bias)
        self.chnl_reduce3 = nn.Conv2d(320, 256, 1, bias=bias)
        self.reduce_noise_channel_1 = nn.Conv2d(d + 64, d, 1, bias=bias)
        self.encoder_level1 = _blocks(nb[0], d, hd[0], f, bias, ln)
        self.down1_2 = Downsample(d)
        self.reduce_noise_channel_2 = nn.Conv2d(2 * d + 128, 2 * d, 1, bias=bias)
        self.encoder_level2 = _blocks(nb[1], 2 * d, hd[1], f, bias, ln)
        self.down2_3 = Downsample(2 * d)
        self.reduce_noise_channel_3 = nn.Conv2d(4 * d + 256, 4 * d, 1, bias=bias)
        self.encoder_level3 = _blocks(nb[2], 4 * d, hd[2], f, bias, ln)
        self.down3_4 = Downsample(4 * d)
        self.latent = _blocks(nb[3], 8 * d, hd[3], f, bias, ln)
        self.barylatent = _blocks(bary_blocks, 8 * d, hd[3], f, bias, ln)
        self.LN = LayerNorm(8 * d, ln)

        self.up4_3 = Upsample(4 * d)
        self.reduce_chan_level3 = nn.Conv2d(6 * d, 4 * d, 1, bias=bias)
        self.noise_level3 = TransformerBlock(16 * d, hd[2], f, bias, ln)
        self.reduce_noise_level3 = nn.Conv2d(16 * d, 4 * d, 1, bias=bias)
        self.decoder_level3 = _blocks(nb[2], 4 * d, hd[2], f, bias, ln)

        self.resup4_3 = Upsample(8 * d)
        self.resreduce_chan_level3 = nn.Conv2d(4 * d, 4 * d, 1, bias=bias)
        self.resreduce_noise_level3 = nn.Conv2d(8 * d, 8 * d, 1, bias=bias)
        self.resdecoder_level3 = _blocks(nb[2], 4 * d, hd[2], f, bias, ln)

        self.up3_2 = Upsample(4 * d)
        self.reduce_chan_level2 = nn.Conv2d(4 * d, 2 * d, 1, bias=bias)
        self.noise_level2 = TransformerBlock(4 * d, hd[2], f, bias, ln)
        self.reduce_noise_level2 = nn.Conv2d(4 * d, 4 * d, 1, bias=bias)
        self.decoder_level2 = _blocks(nb[1], 2 * d, hd[1], f, bias, ln)

        self.resup3_2 = Upsample(4 * d)
        self.resreduce_chan_level2 = nn.Conv2d(2 * d, 2 * d, 1, bias=bias)
        self.resreduce_noise_level2 = nn.Conv2d(4 * d, 4 * d, 1, bias=bias)
        self.resdecoder_level2 = _blocks(nb[1], 2 * d, hd[1], f, bias, ln)

        self.up2_1 = Upsample(2 * d)
        self.resup2_1 = Upsample(2 * d)
        self.noise_level1 = TransformerBlock(2 * d, hd[2], f, bias, ln)
        self.reduce_noise_level1 = nn.Conv2d(2 * d, 2 * d, 1, bias=bias)
        self.resreduce_noise_level1 = nn.Conv2d(2 * d, 2 * d, 1, bias=bias)

        self.decoder_level1 = _blocks(nb[0], 2 * d, hd[0], f, bias, ln)
        self.refinement = _blocks(num_refinement_blocks, 2 * d, hd[0], f, bias, ln)
        self.output = nn.Conv2d(2 * d, out_channels, 3, 1, 1, bias=bias)

    def forward(self, x):
        e1 = self.encoder_level1(self.patch_embed(x))
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        s = self.LN(self.latent(self.down3_4(e3)))
        b = self.LN(self.barylatent(s))
        r = s - b

        # Level 3: barycenter + residual drive the main branch; the residual
        # alone drives the residual branch, added to the skip at 0.8.
        lat = self.reduce_noise_level3(self.noise_level3(torch.cat([b, r], 1)))
        rlat = self.resreduce_noise_level3(r)
        u3, ru3 = self.up4_3(lat), self.resup4_3(rlat)
        d3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([u3, e3 + 0.8 * ru3], 1)))
        rd3 = self.resdecoder_level3(self.resreduce_chan_level3(ru3))
        d3 = self.reduce_noise_level2(self.noise_level2(d3))
        rd3 = self.resreduce_noise_level2(rd3)

        # Level 2.
        u2, ru2 = self.up3_2(d3), self.resup3_2(rd3)
        d2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([u2, e2 + 0.8 * ru2], 1)))
        rd2 = self.resdecoder_level2(self.resreduce_chan_level2(ru2))
        d2 = self.reduce_noise_level1(self.noise_level1(d2))
        rd2 = self.resreduce_noise_level1(rd2)

        # Level 1: no channel reduction, 2*dim channels to the output.
        d1 = self.decoder_level1(torch.cat([self.up2_1(d2), e1 + 0.8 * self.resup2_1(rd2)], 1))
        out = self.output(self.refinement(d1)) + x
        return out, s, b, r


class Potentials(nn.Module):
    """The authors' per-source potentials f_k on barycenter latents.

    forward(z, idx): z is ONE latent (C, size/8, size/8); returns f_idx(z) of
    shape (1, 1), or the list over all potentials when idx is None.
    """

    def __init__(self, num_potentials, channels=384, size=128):
        super().__init__()
        self.num_potentials = num_potentials
        s = (size // 8 + 2 * 1 - 4) // 4 + 1
        self.num_features = channels * s * s
        self.potentials = nn.ModuleList([self._build(channels, self.num_features) for _ in range(num_potentials)])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.data.normal_(0.0, 0.02)

    @staticmethod
    def _build(c, nf):
        return nn.Sequential(
            nn.Conv2d(c, c, kernel_size=4, stride=4, groups=4, padding=1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(nf, int(nf / 4)),
            nn.Linear(int(nf / 4), 64),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(64, 1),
        )

    def forward(self, z, idx=None):
        z = z.unsqueeze(0)
        if idx is not None:
            return self.potentials[idx](z)
        return [p(z) for p in self.potentials]


def build(arch="barynet", dim=48, blocks=(4, 6, 6, 8), heads=(1, 2, 4, 8), refinement=4, bary_blocks=2,
          ffn_factor=2.66, bias_free=False):
    """Builds a network from the fields of baryir.Config (Arch, Dim, Blocks,
    Heads, Refinement, BaryBlocks, FFNFactor, BiasFree)."""
    ln = "BiasFree" if bias_free else "WithBias"
    if arch == "restormer":
        return Restormer(dim, tuple(blocks), tuple(heads), refinement, ffn_factor, ln)
    if arch == "barynet":
        return BaryNet(dim, tuple(blocks), tuple(heads), refinement, bary_blocks, ffn_factor, ln)
    raise ValueError("unknown arch %r" % (arch,))


def paper():
    """Config Paper: Restormer sizes, a two-block barycenter map."""
    return build("barynet", 48, (4, 6, 6, 8), (1, 2, 4, 8), 4, 2)


def authors():
    """Config Authors: the barycenter map has blocks[3] = 8 blocks."""
    return build("barynet", 48, (4, 6, 6, 8), (1, 2, 4, 8), 4, 8)


def tiny():
    """Config Tiny: dim 8, one block per level, one refinement block."""
    return build("barynet", 8, (1, 1, 1, 1), (1, 2, 4, 8), 1, 1)
