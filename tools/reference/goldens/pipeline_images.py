"""Image goldens for the pipeline module: Pillow 11.2.1 resizing, the InstantCharacter subject preprocessing with the
real transformers processors, diffusers' output postprocessing, and Pillow's decoding of a few encoded files.

images/resize.safetensors: Pillow's default RGB resize (BICUBIC, support scaled when downscaling, 8-bit fixed-point
coefficients) for several sizes, upscale and downscale, one axis or both. Per case "in" [h, w, 3] uint8 and "out"
[H, W, 3] uint8.

images/subject.safetensors: InstantCharacter's encode_image_emb preprocessing (pipeline.py @ d254c73): the subject
image stretched to S x S (S = max(w, h)), resized to 384 x 384 (low res) and to 768 x 768 cut into four 384 tiles (TL,
TR, BL, BR), then SiglipImageProcessor (google/siglip-so400m-patch14-384's preprocessor_config) and BitImageProcessor
(facebook/dinov2's preprocessor_config with the pipeline's size/crop override to 384). The full outputs are large, so
each case stores SHA-256 digests of the exact bytes (uint8 images, float32 little-endian pixel tensors) in its
metadata, plus subsampled patches ("low", "high" every 8th/16th pixel, "siglip_low", ... every 32nd pixel) for
reporting differences. Inputs: "up" is stored (150 x 90, upscaled), "down" is a 600 x 420 integer pattern that
pattern(w, h) below defines and the Java test recomputes. Case "values" runs both processors at 16 x 16 on an image
holding every 8-bit value in every channel, and stores their full outputs.

images/postprocess.safetensors: VaeImageProcessor.postprocess(output_type="pil") of f32 and bf16 tensors in about
[-1.2, 1.2] (with exact k + 0.5 ties after scaling, in the f32 case): "x" [B, 3, H, W] and "out" [B, H, W, 3] uint8.

images/decode.safetensors: files encoded by Pillow ("file", uint8 bytes) and Pillow's decoding of them ("rgb"
[h, w, 3] uint8), alpha composited on white by pasting through the alpha mask, EXIF orientation applied with
ImageOps.exif_transpose: WebP lossless, lossy (noise, and a smooth image), lossless and lossy with alpha, JPEG 4:2:0, 4:4:4, progressive,
grayscale, CMYK (Adobe, inverted) and YCCK (a committed fixture: Pillow cannot write YCCK), PNG RGBA, gray + alpha and a palette with per-entry alpha, PNGs whose eXIf chunk
carries each of the 8 orientations, a JPEG with orientation 8 and a lossless WebP with orientation 6.
"""
import hashlib
import io
import json

import numpy as np
import PIL
import torch
from diffusers.image_processor import VaeImageProcessor
from PIL import Image, ImageOps
from safetensors.torch import save_file
from transformers import BitImageProcessor, SiglipImageProcessor

from goldens.common import gen

assert PIL.__version__ == "11.2.1", f"pillow {PIL.__version__}: the goldens describe Pillow 11.2.1"

RESIZE_CASES = [  # (in_w, in_h, out_w, out_h)
    (37, 23, 37, 37),  # vertical pass only (the pipeline's stretch to a square)
    (23, 37, 37, 37),  # horizontal pass only
    (50, 50, 17, 17),  # downscale, support scaled by ~2.9
    (40, 30, 96, 128),  # upscale, different factors
    (97, 61, 20, 45),  # down in x, slight down in y
    (48, 48, 96, 96),  # exact 2x
    (13, 7, 200, 3),  # extreme ratios
    (301, 5, 7, 5),  # heavy downscale, one axis
    (31, 19, 100, 90),  # upscale by ~3 and ~5
]


def pattern(w, h):
    """A deterministic integer test image [h, w, 3] uint8 (gradients plus a non-periodic-looking texture)."""
    y, x, c = np.meshgrid(np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64), np.arange(3, dtype=np.int64),
                          indexing="ij")
    v = x * 3 + y * 5 + c * 85 + (x * x * y + 7 * y * y * x + c * 31) % 61
    return (v & 255).astype(np.uint8)


def noisy(seed, w, h):
    """Gradients plus seeded noise, uint8 [h, w, 3]."""
    y = torch.linspace(0, 1, h)[:, None, None]
    x = torch.linspace(0, 1, w)[None, :, None]
    c = torch.tensor([0.0, 0.5, 1.0])[None, None, :]
    base = 255 * (0.2 + 0.6 * (x * (1 - c) + y * c))
    noise = 60 * torch.randn(h, w, 3, generator=gen(seed))
    return (base + noise).round().clamp(0, 255).to(torch.uint8).numpy()


def u8(a):
    return torch.from_numpy(np.array(a, dtype=np.uint8, copy=True))


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def save(tensors, meta, path):
    save_file(tensors, str(path), metadata={"cases": json.dumps(meta, sort_keys=True)})


