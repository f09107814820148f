"""PyTorch checkpoints (torch.save zip archives) for the Java reader, under golden/ops/torch/.

  basic.pt        torch.save, default zip format, pickle protocol 2 (as the InstantCharacter adapter): nested
                  dict / OrderedDict (with state_dict's _metadata attribute) / list, bf16 f32 f16 int64 tensors, a transposed (non-contiguous) view, two
                  tensors sharing one storage at different offsets, an nn.Parameter, an empty tensor and a few
                  non-tensor leaves
  basic_p5.pt     the same object with pickle protocol 5 (frames, short strings, MEMOIZE)
  basic_zip64.pt  basic.pt's records rewritten as a ZIP64 archive (as a checkpoint above 4 GB is)
  legacy.pt       the pre-1.6 non-zip format (_use_new_zipfile_serialization=False), of the non-tensor leaves
  evil_system.pt, evil_eval.pt  zip archives whose data.pkl would call os.system / builtins.eval if unpickled by
                  Python: built with a custom __reduce__ and pickle.dumps, never loaded
  evil_call_storage.pt, evil_newobj.pt  hand-assembled pickles that misuse allowed globals: calling a storage
                  class with REDUCE, instantiating OrderedDict with NEWOBJ
  missing_storage.pt  basic.pt without the record of storage 0 (image_proj.latents)
  truncated.pt    basic.pt cut in half (no central directory)
  bad_pickle.pt   a zip archive whose data.pkl stops before its STOP opcode

The golden torch_checkpoint.safetensors has one case, "basic": tensor "basic/<dotted name>" is the expected value
of every tensor of basic.pt; the parameter "order" lists the names in pickle order and "tensors" maps each name
to its dtype and shape.
"""
import collections
import io
import os
import pickle
import struct
import zipfile
import zlib

import torch

from .common import Golden, randn


class _Evil:
    """Pickles as a call to `fn(arg)`; only ever passed to pickle.dumps, which does not call it."""

    def __init__(self, fn, arg):
        self.fn = fn
        self.arg = arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def state():
    base = randn(3, 5, 6)
    shared = torch.arange(24, dtype=torch.float32) * 0.25 - 3.0
    image_proj = collections.OrderedDict()
    image_proj["latents"] = randn(1, 1, 4, 8, dtype=torch.bfloat16)
    image_proj["proj_in.weight"] = randn(2, 8, 6, dtype=torch.bfloat16, scale=3.0)
    image_proj["norm_out.bias"] = randn(4, 8)
    image_proj._metadata = {"": {"version": 1}}  # as Module.state_dict() sets: pickled as a BUILD of the dict
    image_proj["layers"] = [collections.OrderedDict(weight=randn(5, 3, 4, dtype=torch.float16, scale=7.0)),
                            collections.OrderedDict(weight=torch.nn.Parameter(randn(6, 4, 2)))]
    ip_adapter = {
        "0.to_k_ip.weight": randn(7, 6, 4, dtype=torch.bfloat16),
        "0.transposed": base.t(),
        "1.shared_head": shared[2:7],
        "1.shared_rows": shared.view(4, 6)[1:3, ::2],
        "1.steps": torch.tensor([[1, -2, 3], [2**40, -(2**62), 0]], dtype=torch.int64),
        "1.empty": torch.zeros(0, 3),
        "deep": {"deeper": {"scalar": torch.tensor(2.5)}},
    }
    return {"image_proj": image_proj, "ip_adapter": ip_adapter, "epoch": 3, "note": "not a tensor"}


def flatten(obj, prefix, out):
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    return out


def zip64(records, path):
    """A stored (uncompressed) ZIP64 archive of `records` (name -> bytes): every size and offset in the local and
    central headers is 0xFFFFFFFF and the real values live in ZIP64 extra fields, with a ZIP64 end record."""
    out = bytearray()
    central = bytearray()
    for name, data in records.items():
        n = name.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(n),
                           len(local_extra)) + n + local_extra + data
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(n), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + n + extra
    cd_offset = len(out)
    out += central
    eocd64 = len(out)
    count = len(records)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(out))


def stored_zip(path, records):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in records.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)  # fixed date: same bytes


def generate(out):
    d = out / "torch"
    d.mkdir(exist_ok=True)
    s = state()
    torch.save(s, d / "basic.pt")
    torch.save(s, d / "basic_p5.pt", pickle_protocol=5)
    # legacy files key storages by memory address, so a tensor would make the bytes differ on every run: the reader
    # refuses the format at its first byte, which a tensor-free legacy file shows as well
    torch.save({"epoch": s["epoch"], "note": s["note"]}, d / "legacy.pt", _use_new_zipfile_serialization=False)
    with zipfile.ZipFile(d / "basic.pt") as z:
        records = {i.filename: z.read(i) for i in z.infolist()}
    zip64(records, d / "basic_zip64.pt")
    stored_zip(d / "evil_system.pt", {"evil/data.pkl": pickle.dumps(_Evil(os.system, "touch /tmp/likeness-pwned"),
                                                                    protocol=2),
                                      "evil/version": b"3\n"})
    stored_zip(d / "evil_eval.pt", {"evil/data.pkl": pickle.dumps({"w": _Evil(eval, "__import__('os')")},
                                                                  protocol=2),
                                    "evil/version": b"3\n"})
    stored_zip(d / "evil_call_storage.pt", {"evil/data.pkl": b"\x80\x02ctorch\nFloatStorage\nK\x03\x85R.",
                                            "evil/version": b"3\n"})
    stored_zip(d / "evil_newobj.pt", {"evil/data.pkl": b"\x80\x02ccollections\nOrderedDict\n)\x81.",
                                      "evil/version": b"3\n"})
    prefix = next(n for n in records if n.endswith("/data.pkl")).removesuffix("data.pkl")
    stored_zip(d / "missing_storage.pt", {n: b for n, b in records.items() if n != prefix + "data/0"})
    raw = (d / "basic.pt").read_bytes()
    (d / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    pkl = records[next(n for n in records if n.endswith("/data.pkl"))]
    stored_zip(d / "bad_pickle.pt", {"bad/data.pkl": pkl[: len(pkl) // 2], "bad/version": b"3\n"})

    tensors = flatten(s, "", {})
    g = Golden("torch_checkpoint")
    g.case("basic", {"order": list(tensors), "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)}
                                 for k, v in tensors.items()}},
           **{k: v for k, v in tensors.items()})
    g.save(out)
