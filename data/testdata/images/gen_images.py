"""Writes the image fixtures of data's decoding tests with PIL. Run from the
repo root:

    /usr/bin/python3 data/testdata/images/gen_images.py

palette_trns.png  a paletted PNG whose tRNS chunk gives entries alpha 0, 128
                  and 255; palette_trns_rgb.png is PIL's convert('RGB') of it,
                  what the authors' loader feeds the network.
lossless.webp     a lossless WebP; lossless_rgb.png holds the same pixels.
"""

import os

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    palette = [250, 10, 20, 30, 200, 40, 60, 70, 220, 255, 255, 0, 5, 6, 7, 128, 64, 32]
    im = Image.new("P", (5, 3))
    im.putpalette(palette)
    im.putdata([i % 6 for i in range(15)])
    im.save(os.path.join(HERE, "palette_trns.png"), transparency=bytes([0, 128, 255, 0, 17, 255]))
    back = Image.open(os.path.join(HERE, "palette_trns.png"))
    assert back.mode == "P" and "transparency" in back.info
    back.convert("RGB").save(os.path.join(HERE, "palette_trns_rgb.png"))

    rgb = Image.new("RGB", (7, 4))
    rgb.putdata([(37 * i % 256, 91 * i % 256, 13 * i % 256) for i in range(28)])
    rgb.save(os.path.join(HERE, "lossless.webp"), lossless=True)
    assert list(Image.open(os.path.join(HERE, "lossless.webp")).convert("RGB").getdata()) == list(rgb.getdata())
    rgb.save(os.path.join(HERE, "lossless_rgb.png"))


if __name__ == "__main__":
    main()
