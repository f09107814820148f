"""Tensor views: torch applies a chain of view ops to a seeded tensor; the engine's Tensor must agree on the values,
the shape, the strides, the storage offset, and on whether the result shares the input's storage (a view) or is a
copy (reshape/flatten when strides cannot express the result), and must fail where torch fails.

Each case: input "x" (and "scale" for an int8 per-channel scaled input, whose reference values are
x.float() * scale[row]); params "ops" (the chain, a list of [op, args...], see apply), and per output k of the
chain (split/chunk give several) the tensor "out<k>" = result.contiguous(), and shapes[k], strides[k], offsets[k]
(torch's storage_offset) and shares[k] (same untyped storage as x). A chain torch rejects has "raises": true
and no outputs. "java_copies": true marks the one rule where the engine differs on purpose: reshaping across
dimension 0 of a per-channel scaled tensor dequantizes into a copy (the scales could not follow a view).
"""
import torch

from .common import Golden, gen, randn


def apply(op, t):
    name, *a = op
    if name == "take":
        return t[a[0]]
    if name == "slice":
        d, start, end, step = a
        return t[(slice(None),) * (d % t.dim()) + (slice(start, end, step),)]
    if name == "split":
        d, sizes = a
        return list(t.split(sizes, dim=d))
    if name == "chunk":
        n, d = a
        return list(t.chunk(n, dim=d))
    if name in ("view", "reshape", "permute", "transpose", "narrow", "select", "expand", "unsqueeze", "squeeze",
                "flatten"):
        return getattr(t, name)(*a)
    raise ValueError(name)


def run(t, ops):
    for op in ops:
        t = apply(op, t)
    return t if isinstance(t, list) else [t]


def add(g, name, x, ops, scale=None, java_copies=False):
    params = {"ops": ops}
    try:
        outs = run(x, ops)
    except (RuntimeError, IndexError, ValueError):
        params["raises"] = True
        g.case(name, params, x=x, scale=scale)
        return
    if scale is not None:
        deq = x.float() * scale.view(-1, *[1] * (x.dim() - 1))
        values = run(deq, ops)
    else:
        values = outs
    ptr = x.untyped_storage().data_ptr()
    params.update(count=len(outs), shapes=[list(o.shape) for o in outs], strides=[list(o.stride()) for o in outs],
                  offsets=[o.storage_offset() for o in outs],
                  shares=[o.untyped_storage().data_ptr() == ptr for o in outs])
    if java_copies:
        params["java_copies"] = True
    g.case(name, params, x=x, scale=scale, **{f"out{k}": v for k, v in enumerate(values)})


