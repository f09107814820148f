"""Shape ops that produce data: torch.cat and F.embedding.

cat.safetensors        roles t0, t1, ... (the inputs in order), out; params dim, count, views (optional, see views.py)
embedding.safetensors  roles w, ids (I32 or I64), out; params views
Mixed input dtypes are promoted by torch to f32, which is the engine's result dtype; gathers and copies are exact.
"""
import torch
import torch.nn.functional as F

from .common import Golden, gen, randn
from .views import viewed

BF = torch.bfloat16


def cat(out_dir):
    g = Golden("cat")

    def case(name, dim, tensors, views=None):
        p = {"dim": dim, "count": len(tensors)}
        if views:
            p["views"] = views
        stored = {f"t{i}": t for i, t in enumerate(tensors)}
        v = viewed(p, **stored)
        ref = torch.cat([v[f"t{i}"] for i in range(len(tensors))], dim)
        g.case(name, p, precision="f32", out=ref.float(), **stored)

    case("dim0_3parts", 0, [randn(1, 2, 7), randn(2, 5, 7), randn(3, 1, 7)])
    case("dim1_odd", 1, [randn(4, 3, 13, 5), randn(5, 3, 7, 5), randn(6, 3, 67, 5)])
    case("dim_last_neg", -1, [randn(7, 2, 3, 13), randn(8, 2, 3, 1), randn(9, 2, 3, 67)])
    case("dim2_of_4d", 2, [randn(10, 2, 3, 4, 5), randn(11, 2, 3, 6, 5)])
    case("single", 1, [randn(12, 3, 7)])
    case("empty_part", 1, [randn(13, 2, 3), torch.empty(2, 0), randn(14, 2, 4)])
    # FLUX: text and image tokens joined along the sequence; mixed storage dtypes promote to f32
    case("mixed_dtypes", 1, [randn(15, 1, 5, 16), randn(16, 1, 7, 16, dtype=BF),
                             randn(17, 1, 3, 16, dtype=torch.float16)])
    # non-contiguous inputs: a transposed one, a stride-0 expanded one, a strided slice
    case("views", 0, [randn(18, 13, 4), randn(19, 1, 13), randn(20, 5, 26)],
         views={"t0": [["transpose", 0, 1]], "t1": [["expand", [3, 13]]], "t2": [["slice", 1, 1, 26, 2]]})
    case("views_dim1", 1, [randn(21, 6, 3, 2), randn(22, 2, 4, 2)],
         views={"t0": [["permute", [2, 1, 0]], ["slice", 2, 0, 6, 3]]})
    g.save(out_dir)


def embedding(out_dir):
    g = Golden("embedding")

    def case(name, w, ids, views=None):
        p = {"views": views} if views else {}
        v = viewed(p, w=w, ids=ids)
        g.case(name, p, precision="f32", w=w, ids=ids, out=F.embedding(v["ids"], v["w"]).float())

    def ids(seed, vocab, *shape, dtype=torch.int64):
        return torch.randint(0, vocab, shape, generator=gen(seed)).to(dtype)

    case("i64_2x7", randn(1, 50, 13), ids(2, 50, 2, 7))
    case("i32_1d", randn(3, 50, 13), ids(4, 50, 9, dtype=torch.int32))
    case("i64_scalar_id", randn(5, 20, 7), ids(6, 20, 1)[0])
    case("i32_3d_repeats", randn(7, 5, 16), ids(8, 5, 2, 3, 4, dtype=torch.int32))
    # T5-like: a bf16 table (gathered exactly), odd width
    case("bf16_table", randn(9, 300, 67, dtype=BF), ids(10, 300, 1, 77))
    case("first_and_last_rows", randn(11, 64, 5), torch.tensor([[0, 63, 0, 63]]))
    # non-contiguous: the table stored transposed, ids a strided slice
    case("views", randn(12, 13, 40), ids(13, 40, 3, 10),
         views={"w": [["transpose", 0, 1]], "ids": [["slice", 1, 0, 10, 3]]})
    g.save(out_dir)


def generate(out_dir):
    cat(out_dir)
    embedding(out_dir)
