"""Writes the PromptIR parity fixtures of baryir's promptir tests.

    /usr/bin/python3 testdata/gen_promptir.py

testdata/promptir.safetensors: a small PromptIR (decoder=True) and BaryIR on
PromptIR, at dim 2, blocks 1,1,1,1, one refinement block, 3 prompts of 4, 4
and 8 channels, 8, 6 and 4 pixels wide: their weights (perturbed from the
initial values), a 24x40 input, the outputs (and latents s, b, r), a
projection of each output and the gradients of sum(output * proj) with
respect to every parameter. Its metadata holds the parameter counts of both
networks at dim 48 with the authors' prompts.

testdata/promptir_tiny.ckpt: the same PromptIR's weights in the layout of
PromptIR's released checkpoints, a PyTorch Lightning checkpoint (torch.save
of a dict): "state_dict" with every name prefixed "net." beside
"hyper_parameters" (an AttributeDict holding an argparse.Namespace),
"optimizer_states" (an AdamW state dict after one step), "lr_schedulers",
"epoch", "global_step", "pytorch-lightning_version", "loops" and
"callbacks" (nested dicts holding tensors). pytorch_lightning is not needed:
the dict is built by hand, with Lightning's AttributeDict under its module
path. Two refused variants: promptir_nostate.ckpt (no "state_dict") and
promptir_noprefix.ckpt (names without "net.").

PromptGenBlock and PromptIR below are written from reading the authors'
classes (xl-tang3/BaryIR af5cb9a model_bary.py; va1shn9v/PromptIR
net/model.py, the same classes), widths in terms of dim: the authors' 4d+512,
2d+224 and 2d+192 are 8d+P3, 4d+P2 and 6d at dim 48 with their prompt dims.
BaryPromptIR is BaryIR on PromptIR as baryir.PromptIR documents it (the
authors' code has no such network): BaryNet's decoder with PromptIR's
prompts concatenated before each noise_level block.
"""
import argparse
import collections
import os
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "testdata", "torchref"))
import barynet as ref  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "testdata"))
from gen_network import write_safetensors  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(7)


class PromptGenBlock(nn.Module):
    def __init__(self, prompt_dim, prompt_len, prompt_size, lin_dim):
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size))
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, 3, 1, 1, bias=False)

    def forward(self, x):
        b, _, h, w = x.shape
        weights = F.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)
        prompt = (weights[:, :, None, None, None] * self.prompt_param).sum(dim=1)
        prompt = F.interpolate(prompt, (h, w), mode="bilinear")
        return self.conv3x3(prompt)


def unused(module, d, prompt_dims, authors_sizes):
    """The six tensors the authors' module holds and never uses. At the
    authors' sizes (64, 128, 320 prompts) they are as theirs; the small
    fixtures scale them with the prompt dims to stay small."""
    p1, p2, p3 = (64, 128, 320) if authors_sizes else prompt_dims
    module.chnl_reduce1 = nn.Conv2d(p1, p1, 1, bias=False)
    module.chnl_reduce2 = nn.Conv2d(p2, p2, 1, bias=False)
    module.chnl_reduce3 = nn.Conv2d(p3, 256 if authors_sizes else p3, 1, bias=False)
    module.reduce_noise_channel_1 = nn.Conv2d(d + p1, d, 1, bias=False)
    module.reduce_noise_channel_2 = nn.Conv2d(2 * d + p2, 2 * d, 1, bias=False)
    module.reduce_noise_channel_3 = nn.Conv2d(4 * d + (256 if authors_sizes else p3), 4 * d, 1, bias=False)


