"""Tokenizer fixtures and id goldens: CLIP (byte-level BPE) and T5 (SentencePiece Unigram).

No hub access here, so the vocabularies are built from what PyPI ships:

* CLIP: the merges file that ``open-clip-torch`` ships (``bpe_simple_vocab_16e6.txt.gz``, OpenAI CLIP's own BPE) is
  turned into the ``vocab.json`` + ``merges.txt`` pair of ``openai/clip-vit-large-patch14`` the way OpenAI's
  ``SimpleTokenizer`` derives its vocabulary (256 byte symbols, the same with ``</w>``, one symbol per merge, the two
  specials: 49408 entries). ``CLIPTokenizerFast`` converts the pair into ``tokenizer.json``.
* T5: a small Unigram model trained by ``sentencepiece`` on a seeded, generated corpus with T5's settings
  (pad 0, eos 1, unk 2, no bos, nmt_nfkc normalization, so the real precompiled charsmap is embedded), converted by
  ``T5TokenizerFast`` (100 extra ids) into ``tokenizer.json``. A second, tiny model with ``byte_fallback`` and no
  charsmap checks the byte-fallback path.

The expected ids come from the tokenizers the FLUX pipeline uses: diffusers' ``FluxPipeline`` loads the *slow*
``CLIPTokenizer`` (``model_index.json`` of FLUX.1-dev names it) and ``T5TokenizerFast``; both are called with
``padding="max_length", truncation=True`` at 77 and 512 tokens. ftfy must be absent (it is not a dependency of
transformers or diffusers): then ``CLIPTokenizer`` cleans text with its ``BasicTokenizer`` fallback.
"""
import base64
import gzip
import importlib.util
import io
import json
import pathlib
import random
import subprocess
import sys
import tempfile
import zipfile

import sentencepiece as spm
from tokenizers import Tokenizer
from transformers import CLIPTokenizer, CLIPTokenizerFast, T5Tokenizer, T5TokenizerFast
from transformers.models.clip.tokenization_clip import bytes_to_unicode

CLIP_MAX_LENGTH = 77
OPEN_CLIP_WHEEL = "open-clip-torch==3.3.0"
T5_MAX_LENGTH = 512
VARIANT_MAX_LENGTH = 64

ACCENTED = ("café naïve façade crème brûlée Ångström straße über niño señor jalapeño déjà résumé Zürich São Paulo "
            "Kraków Øresund Æsir œuvre Málaga Dvořák Łódź İstanbul").split()
CJK = ("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好"
       "都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把"
       "法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教"
       "西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安"
       "東京夜景美桜あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
       "アイウエオカキクケコサシスセソタチツテトタワー한국어텍스트안녕하세요")
OTHER_SCRIPTS = "Привет мир как дела хорошо Γειά σου Κόσμε καλημέρα".split()
PUNCT = [",", ".", "!", "?", ";", ":", " -", "'s", "...", " (", ")", "\"", " &"]


def prompts(words):
    """The shared prompt list: ASCII, punctuation runs, numbers, accents, CJK, emoji, whitespace, specials, long."""
    rng = random.Random(77)
    long_words = " ".join(rng.choice(words[:3000]) for _ in range(700))
    return [
        "",
        "   ",
        "a photo of a cat",
        "A Photo Of A CAT, sitting on the MAT!!!",
        "A cinematic portrait of a young woman with freckles, wearing a red hoodie, standing in a neon-lit Tokyo "
        "street at night, 35mm photo, bokeh, highly detailed, 8k",
        "wow!!! ... ?!?! --- (((nested))) [brackets] {braces} <angle> @#$%^&*_+=|\\/~`",
        "it's they're we've I'm you'll he'd DON'T Can'T o'clock rock'n'roll",
        "1234567890 3.14159 1,000,000 2nd 42nd 0x1F 1e-9 ½ ² Ⅻ ① ٣",
        "Café crème brûlée, naïve façade, Ångström, Æsop, Œuvre, straße, İstanbul, ΣΊΣΥΦΟΣ ΟΔΟΣ",
        "Cafe\u0301 e\u0301le\u0300ve A\u030a",
        "\ufb01\u0301nal \ufb01\u0301\u0301nal \u337b\u0308 \u01c5ungla",
        "東京タワーの夜景、美しい桜。中文测试！한국어 텍스트",
        "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３ ﬁne ﬂour ｶﾞｷﾞ ㍻ ™ … ℃ ㎏",
        "portrait 🙂 with emoji 👩‍🚀🚀🇫🇷 and ❤️ and 👍🏽!",
        "  leading and trailing spaces  ",
        "tabs\tand\nnewlines\r\nand  double  spaces\t\t\tend",
        "nbsp\u00a0thin\u2009ideographic\u3000space line\u2028separator",
        "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
        "control\x00chars\x07here\x1b[0m and \ufffd replacement",
        "<|startoftext|>hello<|endoftext|> world <|endoftext|>",
        "<|STARTOFTEXT|> shouted specials",
        "</s> in the middle <pad> and <unk> then <extra_id_0> and<extra_id_17>glued",
        "</s>glued after a special",
        "\x07\ufeffstarts with removed characters",
        "Привет мир! Γειά σου Κόσμε! مرحبا بالعالم שלום עולם नमस्ते दुनिया क्षत्रिय",
        "x" * 300,
        " ".join(["cat"] * 75),
        " ".join(["cat"] * 76),
        long_words,
    ]


