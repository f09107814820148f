"""InstantCharacter adapter goldens: the OFFICIAL modules (models/resampler.py, models/attn_processor.py,
models/norm_layer.py of Tencent-Hunyuan/InstantCharacter at the commit pinned in official.py) with a tiny config.

The official source is not committed: official.py finds it ($INSTANTCHARACTER_SRC or a download) and checks its sha256.
Needs the flux goldens first (golden/flux/model is the tiny FLUX transformer the processors are installed in).

Writes under golden/instantcharacter_adapter/ (the set is not called "instantcharacter": that name is the
whole-pipeline golden, pipeline_instantcharacter.py):
  adapter/       config.json (our format, see below) and instantcharacter_ip-adapter.bin, written as the published
                 file is: torch.save({"image_proj": CrossLayerCrossScaleProjector.state_dict(),
                 "ip_adapter": ModuleList(processors in attn_processors order).state_dict()}), f32 tensors
  adapter_bf16/  the same weights rounded to bf16 (the published checkpoint is bf16), same config.json
  outputs.safetensors  cases (precision f32: the Java side computes in f32 with the weights upcast, as torch does here):
    projector_t<T>   features low_res_shallow [1, 15, 16], low_res_deep [1, 5, 16], high_res_deep [1, 20, 16] and a
                     bf16-rounded timestep [1] on the 0..1000 scale; expected features (H, the resampler's input
                     [1, 10, 16]), temb [1, 20] and subject_tokens (E [1, 6, 12]); params adapter
    projector_batch2 two different feature sets with two timesteps (batch 2)
    projector_bf16   adapter_bf16 weights (upcast to f32) on projector_t510's inputs
    flux_scale<S>    golden/flux/model with the official FluxIPAttnProcessor in all 4 processors (2 double, then 2
                     single blocks), subject_emb_dict {ip_hidden_states: E, scale: S}, batch 1 (the first item of the
                     flux goldens' inputs); E is projector_t510's; expected sample, double_img, single; scale 0 also
                     has plain_sample (the transformer with its default processors: must be equal)
    flux_batch2_one_e   the flux goldens' batch-2 inputs with E of batch 1 at scale 0.9 (the reference broadcasts E
                     in its SDPA), params e_broadcast
    flux_bf16        adapter_bf16 processors at scale 0.9

config.json (ours; the published checkpoint has none, and the Java side then uses pipeline.py's values), one object:
  the CrossLayerCrossScaleProjector constructor arguments (inner_dim, num_attention_heads, attention_head_dim,
  cross_attention_dim, num_layers, dim, depth, dim_head, heads, num_queries, embedding_dim, output_dim, ff_mult,
  timestep_in_dim, timestep_flip_sin_to_cos, timestep_freq_shift), ip_hidden_size and ip_hidden_states_dim (the
  FluxIPAttnProcessor arguments), ip_head_dim (its RMSNorm size, FLUX's head dim) and num_processors

The published processor hard-codes RMSNorm(128), FLUX.1's head dim. The tiny FLUX has head dim 16, so each processor's
norm_ip_q / norm_ip_k are replaced by the same official RMSNorm class built with d=16 (eps 1e-6, as published).
"""
import json

import torch
from diffusers import FluxTransformer2DModel

from goldens.common import Golden, gen, randn
from goldens.official import official_modules
from goldens import models_flux

PROJ = dict(inner_dim=16, num_attention_heads=2, attention_head_dim=12, cross_attention_dim=16, num_layers=2,
            dim=20, depth=2, dim_head=8, heads=2, num_queries=6, embedding_dim=16, output_dim=12, ff_mult=4,
            timestep_in_dim=32, timestep_flip_sin_to_cos=True, timestep_freq_shift=0)
DEEP = 5  # tokens per image: 729 published (27 x 27)


def randomize(module, seed):
    """Seeded weights giving activations of order one: norms near 1, small biases, weights ~ 1/sqrt(fan_in)."""
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(module.named_parameters())):
            g = gen(seed + i)
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "scale" or (leaf == "weight" and p.dim() == 1):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif leaf == "bias":
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
            else:  # the resampler's latents
                p.copy_(torch.randn(p.shape, generator=g))


def features(seed, batch=1):
    c = PROJ["embedding_dim"]
    return dict(low_res_shallow=randn(seed, batch, 3 * DEEP, c), low_res_deep=randn(seed + 1, batch, DEEP, c),
                high_res_deep=randn(seed + 2, batch, 4 * DEEP, c))


def bf16(values):
    """Timesteps as the pipeline gives them to the projector: t.expand(B).to(bf16)."""
    return torch.tensor(values, dtype=torch.float32).to(torch.bfloat16).float()


def run_projector(projector, x, timestep):
    captured = {}
    hook = projector.resampler.register_forward_pre_hook(lambda m, args, kw: captured.update(features=args[0]),
                                                         with_kwargs=True)
    with torch.no_grad():
        tokens, temb = projector(x["low_res_shallow"], x["low_res_deep"], x["high_res_deep"], timestep)
    hook.remove()
    return dict(x, timestep=timestep, features=captured["features"], temb=temb, subject_tokens=tokens)


def processors(flux, attn_processor, norm_layer, head_dim):
    procs = {}
    for i, name in enumerate(flux.attn_processors):
        p = attn_processor.FluxIPAttnProcessor(hidden_size=flux.config.num_attention_heads * head_dim,
                                               ip_hidden_states_dim=PROJ["output_dim"])
        p.norm_ip_q = norm_layer.RMSNorm(head_dim, eps=1e-6)
        p.norm_ip_k = norm_layer.RMSNorm(head_dim, eps=1e-6)
        randomize(p, 700 + 20 * i)
        procs[name] = p
    return procs


