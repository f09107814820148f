"""The built-in tiny model and the whole-pipeline golden: the official InstantCharacterFluxPipeline end to end.

The tiny model has the real architecture of every component (FLUX transformer with guidance, 16-channel-style VAE
with FLUX's scaling and shift, CLIP-L-style text encoder on the real CLIP vocabulary, T5 encoder, SigLIP with 27
layers and DINOv2 with 30 so that the hidden states the adapter reads exist, the InstantCharacter projector and IP
attention processors) at tiny widths. Its weights are not stored anywhere: every value is a function of the
tensor's name and the element's index (``synthetic`` below, mirrored by the Java ``SyntheticWeights``), scaled per
tensor by a rule recorded in the manifest. The manifest (configs, tensor names, shapes, scale and offset) is written to
pipeline/src/main/resources/dev/likeness/pipeline/tiny/manifest.json; the Java side builds the same folders from it.

The golden (pipeline/src/test/resources/golden/instantcharacter/): a procedural subject image (subject.png) and, per
case, the inputs, the initial noise, the packed latents after every denoising step and the decoded image, computed by
the official pipeline class (Tencent's pipeline.py, models/*.py at the pinned commit) on these tiny components in f32.
The official code hard-codes the full-size adapter widths in ``init_adapter``/``init_ccp_and_attn_processor``, so the
components are attached here the way those methods attach them, with the tiny widths.
"""
import gzip
import io
import json
import math
import pathlib
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

from goldens.common import Golden, synthetic_draws

ROOT = pathlib.Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "pipeline" / "src" / "main" / "resources" / "dev" / "likeness" / "pipeline" / "tiny" / "manifest.json"
TOKENIZERS = ROOT / "pipeline" / "src" / "main" / "resources" / "dev" / "likeness" / "pipeline" / "tiny"

TRANSFORMER = dict(patch_size=1, in_channels=16, out_channels=None, num_layers=2, num_single_layers=2,
                   attention_head_dim=128, num_attention_heads=1, joint_attention_dim=32, pooled_projection_dim=32,
                   guidance_embeds=True, axes_dims_rope=(16, 56, 56))
# the official IP processor hard-codes its q/k RMSNorm width to 128: the head width must be FLUX's 128
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, down_block_types=["DownEncoderBlock2D"] * 4,
           up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[8, 8, 16, 16], layers_per_block=1,
           norm_num_groups=4, act_fn="silu", sample_size=64, scaling_factor=0.3611, shift_factor=0.1159,
           use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=True)
# CLIP-L's token ids and pooling (eos_token_id 2 → argmax pooling, as the real config has), tiny widths
CLIP = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=32, bos_token_id=0, eos_token_id=2,
            pad_token_id=1, layer_norm_eps=1e-5)
T5 = dict(vocab_size=3100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=32,
          relative_attention_max_distance=128, dropout_rate=0.0, layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu",
          is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False)
SIGLIP = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=27, num_attention_heads=2, image_size=384,
              patch_size=14, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)
DINOV2 = dict(hidden_size=16, num_hidden_layers=30, num_attention_heads=2, mlp_ratio=4, image_size=518, patch_size=14,
              use_swiglu_ffn=True, layerscale_value=1.0, layer_norm_eps=1e-6, qkv_bias=True)
PROJECTOR = dict(inner_dim=32, num_attention_heads=2, attention_head_dim=16, cross_attention_dim=32, num_layers=2,
                 dim=32, depth=2, dim_head=16, heads=2, num_queries=16, embedding_dim=32, output_dim=32, ff_mult=2,
                 timestep_in_dim=32, timestep_flip_sin_to_cos=True, timestep_freq_shift=0)
SCHEDULER = dict(base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15,
                 num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True)

CASES = {
    # name: prompt, negative prompt, true cfg, width, height, steps, guidance, subject scale, seed
    "main": ("a tiny robot reading a book, watercolor", None, 1.0, 160, 128, 4, 3.5, 0.9, 42),
    "negative": ("a knight in a forest", "blurry, dark", 4.0, 64, 96, 2, 2.0, 1.5, 7),
}


# ---------------------------------------------------------------------------------------------------------------------
# synthetic weights


def synthetic(name, shape, scale, offset, seed=0):
    """value_i = offset + scale * k_i / 128 (k_i from common.synthetic_draws); the product and the sum are each rounded
    to f32 once (scale is a power of two, so the product is exact). Mirrored by SyntheticWeights.values in Java."""
    n = int(np.prod(shape)) if len(shape) else 1
    k = synthetic_draws(name, n, seed)
    v = k.astype(np.float32) * np.float32(scale / 128.0) + np.float32(offset)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


NORM_TYPES = ("LayerNorm", "GroupNorm", "RMSNorm", "T5LayerNorm", "AdaLayerNorm")