class PromptIR(nn.Module):
    """The authors' PromptIR with decoder=True; forward(x) -> restored."""

    def __init__(self, dim=48, num_blocks=(4, 6, 6, 8), heads=(1, 2, 4, 8), num_refinement_blocks=4,
                 prompt_dims=(64, 128, 320), prompt_sizes=(64, 32, 16), prompt_len=5, ffn=2.66, ln="WithBias"):
        super().__init__()
        d, nb, hd = dim, num_blocks, heads
        p1, p2, p3 = prompt_dims
        self.patch_embed = ref.OverlapPatchEmbed(3, d)
        self.prompt1 = PromptGenBlock(p1, prompt_len, prompt_sizes[0], 2 * d)
        self.prompt2 = PromptGenBlock(p2, prompt_len, prompt_sizes[1], 4 * d)
        self.prompt3 = PromptGenBlock(p3, prompt_len, prompt_sizes[2], 8 * d)
        unused(self, d, prompt_dims, tuple(prompt_dims) == (64, 128, 320))
        self.encoder_level1 = ref._blocks(nb[0], d, hd[0], ffn, False, ln)
        self.down1_2 = ref.Downsample(d)
        self.encoder_level2 = ref._blocks(nb[1], 2 * d, hd[1], ffn, False, ln)
        self.down2_3 = ref.Downsample(2 * d)
        self.encoder_level3 = ref._blocks(nb[2], 4 * d, hd[2], ffn, False, ln)
        self.down3_4 = ref.Downsample(4 * d)
        self.latent = ref._blocks(nb[3], 8 * d, hd[3], ffn, False, ln)

        self.up4_3 = ref.Upsample(4 * d)
        self.reduce_chan_level3 = nn.Conv2d(6 * d, 4 * d, 1, bias=False)
        self.noise_level3 = ref.TransformerBlock(8 * d + p3, hd[2], ffn, False, ln)
        self.reduce_noise_level3 = nn.Conv2d(8 * d + p3, 4 * d, 1, bias=False)
        self.decoder_level3 = ref._blocks(nb[2], 4 * d, hd[2], ffn, False, ln)
        self.up3_2 = ref.Upsample(4 * d)
        self.reduce_chan_level2 = nn.Conv2d(4 * d, 2 * d, 1, bias=False)
        self.noise_level2 = ref.TransformerBlock(4 * d + p2, hd[2], ffn, False, ln)
        self.reduce_noise_level2 = nn.Conv2d(4 * d + p2, 4 * d, 1, bias=False)
        self.decoder_level2 = ref._blocks(nb[1], 2 * d, hd[1], ffn, False, ln)
        self.up2_1 = ref.Upsample(2 * d)
        self.noise_level1 = ref.TransformerBlock(2 * d + p1, hd[2], ffn, False, ln)
        self.reduce_noise_level1 = nn.Conv2d(2 * d + p1, 2 * d, 1, bias=False)
        self.decoder_level1 = ref._blocks(nb[0], 2 * d, hd[0], ffn, False, ln)
        self.refinement = ref._blocks(num_refinement_blocks, 2 * d, hd[0], ffn, False, ln)
        self.output = nn.Conv2d(2 * d, 3, 3, 1, 1, bias=False)

    def forward(self, x):
        e1 = self.encoder_level1(self.patch_embed(x))
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        latent = self.latent(self.down3_4(e3))

        latent = torch.cat([latent, self.prompt3(latent)], 1)
        latent = self.reduce_noise_level3(self.noise_level3(latent))
        d3 = self.up4_3(latent)
        d3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([d3, e3], 1)))

        d3 = torch.cat([d3, self.prompt2(d3)], 1)
        d3 = self.reduce_noise_level2(self.noise_level2(d3))
        d2 = self.up3_2(d3)
        d2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([d2, e2], 1)))

        d2 = torch.cat([d2, self.prompt1(d2)], 1)
        d2 = self.reduce_noise_level1(self.noise_level1(d2))
        d1 = self.up2_1(d2)
        d1 = self.decoder_level1(torch.cat([d1, e1], 1))
        return self.output(self.refinement(d1)) + x


