#!/usr/bin/env python3
"""Writes an f16 copy of a checkpoint folder (what `undivided reduce --dtype f16` writes), with
the standard library only, so that setup can make the page's half-size default model without
building the CLI first.

    python3 scripts/to_f16.py models/all-MiniLM-L6-v2 models/all-MiniLM-L6-v2-f16

Every F32 tensor of model.safetensors becomes F16 (round to nearest even, as Rust's `half`);
names, shapes and metadata are kept; config.json and the tokenizer files are copied. A value past
f16's range (|x| > 65504) stops with the tensor's name.
"""
import array
import json
import math
import os
import shutil
import struct
import sys

SMALL_FILES = ["config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]


def convert(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = memoryview(data)[8 + n :]
    metadata = header.pop("__metadata__", None)
    out_header, chunks, offset = {}, [], 0
    for name in sorted(header):
        t = header[name]
        start, end = t["data_offsets"]
        raw, dtype = bytes(body[start:end]), t["dtype"]
        if dtype == "F32":
            values = array.array("f")
            values.frombytes(raw)
            if sys.byteorder != "little":
                values.byteswap()
            for v in values:
                if math.isfinite(v) and abs(v) > 65504.0:
                    sys.exit(f"{src}: tensor `{name}` is out of f16's range (|x| > 65504)")
            raw, dtype = struct.pack(f"<{len(values)}e", *values), "F16"
        out_header[name] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata is not None:
        out_header = {"__metadata__": metadata, **out_header}
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, dst)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: to_f16.py SRC_DIR DST_DIR")
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in SMALL_FILES:
        if os.path.isfile(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    # The weights last: a folder whose model.safetensors exists is complete.
    convert(os.path.join(src, "model.safetensors"), os.path.join(dst, "model.safetensors"))


if __name__ == "__main__":
    main()
