#!/usr/bin/env python3
"""Writes Sentinel's torch/zip conformance vectors: real torch.save output (torch 2.13 CPU wheel) and bytes
derived from it, each with the verdict Sentinel must give in expected.json ("valid", or the InputError code;
"writers": the code every writer must raise for a valid file; "crc": the code `inspect --stats` must raise).

Run from this folder: python3 make_vectors.py   (needs torch; numpy not needed)

tv01 reproduces the ZIP64 layout torch 2.13 writes for a record of 4 GiB or more and for records after the
4 GiB mark, measured on a real 4,294,969,221-byte torch.save file (a 2**30+16 float32 tensor): local header
sizes 0 with flags 0x0808 (data descriptor, UTF-8), version needed 0; for the big record a ZIP64 extra
(0x0001, 16 bytes: size, compressed size) in the local header and sizes 0xFFFFFFFF + the same extra in the
central directory; for each later record a ZIP64 extra of 8 bytes holding its local header offset, in the
local header too, and offset 0xFFFFFFFF in the central directory; 64-bit data descriptors for all of these;
the classic end record with central directory offset 0xFFFFFFFF. Here the same layout is applied to a small
real torch.save file (the sizes are small, the fields are where torch puts them)."""
import hashlib, io, json, pickle, struct, zlib
import torch

cases = []


def save(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def tensors_of(obj):
    out = []
    for k, v in obj.items():
        b = v.contiguous().numpy().tobytes() if v.numel() else b""
        out.append({"name": k, "dtype": str(v.dtype), "shape": list(v.shape), "sha256": hashlib.sha256(b).hexdigest()})
    return out


def emit(name, data, expected, **extra):
    with open(name, "wb") as f:
        f.write(data)
    cases.append(dict({"file": name, "expected": expected}, **extra))


def records(data):
    """(name, flags, local header offset, data bytes) of a torch zip, in file order, from its central directory."""
    e = data.rfind(b"PK\x05\x06")
    z = data.rfind(b"PK\x06\x06")
    count, cdsize, cdoff = struct.unpack("<QQQ", data[z + 32:z + 56])
    p, out = cdoff, []
    for _ in range(count):
        (flags, crc, cs, us, nl, el, cl, lo) = struct.unpack("<8xH6xIIIHHH8xI", data[p:p + 46])
        name = data[p + 46:p + 46 + nl]
        lnl, lel = struct.unpack("<HH", data[lo + 26:lo + 30])
        start = lo + 30 + lnl + lel
        out.append((name, flags, crc, data[start:start + us]))
        p += 46 + nl + el + cl
    return out


def torch_zip64(data):
    """Rewrites a torch zip with torch's ZIP64 layout (see the module docstring): the first data/ record gets
    the big-record treatment, every later record the past-4-GiB treatment."""
    recs = records(data)
    first = next(i for i, r in enumerate(recs) if b"/data/" in r[0])
    out = bytearray()
    central = []
    for i, (name, flags, crc, body) in enumerate(recs):
        off = len(out)
        if i == first:
            z64 = struct.pack("<HHQQ", 1, 16, len(body), len(body))
        elif i > first:
            z64 = struct.pack("<HHQ", 1, 8, off)
        else:
            z64 = b""
        pad = (64 - (off + 30 + len(name) + len(z64) + 4) % 64) % 64
        extra = z64 + b"FB" + struct.pack("<H", pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, 0x0808, 0, 0, 0, 0, 0, 0, len(name), len(extra)) + name + extra
        out += body
        if z64:
            out += struct.pack("<IIQQ", 0x08074B50, crc, len(body), len(body))
        else:
            out += struct.pack("<IIII", 0x08074B50, crc, len(body), len(body))
        central.append((name, crc, len(body), off, i))
    cd = len(out)
    for name, crc, size, off, i in central:
        if i == first:
            ex, s32, o32 = struct.pack("<HHQQ", 1, 16, size, size), 0xFFFFFFFF, off
        elif i > first:
            ex, s32, o32 = struct.pack("<HHQ", 1, 8, off), size, 0xFFFFFFFF
        else:
            ex, s32, o32 = b"", size, off
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, 0x0808, 0, 0, 0, crc, s32, s32, len(name), len(ex), 0, 0, 0, 0, o32)
        out += name + ex
    cdsize = len(out) - cd
    z = len(out)
    n = len(central)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x1E, 0x2D, 0, 0, n, n, cdsize, cd)
    out += struct.pack("<IIQI", 0x07064B50, 0, z, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cdsize, 0xFFFFFFFF, 0)
    return bytes(out)