class BaryPromptIR(ref.BaryNet):
    """BaryIR on PromptIR: BaryNet (decoder=True) whose noise_level blocks
    also read a prompt; forward(x) -> (out, s, b, r)."""

    def __init__(self, dim=48, num_blocks=(4, 6, 6, 8), heads=(1, 2, 4, 8), num_refinement_blocks=4,
                 bary_blocks=2, prompt_dims=(64, 128, 320), prompt_sizes=(64, 32, 16), prompt_len=5,
                 ffn=2.66, ln="WithBias"):
        super().__init__(dim=dim, num_blocks=num_blocks, heads=heads, num_refinement_blocks=num_refinement_blocks,
                         bary_blocks=bary_blocks, ffn_expansion_factor=ffn, LayerNorm_type=ln)
        d, hd = dim, heads
        p1, p2, p3 = prompt_dims
        self.prompt1 = PromptGenBlock(p1, prompt_len, prompt_sizes[0], 2 * d)
        self.prompt2 = PromptGenBlock(p2, prompt_len, prompt_sizes[1], 4 * d)
        self.prompt3 = PromptGenBlock(p3, prompt_len, prompt_sizes[2], 16 * d)
        self.noise_level3 = ref.TransformerBlock(16 * d + p3, hd[2], ffn, False, ln)
        self.reduce_noise_level3 = nn.Conv2d(16 * d + p3, 4 * d, 1, bias=False)
        self.noise_level2 = ref.TransformerBlock(4 * d + p2, hd[2], ffn, False, ln)
        self.reduce_noise_level2 = nn.Conv2d(4 * d + p2, 4 * d, 1, bias=False)
        self.noise_level1 = ref.TransformerBlock(2 * d + p1, hd[2], ffn, False, ln)
        self.reduce_noise_level1 = nn.Conv2d(2 * d + p1, 2 * d, 1, bias=False)

    def forward(self, x):
        e1 = self.encoder_level1(self.patch_embed(x))
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        s = self.LN(self.latent(self.down3_4(e3)))
        b = self.LN(self.barylatent(s))
        r = s - b

        lat = torch.cat([b, r], 1)
        lat = torch.cat([lat, self.prompt3(lat)], 1)
        lat = self.reduce_noise_level3(self.noise_level3(lat))
        rlat = self.resreduce_noise_level3(r)
        u3, ru3 = self.up4_3(lat), self.resup4_3(rlat)
        d3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([u3, e3 + 0.8 * ru3], 1)))
        rd3 = self.resdecoder_level3(self.resreduce_chan_level3(ru3))

        d3 = torch.cat([d3, self.prompt2(d3)], 1)
        d3 = self.reduce_noise_level2(self.noise_level2(d3))
        rd3 = self.resreduce_noise_level2(rd3)
        u2, ru2 = self.up3_2(d3), self.resup3_2(rd3)
        d2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([u2, e2 + 0.8 * ru2], 1)))
        rd2 = self.resdecoder_level2(self.resreduce_chan_level2(ru2))

        d2 = torch.cat([d2, self.prompt1(d2)], 1)
        d2 = self.reduce_noise_level1(self.noise_level1(d2))
        rd2 = self.resreduce_noise_level1(rd2)
        d1 = self.decoder_level1(torch.cat([self.up2_1(d2), e1 + 0.8 * self.resup2_1(rd2)], 1))
        out = self.output(self.refinement(d1)) + x
        return out, s, b, r


UNUSED = ("chnl_reduce1.weight", "chnl_reduce2.weight", "chnl_reduce3.weight",
          "reduce_noise_channel_1.weight", "reduce_noise_channel_2.weight", "reduce_noise_channel_3.weight")


def count(module, used_only):
    return sum(p.numel() for n, p in module.named_parameters() if not (used_only and n in UNUSED))


def perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))


# Lightning's AttributeDict under its module path, so the pickle names it as
# a real checkpoint does; nothing of Lightning is imported.
parsing = types.ModuleType("pytorch_lightning.utilities.parsing")


class AttributeDict(dict):
    pass


