"""CLIP text encoder goldens: transformers 4.51.3 CLIPTextModel (FLUX's text_encoder) with a tiny random config.

Writes golden/clip_text/model (f32 weights), golden/clip_text/model_bf16 (the same weights in bf16), each an HF folder
(config.json + model.safetensors), and golden/clip_text/outputs.safetensors with cases:
  legacy_eos   eos_token_id == 2 (the openai CLIP-L config FLUX ships): pooled = hidden state at argmax(input_ids);
               rows end in the largest id, row 0 padded with it after the end token, as the FLUX tokenizer pads
  first_eos    the same weights with eos_token_id set to a small id: pooled = hidden state at its first occurrence
  bf16_weights model_bf16 computed by torch in f32 (the weights upcast), as the engine computes: checked at 1e-4
  bf16         model_bf16 run by torch in bfloat16 end to end (activations rounded to bf16 after every op), checked at
               1e-2: torch's own bf16 run is about 5e-3 away from the f32 computation on the same weights
Each case holds ids [B, L] (I32), last_hidden_state, pooler_output and hidden_states_1 (the output of layer 0).
"""
import torch
from transformers import CLIPTextConfig, CLIPTextModel

from goldens.common import Golden, gen

VOCAB = 256
LENGTH = 16
FIRST_EOS = 7


def tiny_model():
    config = CLIPTextConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=LENGTH, hidden_act="quick_gelu",
                            layer_norm_eps=1e-5, bos_token_id=VOCAB - 2, eos_token_id=2, pad_token_id=1,
                            projection_dim=32)
    torch.manual_seed(0)
    model = CLIPTextModel(config).eval()
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(model.named_parameters())):
            g = gen(100 + i)
            if "layer_norm" in name or name.endswith("norm.weight") or "final_layer_norm" in name:
                if name.endswith("weight"):
                    p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    return model


def legacy_ids():
    """Row 0: bos, 8 tokens, eos, then padded with eos; row 1: bos, 14 tokens, eos (no padding)."""
    g = gen(1)
    eos = VOCAB - 1
    ids = torch.randint(0, VOCAB - 2, (2, LENGTH), generator=g)
    ids[:, 0] = VOCAB - 2
    ids[0, 9:] = eos
    ids[1, LENGTH - 1] = eos
    return ids


def first_eos_ids():
    """Ids drawn above FIRST_EOS, with FIRST_EOS at position 5 (then repeated as padding) and 12; larger ids follow."""
    g = gen(2)
    ids = torch.randint(FIRST_EOS + 1, VOCAB, (2, LENGTH), generator=g)
    ids[0, 5:] = FIRST_EOS
    ids[1, 12] = FIRST_EOS
    return ids


def run(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    return dict(ids=ids.to(torch.int32), last_hidden_state=out.last_hidden_state.float(),
                pooler_output=out.pooler_output.float(), hidden_states_1=out.hidden_states[1].float())


def generate(out_dir):
    folder = out_dir / "clip_text"
    model = tiny_model()
    model.save_pretrained(folder / "model", safe_serialization=True)
    golden = Golden("outputs")
    golden.case("legacy_eos", {"model": "model", "eos_token_id": 2}, **run(model, legacy_ids()))
    model.config.eos_token_id = FIRST_EOS
    model.text_model.eos_token_id = FIRST_EOS
    golden.case("first_eos", {"model": "model", "eos_token_id": FIRST_EOS}, **run(model, first_eos_ids()))
    model.config.eos_token_id = 2
    model.text_model.eos_token_id = 2
    low = tiny_model().to(torch.bfloat16)
    low.save_pretrained(folder / "model_bf16", safe_serialization=True)
    golden.case("bf16", {"model": "model_bf16", "eos_token_id": 2}, precision="bf16", **run(low, legacy_ids()))
    golden.case("bf16_weights", {"model": "model_bf16", "eos_token_id": 2}, **run(low.float(), legacy_ids()))
    golden.save(folder)