def run_flux(flux, x, tokens, scale):
    captured = {}
    hooks = [flux.transformer_blocks[-1].register_forward_hook(lambda m, a, out: captured.update(double_img=out[1])),
             flux.single_transformer_blocks[-1].register_forward_hook(lambda m, a, out: captured.update(single=out))]
    kwargs = None
    if tokens is not None:
        kwargs = {"emb_dict": {"length_encoder_hidden_states": x["encoder_hidden_states"].shape[1]},
                  "subject_emb_dict": {"ip_hidden_states": tokens, "scale": scale}}
    with torch.no_grad():
        sample = flux(return_dict=False, joint_attention_kwargs=kwargs, **x)[0]
    for h in hooks:
        h.remove()
    return dict(sample=sample, **captured)


def generate(out_dir):
    resampler, attn_processor, norm_layer = official_modules()
    folder = out_dir / "instantcharacter_adapter"
    flux_folder = out_dir / "flux" / "model"
    if not flux_folder.is_dir():
        raise SystemExit(f"{flux_folder} is missing: run tools/reference/run.sh flux first")
    golden = Golden("outputs")

    torch.manual_seed(0)
    projector = resampler.CrossLayerCrossScaleProjector(**PROJ).eval()
    randomize(projector, 500)
    flux = FluxTransformer2DModel.from_pretrained(flux_folder).eval()
    head_dim = flux.config.attention_head_dim
    procs = processors(flux, attn_processor, norm_layer, head_dim)
    config = dict(PROJ, ip_hidden_size=flux.config.num_attention_heads * head_dim,
                  ip_hidden_states_dim=PROJ["output_dim"], ip_head_dim=head_dim, num_processors=len(procs))
    state = {"image_proj": projector.state_dict(), "ip_adapter": torch.nn.ModuleList(procs.values()).state_dict()}
    for name, dtype in (("adapter", torch.float32), ("adapter_bf16", torch.bfloat16)):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        torch.save({part: {k: v.to(dtype).contiguous() for k, v in sd.items()} for part, sd in state.items()},
                   folder / name / "instantcharacter_ip-adapter.bin")

    x = features(40)
    for t in (1000.0, 873.0, 510.0, 12.34):
        case = run_projector(projector, x, bf16([t]))
        golden.case(f"projector_t{t:g}", {"adapter": "adapter"}, **case)
    tokens = run_projector(projector, x, bf16([510.0]))["subject_tokens"]
    x2 = features(50, batch=2)
    golden.case("projector_batch2", {"adapter": "adapter"}, **run_projector(projector, x2, bf16([999.0, 250.0])))

    low = resampler.CrossLayerCrossScaleProjector(**PROJ).eval()
    low.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in projector.state_dict().items()})
    golden.case("projector_bf16", {"adapter": "adapter_bf16"}, **run_projector(low, x, bf16([510.0])))

    # the transformer: the flux goldens' inputs, timestep t/1000 as FluxPipeline passes it
    fx = models_flux.inputs()
    fx["timestep"] = bf16([510.0, 510.0]) / 1000
    guidance = torch.tensor([3.5, 3.5])
    one = {k: (v[:1] if k in ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep") else v)
           for k, v in fx.items()}
    plain = run_flux(flux, dict(one, guidance=guidance[:1]), None, 0.0)["sample"]
    flux.set_attn_processor(dict(procs))  # diffusers empties the dict it is given
    for scale in (0.0, 0.9, 1.5):
        out = run_flux(flux, dict(one, guidance=guidance[:1]), tokens, scale)
        effect = ((out["sample"] - plain).norm() / plain.norm()).item()
        print(f"instantcharacter: subject scale {scale} changes the FLUX output by {effect:.3g}")
        extra = {}
        if scale == 0.0:
            if effect != 0.0:
                raise ValueError("scale 0 must reproduce plain FLUX")
            extra["plain_sample"] = plain
        elif effect < 1e-2:
            raise ValueError("the subject attention must change the output")
        golden.case(f"flux_scale{scale:g}", {"adapter": "adapter", "scale": scale}, **one, guidance=guidance[:1],
                    subject_tokens=tokens, **out, **extra)

    # batch 2 latents with one E: the official processor's SDPA broadcasts E's single batch over the latents'
    try:
        out = run_flux(flux, dict(fx, guidance=guidance), tokens, 0.9)
        broadcast = True
    except RuntimeError as e:
        print(f"instantcharacter: the reference refuses batch-2 latents with one E ({e}); E repeated instead")
        out = run_flux(flux, dict(fx, guidance=guidance), tokens.expand(2, -1, -1), 0.9)
        broadcast = False
    golden.case("flux_batch2_one_e", {"adapter": "adapter", "scale": 0.9, "e_broadcast": broadcast}, **fx,
                guidance=guidance, subject_tokens=tokens, **out)

    low_procs = processors(flux, attn_processor, norm_layer, head_dim)
    for name, p in low_procs.items():
        p.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in procs[name].state_dict().items()})
    flux.set_attn_processor(dict(low_procs))
    golden.case("flux_bf16", {"adapter": "adapter_bf16", "scale": 0.9}, **one, guidance=guidance[:1],
                subject_tokens=tokens, **run_flux(flux, dict(one, guidance=guidance[:1]), tokens, 0.9))
    golden.save(folder)
    print(json.dumps({str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}))