AttributeDict.__module__ = parsing.__name__
AttributeDict.__qualname__ = "AttributeDict"
parsing.AttributeDict = AttributeDict
for name in ("pytorch_lightning", "pytorch_lightning.utilities", parsing.__name__):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules[parsing.__name__] = parsing


def lightning_checkpoint(net, x):
    """A Lightning checkpoint of net as PromptIR's train.py would leave it."""
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=15)
    state = collections.OrderedDict(("net." + k, v.clone()) for k, v in net.state_dict().items())
    net(x).abs().mean().backward()
    opt.step()
    opt.zero_grad()
    sched.step()
    hp = argparse.Namespace(epochs=120, batch_size=8, lr=2e-4, de_type=["denoise_15", "derain", "dehaze"],
                            patch_size=128, num_workers=16)
    return {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.0.1",
        "state_dict": state,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4, "completed": 3}},
                               "epoch_loop.state_dict": {"_batches_that_stepped": 120},
                               "epoch_loop.batch_progress": {"current": {"ready": torch.tensor(40)}}}},
        "callbacks": {"ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0}": {
            "monitor": None, "best_model_score": torch.tensor(0.25), "best_model_path": "ckpt/epoch=2.ckpt",
            "best_k_models": {"ckpt/epoch=2.ckpt": torch.tensor(0.25)}, "dirpath": "train_ckpt"}},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [sched.state_dict()],
        "hyper_parameters": AttributeDict(opt=hp, lr=2e-4),
    }


def main():
    small = dict(dim=2, num_blocks=(1, 1, 1, 1), heads=(1, 2, 4, 8), num_refinement_blocks=1,
                 prompt_dims=(4, 4, 8), prompt_sizes=(8, 6, 4), prompt_len=3)
    x = torch.rand(1, 3, 24, 40)
    out = {"input": x}
    plain = PromptIR(**small)
    bary = BaryPromptIR(bary_blocks=1, **small)
    for name, net in (("promptir", plain), ("baryir_promptir", bary)):
        perturb(net)
        for k, v in net.state_dict().items():
            if name == "promptir" or k not in UNUSED:  # BaryNet's are 100k values at the authors' sizes
                out[f"{name}/weights/{k}"] = v
        y = net(x)
        outs = {"output": y} if name == "promptir" else dict(zip(("output", "source", "bary", "residual"), y))
        loss = 0
        for k, v in outs.items():
            proj = torch.randn_like(v)
            out[f"{name}/{k}"], out[f"{name}/proj/{k}"] = v, proj
            loss = loss + (v * proj).sum()
        loss.backward()
        for k, p in net.named_parameters():
            if p.grad is not None:
                out[f"{name}/grad/{k}"] = p.grad

    big_plain, big_bary = PromptIR(), BaryPromptIR(bary_blocks=2)
    meta = {
        "promptir_d48_params": str(count(big_plain, True)),
        "promptir_d48_params_with_unused": str(count(big_plain, False)),
        "baryir_promptir_d48_params": str(count(big_bary, True)),
        "baryir_promptir_d48_params_with_unused": str(count(big_bary, False)),
    }
    write_safetensors(os.path.join(REPO, "testdata", "promptir.safetensors"), out, meta)
    print(meta)

    ckpt = lightning_checkpoint(plain, x)
    torch.save(ckpt, os.path.join(REPO, "testdata", "promptir_tiny.ckpt"))
    one = collections.OrderedDict(list(ckpt["state_dict"].items())[:2])
    nostate = {k: v for k, v in ckpt.items() if k not in ("state_dict", "optimizer_states")}
    torch.save(nostate, os.path.join(REPO, "testdata", "promptir_nostate.ckpt"))
    noprefix = dict(nostate, state_dict=collections.OrderedDict(
        (k.replace("net.", "model.", 1), v) for k, v in one.items()))
    torch.save(noprefix, os.path.join(REPO, "testdata", "promptir_noprefix.ckpt"))


if __name__ == "__main__":
    main()