def generate(out):
    g = Golden("views")
    x = randn(1, 2, 3, 4, 5)
    # reshape / view, with -1, on contiguous and non-contiguous inputs
    add(g, "view_infer", x, [["view", 6, -1]])
    add(g, "reshape_infer_middle", x, [["reshape", 2, -1, 5]])
    add(g, "reshape_unit_dims", x, [["reshape", 1, 120, 1]])
    add(g, "view_bad_size", x, [["view", 7, -1]])
    add(g, "view_two_inferred", x, [["view", -1, -1, 5]])
    add(g, "permute_reshape_copies", x, [["permute", 0, 2, 1, 3], ["reshape", 2, 4, 15]])
    add(g, "permute_reshape_is_view", x, [["permute", 1, 0, 2, 3], ["reshape", 3, 2, 20]])
    add(g, "transpose_view_splits_chunks", x, [["transpose", 2, 3], ["view", 6, 5, 4]])
    add(g, "transpose_view_impossible", x, [["transpose", 1, 2], ["view", -1]])
    add(g, "narrow_reshape_is_view", x, [["narrow", 1, 1, 2], ["reshape", 2, 40]])
    add(g, "narrow_reshape_copies", x, [["narrow", 3, 1, 3], ["reshape", 2, 3, 12]])
    add(g, "narrow_view_impossible", x, [["narrow", 3, 1, 3], ["view", 2, 36]])
    # permute / transpose
    add(g, "permute", x, [["permute", 2, 0, 3, 1]])
    add(g, "permute_negative_dims", x, [["permute", -1, -3, 0, -2]])
    add(g, "permute_repeated_dim", x, [["permute", 0, 1, 1, 3]])
    add(g, "transpose", x, [["transpose", -1, 1]])
    # narrow, slice with step / negative / clamped bounds, select
    add(g, "narrow_negative_start", x, [["narrow", 3, -3, 2]])
    add(g, "narrow_out_of_range", x, [["narrow", 2, 3, 2]])
    add(g, "slice_step", x, [["slice", 2, 1, None, 2]])
    add(g, "slice_negative", x, [["slice", -1, -4, -1, 2]])
    add(g, "slice_clamped_end", x, [["slice", 1, 1, 100, 1]])
    add(g, "slice_clamped_start", x, [["slice", 0, -100, 1, 1]])
    add(g, "slice_empty", x, [["slice", 1, 2, 1, 1]])
    add(g, "slice_twice", x, [["slice", 3, 0, None, 3], ["slice", 2, -1, None, 1], ["slice", 0, 1, 2, 5]])
    add(g, "select_negative", x, [["select", 1, -1]])
    add(g, "select_then_view", x, [["select", 2, 1], ["view", 6, 5]])
    add(g, "select_out_of_range", x, [["select", 2, 4]])
    v = randn(2, 7)
    add(g, "select_to_0d", v, [["select", 0, 3]])
    add(g, "0d_unsqueeze", v, [["select", 0, -2], ["unsqueeze", 0]])
    add(g, "0d_view", v, [["select", 0, 3], ["view", 1, 1]])
    add(g, "0d_reshape", v, [["select", 0, 3], ["reshape", -1]])
    add(g, "0d_flatten", v, [["select", 0, 1], ["flatten", 0, -1]])
    # expand / broadcast
    y = randn(3, 3, 1, 5)
    add(g, "expand_prepend", y, [["expand", 2, 3, 4, 5]])
    add(g, "expand_keep", y, [["expand", -1, 4, -1]])
    add(g, "expand_transpose_reshape_copies", y, [["expand", 3, 4, 5], ["transpose", 0, 1], ["reshape", 12, 5]])
    add(g, "expand_reshape_copies", y, [["expand", 2, 3, 1, 5], ["reshape", 6, 5]])
    add(g, "expand_reshape_is_view", y, [["expand", 2, 3, 1, 5], ["reshape", 2, 15]])
    add(g, "expand_non_unit", y, [["expand", 3, 1, 4]])
    # unsqueeze / squeeze
    add(g, "unsqueeze_front", x, [["unsqueeze", 0]])
    add(g, "unsqueeze_back", x, [["unsqueeze", -1]])
    add(g, "unsqueeze_transposed", x, [["transpose", 1, 3], ["unsqueeze", 2]])
    add(g, "unsqueeze_strided_end", x, [["slice", 3, 0, None, 2], ["unsqueeze", 4]])
    add(g, "squeeze", y, [["squeeze", 1]])
    add(g, "squeeze_negative", y, [["squeeze", -2]])
    add(g, "squeeze_non_unit_is_noop", y, [["squeeze", 0]])
    # split / chunk (torch semantics for uneven chunks)
    add(g, "split", x, [["split", 2, [1, 2, 1]]])
    add(g, "split_empty_piece", x, [["split", -1, [0, 5]]])
    add(g, "split_take_reshape_copies", x, [["split", 1, [2, 1]], ["take", 0], ["reshape", -1]])
    add(g, "split_bad_sizes", x, [["split", 1, [2, 2]]])
    z = randn(4, 2, 10, 3)
    add(g, "chunk_uneven", z, [["chunk", 4, 1]])
    add(g, "chunk_fewer_pieces", randn(5, 5, 2), [["chunk", 4, 0]])
    add(g, "chunk_last_dim", x, [["chunk", 3, -1]])
    add(g, "chunk_more_than_size", randn(6, 2, 3), [["chunk", 7, 0]])
    add(g, "chunk_exact", z, [["chunk", 5, 1]])
    add(g, "chunk_empty_dim", torch.zeros(2, 0), [["chunk", 3, 1]])
    add(g, "chunk_zero", z, [["chunk", 0, 1]])
    # flatten
    add(g, "flatten_middle", x, [["flatten", 1, 2]])
    add(g, "flatten_all", x, [["flatten", 0, -1]])
    add(g, "flatten_permuted_copies", x, [["permute", 0, 2, 1, 3], ["flatten", 2, 3]])
    add(g, "flatten_permuted_is_view", x, [["permute", 1, 0, 2, 3], ["flatten", 2, 3]])
    add(g, "flatten_reversed", x, [["flatten", 2, 1]])
    # a long chain mixing everything
    add(g, "long_chain", x, [["permute", 3, 1, 0, 2], ["slice", 0, 1, 4, 2], ["select", 2, 0], ["unsqueeze", 1],
                             ["expand", -1, 3, -1, -1], ["transpose", 0, 3], ["narrow", 1, 1, 2]])
    # bf16 storage: views and copies keep the dtype
    xb = randn(7, 3, 4, 6, dtype=torch.bfloat16)
    add(g, "bf16_strided", xb, [["transpose", 0, 2], ["slice", 1, None, None, 2]])
    add(g, "bf16_permute_reshape_is_view", xb, [["permute", 2, 0, 1], ["reshape", 6, 12]])
    add(g, "bf16_reshape_copies", xb, [["permute", 2, 1, 0], ["reshape", 6, 12]])
    add(g, "bf16_narrow_chunk", xb, [["narrow", 2, 1, 4], ["chunk", 2, 2]])
    # int8 with per-output-channel scales: the scales must follow the rows
    q = torch.randint(-128, 128, (6, 10), generator=gen(8), dtype=torch.int64).to(torch.int8)
    s = (randn(9, 6).abs() + 0.05) * 0.01
    add(g, "int8_narrow_rows", q, [["narrow", 0, 1, 3]], scale=s)
    add(g, "int8_slice_rows", q, [["slice", 0, -5, None, 2]], scale=s)
    add(g, "int8_select_row", q, [["select", 0, 2]], scale=s)
    add(g, "int8_select_row_narrow", q, [["select", 0, -1], ["narrow", 0, 2, 5]], scale=s)
    add(g, "int8_narrow_cols", q, [["narrow", 1, 2, 5]], scale=s)
    add(g, "int8_view_keeps_rows", q, [["view", 6, 2, 5]], scale=s)
    add(g, "int8_view_select_col", q, [["view", 6, 2, 5], ["select", 1, 1]], scale=s)
    add(g, "int8_unsqueeze", q, [["unsqueeze", 1]], scale=s)
    add(g, "int8_expand_cols", q, [["narrow", 1, 0, 1], ["expand", 6, 4]], scale=s)
    add(g, "int8_chunk_rows", q, [["chunk", 4, 0]], scale=s)
    add(g, "int8_split_rows", q, [["split", 0, [1, 5]]], scale=s)
    add(g, "int8_narrow_reshape", q, [["narrow", 1, 0, 6], ["reshape", 6, 2, 3]], scale=s)
    add(g, "int8_reshape_rows", q, [["reshape", -1]], scale=s, java_copies=True)
    add(g, "int8_flatten", q, [["flatten", 0, 1]], scale=s, java_copies=True)
    q3 = torch.randint(-128, 128, (4, 3, 5), generator=gen(10), dtype=torch.int64).to(torch.int8)
    s3 = (randn(11, 4).abs() + 0.05) * 0.01
    add(g, "int8_3d_permute_inner", q3, [["permute", 0, 2, 1]], scale=s3)
    add(g, "int8_3d_select_inner", q3, [["select", 1, 2], ["squeeze", 0]], scale=s3)
    add(g, "int8_3d_slice_rows_step", q3, [["slice", 0, 0, None, 3], ["transpose", 1, 2]], scale=s3)
    g.save(out)
