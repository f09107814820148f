"""View steps that turn a stored (contiguous) golden tensor into the strided input an op is called with.

A case that tests a non-contiguous input stores the base tensor and lists, under the parameter "views", the steps
per role: {"x": [["transpose", 0, 1]], "y": [["expand", [13, 67]]]}. The reference is computed by torch on the
viewed tensor; the Java test (engine/src/test/java/dev/likeness/engine/ops/ViewSpec.java) applies the same steps
with the engine's Tensor views before calling the op. Steps:
  ["permute", [dims]]              t.permute(dims)
  ["transpose", a, b]              t.transpose(a, b)
  ["slice", dim, start, end, step] t[..., start:end:step, ...] on dimension dim
  ["expand", [sizes]]              t.expand(sizes)
  ["unsqueeze", dim]               t.unsqueeze(dim)
  ["select", dim, index]           t.select(dim, index)
"""


def apply_views(t, steps):
    for step in steps or []:
        op, args = step[0], step[1:]
        if op == "permute":
            t = t.permute(*args[0])
        elif op == "transpose":
            t = t.transpose(args[0], args[1])
        elif op == "slice":
            dim, start, end, stride = args
            index = [slice(None)] * t.dim()
            index[dim] = slice(start, end, stride)
            t = t[tuple(index)]
        elif op == "expand":
            t = t.expand(*args[0])
        elif op == "unsqueeze":
            t = t.unsqueeze(args[0])
        elif op == "select":
            t = t.select(args[0], args[1])
        else:
            raise ValueError(f"unknown view step {step}")
    return t


def viewed(params, **stored):
    """The inputs the op sees: each stored tensor with its view steps from params["views"] applied."""
    steps = params.get("views", {})
    return {role: (apply_views(t, steps.get(role)) if t is not None else None) for role, t in stored.items()}
