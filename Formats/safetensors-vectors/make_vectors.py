#!/usr/bin/env python3
"""Writes Sentinel's own safetensors conformance vectors (stdlib only): edge cases beyond ../shared/fixtures.
Each file's expected outcome is in expected.json: "valid" or the InputError code Sentinel must raise."""
import json, struct

def write(name, header_text, data, expected):
    h = header_text.encode("utf-8")
    with open(name + ".safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    cases.append({"file": name + ".safetensors", "expected": expected})

cases = []
f32x2 = struct.pack("<2f", 1.5, -2.0)
write("v01_metadata_not_string", '{"__metadata__":{"a":1},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32x2, "invalid_structure")
write("v02_negative_dim", '{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', f32x2, "invalid_structure")
write("v03_begin_after_end", '{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', f32x2, "invalid_offsets")
write("v04_trailing_data", '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32x2 + b"\0\0\0\0", "data_out_of_bounds")
write("v05_header_trailing_garbage", '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x', f32x2, "not_json")
write("v06_f4_odd_count", '{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', b"\x12\x34", "size_mismatch")
write("v07_shape_overflow", '{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}', f32x2, "size_mismatch")
write("v08_valid_f4", '{"t":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}', b"\x12\x34", "valid")
write("v09_header_not_object", '[1,2]', b"", "invalid_structure")
write("v10_duplicate_escaped_name", '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"\\u0061":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"\x01\x02", "duplicate_tensor")
write("v11_valid_spaces_and_newline", '{"t" : {"dtype":"F32","shape":[2],"data_offsets":[0,8]}}\n   ', f32x2, "valid")
write("v12_offset_not_integer", '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}}', f32x2, "invalid_offsets")
# Hostile-input vectors (issue 12): the real cause in the message, reference verdicts checked with the
# safetensors 0.8.0 library: safe_open + get_shape on every vector gives the same verdict (valid/refused) for v01-v18.
write("v13_nul_padding", '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' + "\0" * 6, f32x2, "not_json")
write("v14_control_char_in_name", '{"a\x01b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32x2, "not_json")
write("v15_dim_over_u64_half", '{"t":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}}', f32x2, "size_mismatch")
write("v16_empty_huge_dims", '{"t":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}', b"", "valid")
write("v17_empty_huge_dims_overflow_first", '{"t":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}', b"", "size_mismatch")
write("v18_tab_in_metadata_value", '{"__metadata__":{"k":"a\tb"},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32x2, "not_json")
with open("expected.json", "w") as f:
    json.dump({"made_by": "make_vectors.py", "cases": cases}, f, indent=1)
    f.write("\n")