def rule(model, name, p):
    """(scale, offset) for one parameter: norm scales 1 ± 1/8, biases ± 1/16, embeddings and learned queries ± 1,
    matrices ± 2^round(log2 √(3/fan_in)) (a uniform of variance ≈ 1/fan_in)."""
    owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    kind = type(owner).__name__
    leaf = name.rsplit(".", 1)[-1]
    if any(t in kind for t in NORM_TYPES) and leaf in ("weight", "scale"):
        return 0.125, 1.0
    if leaf in ("lambda1", "lambda2"):
        return 0.125, 1.0
    if leaf == "bias":
        return 0.0625, 0.0
    if kind == "Embedding" or leaf in ("latents", "cls_token", "mask_token", "position_embeddings", "probe"):
        return 1.0, 0.0
    fan_in = p[0].numel() if p.dim() > 1 else p.numel()
    return 2.0 ** round(math.log2(math.sqrt(3.0 / fan_in))), 0.0


def fill(model, entries, prefix=""):
    """Sets every parameter of model from the generator and records it in entries: [name, shape, scale, offset]."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale, offset = rule(model, name, p)
            key = prefix + name
            p.copy_(synthetic(key, tuple(p.shape), scale, offset))
            entries.append([key, list(p.shape), scale, offset])


# ---------------------------------------------------------------------------------------------------------------------
# the components


def official():
    from goldens.official import instantcharacter_source  # the pinned official code (never committed)
    src = str(instantcharacter_source())
    if src not in sys.path:
        sys.path.insert(0, src)
    import pipeline as ic_pipeline
    from models.attn_processor import FluxIPAttnProcessor
    from models.resampler import CrossLayerCrossScaleProjector
    return ic_pipeline.InstantCharacterFluxPipeline, FluxIPAttnProcessor, CrossLayerCrossScaleProjector


def tokenizer_dirs(tmp):
    """The CLIP (vocab.json + merges.txt) and T5 (spiece.model) tokenizer folders from the shipped resources."""
    from transformers import CLIPTokenizer, T5TokenizerFast
    clip = tmp / "tokenizer"
    t5 = tmp / "tokenizer_2"
    clip.mkdir()
    t5.mkdir()
    for src, dst in (("clip-vocab.json.gz", clip / "vocab.json"), ("clip-merges.txt.gz", clip / "merges.txt"),
                     ("t5-tokenizer.json.gz", t5 / "tokenizer.json")):
        dst.write_bytes(gzip.decompress((TOKENIZERS / src).read_bytes()))
    # FLUX.1-dev's tokenizer configs set model_max_length 77 and 512 (FluxPipeline pads to these); like FLUX.1-dev's
    # tokenizer_2, the T5 tokenizer is a tokenizer.json (the fast tokenizer's own file: converted tokenizers can split
    # a lone leading "▁" differently from the SentencePiece model they came from)
    return CLIPTokenizer(str(clip / "vocab.json"), str(clip / "merges.txt"), model_max_length=77), \
        T5TokenizerFast(tokenizer_file=str(t5 / "tokenizer.json"), model_max_length=512)


def components():
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import (BitImageProcessor, CLIPTextConfig, CLIPTextModel, Dinov2Config, Dinov2Model,
                              SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel, T5Config, T5EncoderModel)
    Pipeline, IPProcessor, Projector = official()
    manifest = {}

    def component(key, model, folder, file, config):
        entries = []
        fill(model, entries, "")
        # private bookkeeping keys ("_use_default_values" is a set: its order changes from run to run) are left out
        config = {k: v for k, v in config.items() if not k.startswith("_")}
        manifest[key] = dict(folder=folder, file=file, config=config, tensors=entries)
        return model.eval()

    transformer = FluxTransformer2DModel(**TRANSFORMER)
    component("transformer", transformer, "FLUX.1-dev/transformer", "diffusion_pytorch_model.safetensors",
              json.loads(json.dumps(dict(transformer.config))))
    vae = AutoencoderKL(**VAE)
    component("vae", vae, "FLUX.1-dev/vae", "diffusion_pytorch_model.safetensors", dict(vae.config))
    clip = CLIPTextModel(CLIPTextConfig(**CLIP))
    component("text_encoder", clip, "FLUX.1-dev/text_encoder", "model.safetensors", clip.config.to_dict())
    t5 = T5EncoderModel(T5Config(**T5))
    component("text_encoder_2", t5, "FLUX.1-dev/text_encoder_2", "model.safetensors", t5.config.to_dict())
    siglip = SiglipVisionModel(SiglipVisionConfig(**SIGLIP))
    component("siglip", siglip, "siglip-so400m-patch14-384", "model.safetensors", siglip.config.to_dict())
    dino = Dinov2Model(Dinov2Config(**DINOV2))
    component("dinov2", dino, "dinov2-giant", "model.safetensors", dino.config.to_dict())

    # the adapter as init_ccp_and_attn_processor builds it, with tiny widths
    processors = {}
    for name in transformer.attn_processors:
        processors[name] = IPProcessor(hidden_size=TRANSFORMER["attention_head_dim"] * TRANSFORMER["num_attention_heads"],
                                       ip_hidden_states_dim=T5["d_model"])
    transformer.set_attn_processor(processors)
    ip_layers = torch.nn.ModuleList(transformer.attn_processors.values())
    projector = Projector(**PROJECTOR)
    entries = []
    fill(projector, entries, "image_proj.")
    fill(ip_layers, entries, "ip_adapter.")
    adapter_config = dict(PROJECTOR, ip_hidden_size=TRANSFORMER["attention_head_dim"] * TRANSFORMER["num_attention_heads"],
                          ip_head_dim=TRANSFORMER["attention_head_dim"], ip_hidden_states_dim=T5["d_model"],
                          num_processors=len(ip_layers))
    manifest["adapter"] = dict(folder="InstantCharacter", file="instantcharacter_ip-adapter.safetensors",
                               config=adapter_config, tensors=entries)
    projector.eval()

    scheduler = FlowMatchEulerDiscreteScheduler(**SCHEDULER)
    manifest["scheduler"] = dict(folder="FLUX.1-dev/scheduler", file="scheduler_config.json", config=SCHEDULER)

    tmp = pathlib.Path(tempfile.mkdtemp())
    clip_tok, t5_tok = tokenizer_dirs(tmp)
    pipe = Pipeline(scheduler=scheduler, vae=vae, text_encoder=clip, tokenizer=clip_tok, text_encoder_2=t5,
                    tokenizer_2=t5_tok, transformer=transformer)
    # init_adapter's attributes: the encoders, their processors (so400m's and dinov2's preprocessor configs, with the
    # pipeline's 384 override for DINOv2) and the projector
    pipe.siglip_image_encoder = siglip
    pipe.siglip_image_processor = SiglipImageProcessor(do_resize=True, size={"height": 384, "width": 384},
                                                       resample=3, do_rescale=True, rescale_factor=1 / 255,
                                                       do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    dino_processor = BitImageProcessor(do_resize=True, size={"shortest_edge": 256}, resample=3, do_center_crop=True,
                                       crop_size={"height": 224, "width": 224}, do_rescale=True,
                                       rescale_factor=1 / 255, do_normalize=True,
                                       image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
                                       do_convert_rgb=True)
    dino_processor.crop_size = dict(height=384, width=384)
    dino_processor.size = dict(shortest_edge=384)
    pipe.dino_image_encoder_2 = dino
    pipe.dino_image_processor_2 = dino_processor
    pipe.subject_image_proj_model = projector
    return pipe, manifest


def subject_png():
    """A 200×136 RGB test subject: smooth gradients, a disc and a bar, with seeded noise (PNG bytes)."""
    h, w = 136, 200
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(5)
    r = 128 + 100 * np.sin(x / 17.0) * np.cos(y / 23.0)
    g = 255 * x / w
    b = 255 * y / h
    disc = (x - 120) ** 2 + (y - 60) ** 2 < 35 ** 2
    r[disc], g[disc], b[disc] = 240, 200, 40
    bar = (x > 20) & (x < 60) & (y > 80) & (y < 120)
    r[bar], g[bar], b[bar] = 20, 60, 200
    img = np.stack([r, g, b], -1) + rng.normal(0, 6, (h, w, 3))
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def generate(out_dir):
    torch.manual_seed(0)
    pipe, manifest = components()
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(json.dumps(dict(format=1, seed=0, components=manifest), sort_keys=True, indent=1) + "\n")

    out = out_dir / "instantcharacter"
    out.mkdir(parents=True, exist_ok=True)
    png = subject_png()
    (out / "subject.png").write_bytes(png)
    subject = Image.open(io.BytesIO(png)).convert("RGB")

    golden = Golden("pipeline")
    for case, (prompt, negative, true_cfg, width, height, steps, guidance, scale, seed) in CASES.items():
        steps_seen = []
        noise = {}

        def on_step(p, i, t, kwargs):
            steps_seen.append(kwargs["latents"].detach().clone())
            return kwargs

        original = pipe.prepare_latents

        def prepare_latents(*args, **kwargs):
            latents, ids = original(*args, **kwargs)
            noise["packed"] = latents.detach().clone()
            return latents, ids

        pipe.prepare_latents = prepare_latents
        with torch.no_grad():
            result = pipe(prompt=prompt, negative_prompt=negative, true_cfg_scale=true_cfg, height=height,
                          width=width, num_inference_steps=steps, guidance_scale=guidance,
                          generator=torch.Generator("cpu").manual_seed(seed), subject_image=subject,
                          subject_scale=scale, output_type="np", callback_on_step_end=on_step,
                          callback_on_step_end_tensor_inputs=["latents"])
        pipe.prepare_latents = original
        image = torch.from_numpy(np.ascontiguousarray(result.images.transpose(0, 3, 1, 2))).float()
        uint8 = torch.from_numpy((result.images * 255).round().astype(np.uint8).transpose(0, 3, 1, 2).copy())
        tensors = dict(noise=noise["packed"], image=image, image_uint8=uint8)
        for i, lat in enumerate(steps_seen):
            tensors[f"latents_{i}"] = lat
        golden.case(case, dict(prompt=prompt, negative_prompt=negative or "", true_cfg_scale=true_cfg, width=width,
                               height=height, steps=steps, guidance_scale=guidance, scale=scale, seed=seed),
                    **tensors)
    golden.save(out)