def write_gzip(path, data: bytes):
    """gzip with no name and mtime 0, so reruns write identical bytes."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(data)


def encode_cases(tokenizer, texts, max_length, tokens=True):
    """Ids and attention masks as the pipeline asks for them; the token strings too where asked (for messages)."""
    cases = []
    for text in texts:
        enc = tokenizer(text, padding="max_length", max_length=max_length, truncation=True)
        case = {"text": text, "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if tokens:
            case["tokens"] = tokenizer.tokenize(text)
        cases.append(case)
    return cases


def write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------- CLIP

def clip_merges():
    """OpenAI CLIP's merges: the first 49152 - 256 - 2 lines after the header of bpe_simple_vocab_16e6.txt.gz, taken
    from an installed open_clip or else from the open-clip-torch wheel (downloaded without dependencies: installing
    them would bring ftfy, which changes what CLIPTokenizer does)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is not None:
        data = (pathlib.Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz").read_bytes()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp,
                            OPEN_CLIP_WHEEL], check=True)
            wheel = next(pathlib.Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as z:
                data = z.read("open_clip/bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.decompress(data).decode("utf-8").split("\n")
    return lines[1:49152 - 256 - 2 + 1]


def clip_pair(merges, tmp):
    """vocab.json and merges.txt (bytes) for the given merges, and the slow and fast tokenizers built from them."""
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    encoder = {token: i for i, token in enumerate(vocab)}
    assert len(encoder) == len(vocab)
    vocab_json = json.dumps(encoder, ensure_ascii=False).encode("utf-8")
    merges_txt = ("#version: 0.2\n" + "\n".join(merges) + "\n").encode("utf-8")
    (tmp / "vocab.json").write_bytes(vocab_json)
    (tmp / "merges.txt").write_bytes(merges_txt)
    slow = CLIPTokenizer(str(tmp / "vocab.json"), str(tmp / "merges.txt"))
    assert slow.fix_text is None, "ftfy is installed: CLIPTokenizer would not use its BasicTokenizer fallback"
    fast = CLIPTokenizerFast(vocab_file=str(tmp / "vocab.json"), merges_file=str(tmp / "merges.txt"))
    return vocab_json, merges_txt, slow, fast


def clip(out, texts):
    """The real vocabulary as vocab.json + merges.txt; tokenizer.json from the first 8000 merges only (the full one
    would add 0.55 MB gzipped), which also moves the special ids to 8512 and 8513."""
    out.mkdir(parents=True, exist_ok=True)
    merges = clip_merges()
    with tempfile.TemporaryDirectory() as tmp:
        vocab_json, merges_txt, slow, fast = clip_pair(merges, pathlib.Path(tmp))
        assert len(slow.encoder) == 49408
        # the known ids of openai/clip-vit-large-patch14 for a plain prompt: the derived vocabulary is the real one
        assert slow("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
        differ = sum(fast(t)["input_ids"] != slow(t)["input_ids"] for t in texts)
        print(f"  clip: {len(texts)} prompts; the fast tokenizer differs from the slow one on {differ}")
        _, _, small_slow, small_fast = clip_pair(merges[:8000], pathlib.Path(tmp))
        small_json = small_fast.backend_tokenizer.to_str(pretty=False).encode("utf-8")
    write_gzip(out / "vocab.json.gz", vocab_json)
    write_gzip(out / "merges.txt.gz", merges_txt)
    write_gzip(out / "tokenizer.json.gz", small_json)
    write_json(out / "cases.json", {
        "reference": "transformers CLIPTokenizer (slow, ftfy absent), padding=max_length, truncation=True",
        "max_length": CLIP_MAX_LENGTH, "cases": encode_cases(slow, texts, CLIP_MAX_LENGTH)})
    write_json(out / "tokenizer_json_cases.json", {
        "reference": "CLIPTokenizer (slow) over the 8000-merge vocabulary that tokenizer.json holds",
        "max_length": CLIP_MAX_LENGTH, "cases": encode_cases(small_slow, texts, CLIP_MAX_LENGTH, tokens=False)})


# ------------------------------------------------------------------------------------------------------------ T5

def corpus(words, n, seed):
    """Seeded sentences: English words from CLIP's vocabulary (Zipf-like by merge rank), capitals, punctuation,
    numbers, accented words, other scripts and CJK runs."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 20) for rank in range(len(words))]
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.06:
            out.append("".join(rng.choice(CJK) for _ in range(rng.randint(2, 14))))
            continue
        parts = []
        for w in rng.choices(words, weights, k=rng.randint(4, 18)):
            u = rng.random()
            if u < 0.04:
                w = rng.choice(ACCENTED)
            elif u < 0.06:
                w = rng.choice(OTHER_SCRIPTS)
            elif u < 0.10:
                w = str(rng.randint(0, 10 ** rng.randint(1, 6)))
            elif u < 0.18:
                w = w.capitalize()
            elif u < 0.19:
                w = w.upper()
            parts.append(w)
            if rng.random() < 0.12:
                parts[-1] += rng.choice(PUNCT)
        out.append(" ".join(parts))
    return out


def train_unigram(sentences, **options):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model, model_type="unigram",
                                   num_threads=1, minloglevel=2, **options)
    return model.getvalue()


def t5_cases(fast, texts, max_length, slow=None, tokens=True):
    cases = encode_cases(fast, texts, max_length, tokens)
    if slow is not None:
        differ = sum(slow(t, padding="max_length", max_length=max_length, truncation=True)["input_ids"]
                     != c["input_ids"] for t, c in zip(texts, cases))
        print(f"  t5: {len(cases)} prompts; the slow sentencepiece tokenizer differs from the fast one on {differ}")
    return cases


def t5(out, texts, words):
    out.mkdir(parents=True, exist_ok=True)
    model = train_unigram(corpus(words, 30000, seed=5), vocab_size=3000, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                          normalization_rule_name="nmt_nfkc", character_coverage=0.9995)
    with tempfile.TemporaryDirectory() as tmp:
        spiece = pathlib.Path(tmp) / "spiece.model"
        spiece.write_bytes(model)
        slow = T5Tokenizer(vocab_file=str(spiece), extra_ids=100, legacy=True)
        # add_prefix_space=True is T5Tokenizer's own default; left unset, the conversion writes prepend_scheme "never"
        fast = T5TokenizerFast(vocab_file=str(spiece), extra_ids=100, legacy=True, add_prefix_space=True)
        tokenizer_json = fast.backend_tokenizer.to_str(pretty=False)
        (pathlib.Path(tmp) / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
        reloaded = T5TokenizerFast(tokenizer_file=str(pathlib.Path(tmp) / "tokenizer.json"))
        cases = t5_cases(fast, texts, T5_MAX_LENGTH, slow)
        assert cases == encode_cases(reloaded, texts, T5_MAX_LENGTH), "tokenizer.json does not reproduce spiece.model"
    write_gzip(out / "spiece.model.gz", model)
    write_gzip(out / "tokenizer.json.gz", tokenizer_json.encode("utf-8"))

    # the same vocabulary behind other pre-tokenizer settings, as older or non-legacy conversions write them
    base = json.loads(tokenizer_json)
    variants = []
    for name, pre_tokenizer in [
        ("whitespace_split_add_prefix_space", {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}]}),
        ("prepend_first", {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}),
        ("prepend_never_no_split", {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never",
                                    "split": False}),
    ]:
        patched = dict(base, pre_tokenizer=pre_tokenizer)
        tok = T5TokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(patched)))
        variants.append({"name": name, "pre_tokenizer": pre_tokenizer,
                         "cases": t5_cases(tok, texts[:-1], VARIANT_MAX_LENGTH, tokens=False)})
    write_json(out / "cases.json", {
        "reference": "transformers T5TokenizerFast, padding=max_length, truncation=True",
        "max_length": T5_MAX_LENGTH, "cases": cases,
        "variant_max_length": VARIANT_MAX_LENGTH, "variants": variants})

    # byte fallback: a tiny model without a charsmap whose unknown characters become <0xNN> pieces
    small = train_unigram(corpus(words[:400], 3000, seed=9), vocab_size=400, pad_id=0, eos_id=1, unk_id=2,
                          bos_id=-1, byte_fallback=True, normalization_rule_name="identity",
                          character_coverage=0.98)
    sp = spm.SentencePieceProcessor(model_proto=small)
    bf = dict(base)
    bf["model"] = {"type": "Unigram", "unk_id": 2, "byte_fallback": True,
                   "vocab": [[sp.id_to_piece(i), sp.get_score(i)] for i in range(sp.get_piece_size())]}
    bf["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}]}
    bf["added_tokens"] = [t for t in base["added_tokens"] if t["id"] < 3]
    tok = T5TokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(bf)), extra_ids=0)
    (out / "byte_fallback_tokenizer.json").write_text(tok.backend_tokenizer.to_str(pretty=False) + "\n",
                                                      encoding="utf-8")
    write_json(out / "byte_fallback_cases.json", {
        "reference": "tokenizers Unigram with byte_fallback through T5TokenizerFast, padding=max_length, truncation",
        "max_length": VARIANT_MAX_LENGTH, "cases": t5_cases(tok, texts[:-1], VARIANT_MAX_LENGTH)})
    print(f"  t5: spiece.model {len(model)} bytes, {len(base['model']['vocab'])} pieces with extra ids")


def generate(out_dir):
    root = out_dir / "tokenizers"
    merges = clip_merges()
    # whole ASCII words of CLIP's vocabulary, most frequent merges first
    words = [m.replace(" ", "")[:-4] for m in merges if m.endswith("</w>")]
    words = [w for w in words if w.isascii() and w.isalpha() and len(w) > 1][:8000]
    texts = prompts(words)
    clip(root / "clip", texts)
    t5(root / "t5", texts, words)
