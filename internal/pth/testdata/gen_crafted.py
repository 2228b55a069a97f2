"""Writes the hostile .pth files of internal/pth's TestCraftedFiles, each a few
hundred bytes, with the standard library only (no torch needed). Run from the
repo root:

    /usr/bin/python3 internal/pth/testdata/gen_crafted.py

The files imitate torch.save: a zip archive holding archive/data.pkl and
archive/data/KEY per storage, or the legacy stream (magic number, protocol,
system info, object tree, storage keys, then each storage's element count and
bytes). Stand-ins for torch's classes are registered under torch's module
names so that pickle writes the same GLOBAL opcodes torch.save does.
"""

import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crafted")

torch = types.ModuleType("torch")
utils = types.ModuleType("torch._utils")
nn_module = types.ModuleType("torch.nn.modules.module")
sys.modules.update({"torch": torch, "torch._utils": utils, "torch.nn.modules.module": nn_module})


def register(module, obj):
    obj.__module__ = module.__name__
    setattr(module, obj.__name__, obj)
    return obj


FloatStorage = register(torch, type("FloatStorage", (), {}))
FooStorage = register(torch, type("FooStorage", (), {}))


def _rebuild_tensor_v2(*args):
    pass


register(utils, _rebuild_tensor_v2)


class Module:
    pass


Module.__qualname__ = Module.__name__ = "Module"
register(nn_module, Module)


class Storage:
    def __init__(self, key, numel, cls=FloatStorage, legacy_view=None):
        self.key, self.numel, self.cls, self.view = key, numel, cls, legacy_view


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (_rebuild_tensor_v2, self.args)


def dumps(obj, legacy=False):
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=2)

    def persistent_id(o):
        if isinstance(o, Storage):
            t = ("storage", o.cls, o.key, "cpu", o.numel)
            return t + (o.view,) if legacy else t
        return None

    p.persistent_id = persistent_id
    p.dump(obj)
    return buf.getvalue()


def zip_pth(name, obj, records, pickled=None, compression=zipfile.ZIP_STORED):
    """A zip checkpoint: data.pkl is obj's pickle (or the raw bytes pickled)."""
    def put(z, name, data):  # fixed timestamps, so that reruns write the same bytes
        z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, compress_type=compression)

    with zipfile.ZipFile(os.path.join(HERE, name), "w") as z:
        put(z, "archive/data.pkl", pickled if pickled is not None else dumps(obj))
        for key, data in records.items():
            put(z, "archive/data/" + key, data)
        put(z, "archive/version", "3\n")


def legacy_pth(name, obj, storages):
    """A legacy checkpoint: storages lists (Storage, element count written, bytes)."""
    out = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    out += pickle.dumps(1001, protocol=2)
    out += pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    out += dumps(obj, legacy=True)
    out += pickle.dumps([s.key for s, _, _ in storages], protocol=2)
    for _, count, data in storages:
        out += struct.pack("<q", count) + data
    write(name, out)


def write(name, raw):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(raw)


def f32(n):
    return struct.pack("<%df" % n, *[i / 4 for i in range(n)])