def siglip_processor(size):
    # google/siglip-so400m-patch14-384 preprocessor_config.json, at the given size
    return SiglipImageProcessor(do_resize=True, size={"height": size, "width": size}, resample=3, do_rescale=True,
                                rescale_factor=0.00392156862745098, do_normalize=True, image_mean=[0.5, 0.5, 0.5],
                                image_std=[0.5, 0.5, 0.5])


def dinov2_processor(size):
    # facebook/dinov2-* preprocessor_config.json, then the override of pipeline.py init_adapter (384 there)
    p = BitImageProcessor(do_resize=True, size={"shortest_edge": 256}, resample=3, do_center_crop=True,
                          crop_size={"height": 224, "width": 224}, do_rescale=True,
                          rescale_factor=0.00392156862745098, do_normalize=True,
                          image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], do_convert_rgb=True)
    p.crop_size = dict(height=size, width=size)
    p.size = dict(shortest_edge=size)
    return p


def subject(img):
    """encode_image_emb's image steps (and __call__'s stretch to a square)."""
    s = max(img.size)
    square = img.resize((s, s))
    low = [square.resize((384, 384))]
    high = square.resize((768, 768))
    tiles = [high.crop((0, 0, 384, 384)), high.crop((384, 0, 768, 384)), high.crop((0, 384, 384, 768)),
             high.crop((384, 384, 768, 768))]
    return square, low, high, tiles


def generate_resize(out):
    tensors, meta = {}, {}
    for i, (iw, ih, ow, oh) in enumerate(RESIZE_CASES):
        name = f"r{i}_{iw}x{ih}_to_{ow}x{oh}"
        src = noisy(10 + i, iw, ih)
        dst = np.asarray(Image.fromarray(src, "RGB").resize((ow, oh)))
        meta[name] = {"in_w": iw, "in_h": ih, "out_w": ow, "out_h": oh}
        tensors[f"{name}/in"] = u8(src)
        tensors[f"{name}/out"] = u8(dst)
    save(tensors, meta, out / "resize.safetensors")


def generate_subject(out):
    tensors, meta = {}, {}
    sig, dino = siglip_processor(384), dinov2_processor(384)
    inputs = {"up": (noisy(30, 150, 90), True), "down": (pattern(600, 420), False)}
    for name, (src, stored) in inputs.items():
        square, low, high, tiles = subject(Image.fromarray(src, "RGB"))
        low_a, high_a = np.asarray(low[0]), np.asarray(high)
        px = {"siglip_low": sig(images=low, return_tensors="pt").pixel_values,
              "siglip_high": sig(images=tiles, return_tensors="pt").pixel_values,
              "dinov2_low": dino(images=low, return_tensors="pt").pixel_values,
              "dinov2_high": dino(images=tiles, return_tensors="pt").pixel_values}
        for k, v in px.items():
            assert v.dtype == torch.float32 and v.shape[1:] == (3, 384, 384), (k, v.shape)
        m = {"width": src.shape[1], "height": src.shape[0], "stored_input": stored,
             "sha256_square": sha(np.asarray(square)), "sha256_low": sha(low_a), "sha256_high": sha(high_a)}
        for t, tile in enumerate(tiles):
            m[f"sha256_tile{t}"] = sha(np.asarray(tile))
        for k, v in px.items():
            m[f"sha256_{k}"] = sha(v.numpy().astype("<f4"))
            tensors[f"{name}/{k}"] = v[:, :, ::32, ::32].contiguous()
        if stored:
            tensors[f"{name}/in"] = u8(src)
        tensors[f"{name}/low"] = u8(low_a[::8, ::8])
        tensors[f"{name}/high"] = u8(high_a[::16, ::16])
        meta[name] = m
    # every 8-bit value in every channel, through both processors at 16 x 16 (same code path as 384: the resize
    # and the crop are identities, then rescale and normalize)
    v = np.arange(256, dtype=np.uint8).reshape(16, 16)
    values = np.stack([v, v[::-1], v.T], axis=-1)
    img = Image.fromarray(values, "RGB")
    tensors["values/in"] = u8(values)
    tensors["values/siglip"] = siglip_processor(16)(images=[img], return_tensors="pt").pixel_values
    tensors["values/dinov2"] = dinov2_processor(16)(images=[img], return_tensors="pt").pixel_values
    meta["values"] = {"size": 16}
    save(tensors, meta, out / "subject.safetensors")


def exact_tie(k):
    """An f32 x whose (x * 0.5 + 0.5) * 255 is exactly k + 0.5 in float32 (numpy then rounds it to even)."""
    v = np.float32((k + 0.5) / 255)
    while v * np.float32(255) < np.float32(k + 0.5):
        v = np.nextafter(v, np.float32(2))
    while v * np.float32(255) > np.float32(k + 0.5):
        v = np.nextafter(v, np.float32(-2))
    x = (v - np.float32(0.5)) * np.float32(2)
    if x * np.float32(0.5) + np.float32(0.5) != v or v * np.float32(255) != np.float32(k + 0.5):
        return None  # no float32 lands exactly on this tie
    return float(x)