def central_entry(data, record):
    """Offset of the central directory entry of `record` (bytes)."""
    z = data.rfind(b"PK\x06\x06")
    count, cdsize, cdoff = struct.unpack("<QQQ", data[z + 32:z + 56])
    p = cdoff
    for _ in range(count):
        nl, el, cl = struct.unpack("<HHH", data[p + 28:p + 34])
        if data[p + 46:p + 46 + nl] == record:
            return p
        p += 46 + nl + el + cl
    raise KeyError(record)


def local_header(data, record):
    return struct.unpack("<I", data[central_entry(data, record) + 42:central_entry(data, record) + 46])[0]


def patched(data, edits):
    b = bytearray(data)
    for at, raw in edits:
        b[at:at + len(raw)] = raw
    return bytes(b)


def mini_zip(name, body, method, claimed_size):
    """One-record zip with no data descriptor whose local and central headers both claim `claimed_size`
    uncompressed bytes through a ZIP64 extra (what a bomb or a lying directory looks like)."""
    comp = zlib.compress(body, 9)[2:-4] if method == 8 else body
    crc = zlib.crc32(body)
    z64 = struct.pack("<HHQQ", 1, 16, claimed_size, len(comp))
    out = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(z64)) + name + z64 + comp
    cd = len(out)
    out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(z64), 0, 0, 0, 0, 0)
    out += name + z64
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(out) - cd, cd, 0)
    return out


base_obj = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor([1, 2, 3], dtype=torch.int64)}
base = save(base_obj)
emit("tv00_base.pt", base, "valid", tensors=tensors_of(base_obj))
emit("tv01_zip64_as_torch.pt", torch_zip64(base), "valid", tensors=tensors_of(base_obj))

empty = {"e": torch.empty_strided((0, 2**32, 2**32), (1, 2**32, 1)), "x": torch.arange(3, dtype=torch.float32)}
emit("tv02_empty_huge_dims.pt", save(empty), "valid", tensors=tensors_of(empty))

pkl = b"archive/data.pkl"
for name, bit, code in [("tv03_flag_encrypted", 0x0001, "unsupported"), ("tv04_flag_patched", 0x0020, "unsupported"),
                        ("tv05_flag_strong_encryption", 0x0040, "unsupported")]:
    c, lo = central_entry(base, pkl), local_header(base, pkl)
    f = struct.pack("<H", 0x0808 | bit)
    emit(name + ".pt", patched(base, [(c + 8, f), (lo + 6, f)]), code)

d0 = b"archive/data/0"
lo = local_header(base, d0)
emit("tv06_local_name_mismatch.pt", patched(base, [(lo + 30 + len(d0) - 1, b"9")]), "invalid_structure")
emit("tv07_local_flags_mismatch.pt", patched(base, [(lo + 6, struct.pack("<H", 0x0800))]), "invalid_structure")
c = central_entry(base, d0)
size = struct.unpack("<I", base[c + 24:c + 28])[0]
emit("tv08_stored_compressed_size_differs.pt", patched(base, [(c + 20, struct.pack("<I", size - 4))]), "invalid_structure")
emit("tv09_disk_number_nonzero.pt", patched(base, [(c + 34, struct.pack("<H", 1))]), "unsupported")

emit("tv10_bomb_claims_64gib.pt", mini_zip(pkl, b"\x80\x02}q\x00.", 8, 64 << 30), "out_of_range")
emit("tv11_deflate_bomb_300mib.pt", mini_zip(pkl, b"\x80\x02" + b"\x00" * (300 << 20), 8, (300 << 20) + 2), "out_of_range")

nl, el = struct.unpack("<HH", base[lo + 26:lo + 30])
emit("tv12_stored_crc_mismatch.pt", patched(base, [(lo + 30 + nl + el, b"\x01")]), "valid", crc="checksum_mismatch")

meta = {"__metadata__": torch.ones(2), "x": torch.zeros(1)}
emit("tv13_tensor_named_metadata.pt", save(meta), "valid", writers="reserved_name", tensors=tensors_of(meta))
blank = {"": torch.ones(2)}
emit("tv14_tensor_named_empty.pt", save(blank), "valid", writers="reserved_name", tensors=tensors_of(blank))

emit("tv15_html_page.bin", b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n", "unknown_format",
     message="HTML page")
emit("tv16_bare_pickle.bin", pickle.dumps({"w": [1.0, 2.0]}, protocol=2), "unknown_format", message="bare pickle")

with open("expected.json", "w") as f:
    json.dump({"made_by": "make_vectors.py", "torch": torch.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