def main():
    os.makedirs(HERE, exist_ok=True)
    s4 = Storage("0", 4)
    # A well-formed file, so that the others fail for their own reason.
    zip_pth("valid.pth", collections.OrderedDict(w=Tensor(s4, 0, [2, 2], [2, 1])), {"0": f32(4)})
    legacy_pth("valid_legacy.pth", collections.OrderedDict(w=Tensor(s4, 0, [2, 2], [2, 1])), [(s4, 4, f32(4))])

    write("empty.pth", b"")
    write("zeros.pth", bytes(512))
    # Storages declaring more elements than the file holds, or impossible counts.
    big = Storage("0", 10**11)
    zip_pth("huge_storage.pth", {"w": Tensor(big, 0, [4], [1])}, {"0": f32(4)})
    legacy_pth("huge_storage_legacy.pth", {"w": Tensor(big, 0, [4], [1])}, [(big, 4, f32(4))])
    zip_pth("negative_storage.pth", {"w": Tensor(Storage("0", -1), 0, [1], [1])}, {"0": b""})
    zip_pth("overflow_storage.pth", {"w": Tensor(Storage("0", 2**62), 0, [1], [1])}, {"0": f32(1)})
    legacy_pth("legacy_count_mismatch.pth", {"w": Tensor(s4, 0, [4], [1])}, [(s4, 5, f32(4))])
    legacy_pth("legacy_truncated.pth", {"w": Tensor(s4, 0, [4], [1])}, [(s4, 4, f32(3))])
    legacy_pth("legacy_view.pth", {"w": Tensor(Storage("0", 4, legacy_view=("v", 0, 2)), 0, [2], [1])}, [(s4, 4, f32(4))])
    # Tensors whose sizes, strides or offsets overflow or leave their storage.
    zip_pth("overflow_size.pth", {"w": Tensor(s4, 0, [2**62, 4], [4, 1])}, {"0": f32(4)})
    zip_pth("overflow_stride.pth", {"w": Tensor(s4, 0, [3], [2**62])}, {"0": f32(4)})
    zip_pth("outside_storage.pth", {"w": Tensor(s4, 1, [4], [1])}, {"0": f32(4)})
    zip_pth("negative_stride.pth", {"w": Tensor(s4, 3, [4], [-1])}, {"0": f32(4)})
    zip_pth("unknown_storage.pth", {"w": Tensor(Storage("0", 4, FooStorage), 0, [4], [1])}, {"0": f32(4)})
    zip_pth("missing_record.pth", {"w": Tensor(Storage("7", 4), 0, [4], [1])}, {"0": f32(4)})
    # One storage named by thousands of tensors: each would copy it out.
    shared = Tensor(Storage("0", 64), 0, [64], [1])
    zip_pth("shared_storage.pth", {"w%d" % i: shared for i in range(400)}, {"0": f32(64)})
    # Modules sharing their children: 2**60 paths through 60 objects, no tensors.
    m = Module()
    m.__dict__.update(_parameters=collections.OrderedDict(),
                      _buffers=collections.OrderedDict(), _modules=collections.OrderedDict())
    for _ in range(60):
        up = Module()
        up.__dict__.update(_parameters=collections.OrderedDict(), _buffers=collections.OrderedDict(),
                           _modules=collections.OrderedDict(a=m, b=m))
        m = up
    zip_pth("shared_modules.pth", m, {"0": f32(4)})
    # A deflated storage of 1 MiB of zeros in a file of 1.5 kB: a zip bomb.
    bomb = Storage("0", 1 << 18)
    zip_pth("zip_bomb.pth", {"w": Tensor(bomb, 0, [1 << 18], [1])}, {"0": bytes(1 << 20)}, compression=zipfile.ZIP_DEFLATED)
    # Pickle operands claiming more bytes than follow them.
    pre = b"\x80\x02"
    zip_pth("long_string.pth", None, {}, pre + b"X\x00\x00\x00\xf0abc.")
    zip_pth("long_bytes8.pth", None, {}, pre + b"\x8e" + struct.pack("<Q", 2**63) + b"abc.")
    zip_pth("long_frame.pth", None, {}, b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N.")
    zip_pth("long_integer.pth", None, {}, pre + b"\x8b" + struct.pack("<i", 300) + bytes(300) + b".")
    zip_pth("no_stop.pth", None, {}, pre + b"}q\x00")
    zip_pth("deep_marks.pth", None, {}, pre + b"(" * 10001 + b".")
    zip_pth("unhashable_key.pth", None, {}, pre + b"ccollections\nOrderedDict\n)RC\x01aNs.")
    write("raw_long_string.pth", pre + b"X\xff\xff\xff\xffabc.")


if __name__ == "__main__":
    main()
