"""T5 encoder goldens: transformers 4.51.3 T5EncoderModel (T5 v1.1, FLUX's text_encoder_2) with a tiny random config.

Writes golden/t5/model (f32 weights) and golden/t5/model_bf16 (the same weights in bf16), each an HF folder
(config.json + model.safetensors), and golden/t5/outputs.safetensors with cases:
  unmasked   ids [2, 24] without an attention mask, as FluxPipeline._get_t5_prompt_embeds calls the encoder
             (sequence longer than relative_attention_max_distance, so the logarithmic buckets are used)
  masked     the same ids with an attention mask [2, 24] (I32) that hides padding at the end of row 0
  bf16_weights  model_bf16 computed by torch in f32 (the weights upcast), as the engine computes, unmasked.
             (Torch's run in bf16 end to end is 1.4e-2 away from this, from rounding activations to bf16 after every
             op, so it is not a 1e-2 golden for an f32 computation.)
Each case holds ids (I32) and last_hidden_state.
Also golden/t5/buckets.safetensors: T5Attention._relative_position_bucket for relative positions -600..600
(case "<num_buckets>_<max_distance>", bidirectional, I32), for the tiny config and FLUX's (32 buckets, distance 128).
"""
import torch
from transformers import T5Config, T5EncoderModel
from transformers.models.t5.modeling_t5 import T5Attention

from goldens.common import Golden, gen

VOCAB = 256
LENGTH = 24


def tiny_model():
    config = T5Config(vocab_size=VOCAB, d_model=64, d_kv=16, d_ff=96, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
                      layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", is_encoder_decoder=False,
                      use_cache=False, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = T5EncoderModel(config).eval()
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(model.named_parameters())):
            g = gen(200 + i)
            if "layer_norm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif "relative_attention_bias" in name or name == "shared.weight":
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    return model


def inputs():
    ids = torch.randint(2, VOCAB, (2, LENGTH), generator=gen(3))
    ids[0, 15] = 1  # </s>
    ids[0, 16:] = 0  # <pad>
    ids[1, LENGTH - 1] = 1
    mask = torch.ones(2, LENGTH, dtype=torch.int32)
    mask[0, 16:] = 0
    return ids, mask


def run(model, ids, mask=None):
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask)
    return dict(ids=ids.to(torch.int32), attention_mask=mask, last_hidden_state=out.last_hidden_state.float())


def generate(out_dir):
    folder = out_dir / "t5"
    model = tiny_model()
    model.save_pretrained(folder / "model", safe_serialization=True)
    ids, mask = inputs()
    golden = Golden("outputs")
    golden.case("unmasked", {"model": "model"}, **run(model, ids))
    golden.case("masked", {"model": "model"}, **run(model, ids, mask))
    low = tiny_model().to(torch.bfloat16)
    low.save_pretrained(folder / "model_bf16", safe_serialization=True)
    golden.case("bf16_weights", {"model": "model_bf16"}, **run(low.float(), ids))
    golden.save(folder)

    buckets = Golden("buckets")
    relative = torch.arange(-600, 601)
    for num_buckets, max_distance in ((8, 16), (32, 128)):
        table = T5Attention._relative_position_bucket(relative, True, num_buckets, max_distance)
        buckets.case(f"{num_buckets}_{max_distance}", {"num_buckets": num_buckets, "max_distance": max_distance,
                                                       "first": -600}, buckets=table.to(torch.int32))
    buckets.save(folder)
