"""Writes the state_dict names and shapes of reference networks, one JSON
file each ({"config": baryir.Config fields, "shapes": {name: shape}}), for
InferConfig's tests. Run from the repo root:

    /usr/bin/python3 testdata/shapes/gen_shapes.py
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torchref"))
import barynet  # noqa: E402

# name -> arguments of barynet.build, spelled as baryir.Config's fields.
NETS = {
    "paper": dict(arch="barynet", dim=48, blocks=[4, 6, 6, 8], heads=[1, 2, 4, 8], refinement=4, bary_blocks=2),
    "authors": dict(arch="barynet", dim=48, blocks=[4, 6, 6, 8], heads=[1, 2, 4, 8], refinement=4, bary_blocks=8),
    "restormer48": dict(arch="restormer", dim=48, blocks=[4, 6, 6, 8], heads=[1, 2, 4, 8], refinement=4, bary_blocks=0),
    "tiny": dict(arch="barynet", dim=8, blocks=[1, 1, 1, 1], heads=[1, 2, 4, 8], refinement=1, bary_blocks=1),
    "tiny_biasfree": dict(arch="barynet", dim=8, blocks=[1, 1, 1, 1], heads=[1, 2, 4, 8], refinement=1, bary_blocks=1,
                          bias_free=True),
    "odd_barynet": dict(arch="barynet", dim=12, blocks=[2, 1, 3, 2], heads=[1, 2, 2, 4], refinement=2, bary_blocks=3,
                        ffn_factor=1.5),
    "restormer_ffn2": dict(arch="restormer", dim=8, blocks=[1, 2, 1, 1], heads=[2, 2, 4, 4], refinement=0,
                           bary_blocks=0, ffn_factor=2.0),
}


def main():
    for name, kw in NETS.items():
        net = barynet.build(**kw)
        shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
        # Map: baryir.MapTransformer (0), or MapNone (4) for the plain Restormer.
        cfg = {"Map": 4 if kw["arch"] == "restormer" else 0, "Dim": kw["dim"], "Blocks": kw["blocks"], "Heads": kw["heads"],
               "Refinement": kw["refinement"], "BaryBlocks": kw["bary_blocks"],
               "FFNFactor": kw.get("ffn_factor", 2.66), "BiasFree": kw.get("bias_free", False)}
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump({"config": cfg, "shapes": shapes}, f, separators=(",", ":"), sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