def generate_postprocess(out):
    tensors, meta = {}, {}
    proc = VaeImageProcessor()
    for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        x = 0.7 * torch.randn(2, 3, 6, 7, generator=gen(40))
        # the ends, 0 (v * 255 = 127.5 exactly), and values near k + 0.5 after scaling
        x[0, 0, 0, :4] = torch.tensor([-1.0, 1.0, 0.0, 1 / 255.0])
        x[0, 1, 0, :3] = torch.tensor([2 * 0.5 / 255 - 1, 2 * 254.5 / 255 - 1, 2 * 127.5 / 255 - 1])
        ties = [t for t in (exact_tie(k) for k in range(1, 254)) if t is not None]
        x[0, 2, 0, :] = torch.tensor(ties[::max(1, len(ties) // 7)][:7])
        x = x.to(dtype)
        pil = proc.postprocess(x, output_type="pil")
        tensors[f"{name}/x"] = x
        tensors[f"{name}/out"] = u8(np.stack([np.asarray(p) for p in pil]))
        meta[name] = {"dtype": name}
    save(tensors, meta, out / "postprocess.safetensors")


def flatten(im):
    """Pillow's decoded image as RGB: alpha pasted onto white through its mask, EXIF orientation applied."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA", "P"):
        im = im.convert("RGBA")
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(im.convert("RGB"), mask=im.getchannel("A"))
        return white
    return im.convert("RGB")


def orientation(o):
    exif = Image.Exif()
    exif[0x0112] = o
    return exif.tobytes()


def encoded(im, **kw):
    buf = io.BytesIO()
    im.save(buf, **kw)
    return buf.getvalue()


def generate_decode(out, out_dir_fixtures):
    tensors, meta = {}, {}
    rgb = noisy(50, 40, 28)
    alpha = np.clip(np.linspace(-60, 315, 40)[None, :] + np.zeros((28, 1)), 0, 255).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    # a photo-like image for lossy WebP, whose chroma upsampling differs between decoders: smooth colour fields
    smooth = Image.fromarray(noisy(51, 8, 6), "RGB").resize((64, 48))
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    files = {
        "webp_lossless": encoded(im, format="WEBP", lossless=True),
        "webp_lossy": encoded(im, format="WEBP", quality=80),
        "webp_lossy_smooth": encoded(smooth, format="WEBP", quality=80),
        "webp_alpha_lossless": encoded(rgba, format="WEBP", lossless=True),
        "webp_alpha_lossy": encoded(rgba, format="WEBP", quality=80),
        "jpeg_420": encoded(im, format="JPEG", quality=90),
        "jpeg_444": encoded(im, format="JPEG", quality=90, subsampling=0),
        "jpeg_cmyk": encoded(im.convert("CMYK"), format="JPEG", quality=95),
    }
    gray = im.convert("L")
    palette = im.quantize(colors=16)
    palette.info["transparency"] = bytes(range(0, 256, 16))  # per-entry alpha (tRNS)
    files["jpeg_gray"] = encoded(gray, format="JPEG", quality=90)
    files["jpeg_progressive"] = encoded(im, format="JPEG", quality=90, progressive=True)
    files["png_palette_alpha"] = encoded(palette, format="PNG", transparency=bytes(range(0, 256, 16)))
    files["png_gray_alpha"] = encoded(Image.merge("LA", [gray, Image.fromarray(alpha, "L")]), format="PNG")
    files["png_rgba"] = encoded(rgba, format="PNG")
    for o in range(1, 9):
        files[f"png_orientation{o}"] = encoded(im, format="PNG", exif=orientation(o))
    # Pillow cannot write YCCK: this 24 x 16 JPEG (Adobe transform 2) was written by the JDK's JPEG writer from
    # Y, Cb, Cr, K samples (see pipeline/src/test/resources/images/README.md)
    files["jpeg_ycck"] = (out_dir_fixtures / "ycck.jpg").read_bytes()
    files["jpeg_orientation8"] = encoded(im, format="JPEG", quality=90, exif=orientation(8))
    files["webp_orientation6"] = encoded(im, format="WEBP", lossless=True, exif=orientation(6))
    for name, data in files.items():
        dec = Image.open(io.BytesIO(data))
        meta[name] = {"format": dec.format, "mode": dec.mode}
        tensors[f"{name}/file"] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        tensors[f"{name}/rgb"] = u8(np.asarray(flatten(dec)))
    save(tensors, meta, out / "decode.safetensors")


def generate(out_dir):
    out = out_dir / "images"
    out.mkdir(parents=True, exist_ok=True)
    generate_resize(out)
    generate_subject(out)
    generate_postprocess(out)
    generate_decode(out, out_dir.parent / "images")
