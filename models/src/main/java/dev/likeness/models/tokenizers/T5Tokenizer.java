package dev.likeness.models.tokenizers;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * T5's SentencePiece Unigram tokenizer, as FLUX's T5-XXL text encoder receives its input: transformers'
 * {@code T5TokenizerFast} (HF tokenizers) called with {@code padding="max_length", max_length=512, truncation=True}.
 *
 * <p>Per text: added tokens ({@code <pad>}, {@code </s>}, {@code <unk>}, {@code <extra_id_N>}) are cut out and become
 * their ids ({@link AddedVocabulary}); each span between them is normalized ({@link TextNormalizer}: the precompiled
 * {@code nmt_nfkc} rules, right strip, runs of spaces to ▁), pre-tokenized ({@link PreTokenizer}: spaces to ▁, ▁ in
 * front, cut before each ▁) and every word is segmented by the {@link Unigram} model. The post-processor template
 * appends {@code </s>}; the model's tokens are truncated first so that the whole fits {@code maxLength}, and
 * {@code <pad>} fills the rest.
 *
 * <p>Two sources: {@code tokenizer.json} (read as written: any Precompiled/Strip/Replace normalizer, Metaspace or
 * WhitespaceSplit pre-tokenizer, Unigram model with optional byte fallback, TemplateProcessing post-processor), or
 * {@code spiece.model}, turned into the tokenizer transformers' {@code T5Converter} builds from it for
 * {@code T5TokenizerFast} (extra ids appended to the vocabulary, nmt_nfkc charsmap + right strip + space runs to ▁,
 * Metaspace prepending ▁ always, {@code $A </s>}, no byte fallback).
 */
public final class T5Tokenizer {
    /** FLUX's {@code max_sequence_length} for T5. */
    public static final int MAX_LENGTH = 512;
    /** The pad token transformers' {@code T5TokenizerFast} pads with. */
    public static final String PAD = "<pad>";

    private final AddedVocabulary added;
    private final TextNormalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final Unigram model;
    private final int[] prefix;
    private final int[] suffix;
    private final int padId;

    private T5Tokenizer(List<AddedVocabulary.Token> addedTokens, TextNormalizer normalizer,
                        PreTokenizer preTokenizer, Unigram model, int[] prefix, int[] suffix, String source) {
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.model = model;
        this.added = new AddedVocabulary(addedTokens, normalizer);
        this.prefix = prefix;
        this.suffix = suffix;
        int pad = -1;
        for (AddedVocabulary.Token t : addedTokens) {
            if (t.content().equals(PAD)) {
                pad = t.id();
            }
        }
        this.padId = pad >= 0 ? pad : model.id(PAD);
        if (padId < 0) {
            throw new IllegalArgumentException(source + ": neither the added tokens nor the vocabulary hold " + PAD);
        }
    }

    /**
     * The tokenizer of a diffusers {@code tokenizer_2/} folder as {@code T5TokenizerFast} loads it:
     * {@code tokenizer.json} when present, otherwise {@code spiece.model} (each possibly gzipped).
     */
    public static T5Tokenizer fromDirectory(Path dir) {
        Path json = TokenizerFiles.find(dir, "tokenizer.json");
        if (json != null) {
            return fromTokenizerJson(json);
        }
        Path spiece = TokenizerFiles.find(dir, "spiece.model");
        if (spiece == null) {
            throw new IllegalArgumentException(dir + ": no tokenizer.json and no spiece.model");
        }
        return fromSentencePiece(spiece);
    }

    public static T5Tokenizer fromTokenizerJson(Path tokenizerJson) {
        return fromTokenizerJson(TokenizerFiles.json(tokenizerJson), tokenizerJson.toString());
    }

    /** From a parsed {@code tokenizer.json}; {@code source} names it in errors. */
    public static T5Tokenizer fromTokenizerJson(JsonNode root, String source) {
        JsonNode m = TokenizerFiles.required(root, "model", source);
        String type = TokenizerFiles.required(m, "type", source + " model").asText();
        if (!type.equals("Unigram")) {
            throw new IllegalArgumentException(source + ": model type is " + type + ", expected Unigram");
        }
        JsonNode vocab = TokenizerFiles.required(m, "vocab", source + " model");
        String[] pieces = new String[vocab.size()];
        double[] scores = new double[vocab.size()];
        for (int i = 0; i < pieces.length; i++) {
            JsonNode e = vocab.get(i);
            if (!e.isArray() || e.size() != 2 || !e.get(0).isTextual() || !e.get(1).isNumber()) {
                throw new IllegalArgumentException(source + ": model.vocab[" + i + "] is " + e
                        + ", expected [piece, score]");
            }
            pieces[i] = e.get(0).asText();
            scores[i] = e.get(1).asDouble();
        }
        JsonNode unk = m.get("unk_id");
        Unigram model = new Unigram(pieces, scores, unk == null || unk.isNull() ? -1 : unk.asInt(),
                m.path("byte_fallback").asBoolean(false), source);

        List<AddedVocabulary.Token> addedTokens = new ArrayList<>();
        JsonNode list = root.path("added_tokens");
        for (int i = 0; i < list.size(); i++) {
            JsonNode t = list.get(i);
            String where = source + " added_tokens[" + i + "]";
            addedTokens.add(new AddedVocabulary.Token(TokenizerFiles.required(t, "content", where).asText(),
                    TokenizerFiles.required(t, "id", where).asInt(), t.path("single_word").asBoolean(false),
                    t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false),
                    t.path("normalized").asBoolean(!t.path("special").asBoolean(false))));
        }
        JsonNode n = root.get("normalizer");
        TextNormalizer normalizer = n == null || n.isNull() ? null : TextNormalizer.fromJson(n, source + " normalizer");
        JsonNode p = root.get("pre_tokenizer");
        PreTokenizer preTokenizer = p == null || p.isNull() ? null
                : PreTokenizer.fromJson(p, source + " pre_tokenizer");
        List<int[]> template = template(root.get("post_processor"), source);
        return new T5Tokenizer(addedTokens, normalizer, preTokenizer, model, template.get(0), template.get(1), source);
    }

    /** From {@code spiece.model} with T5's 100 extra ids. */
    public static T5Tokenizer fromSentencePiece(Path spieceModel) {
        return fromSentencePiece(spieceModel, 100);
    }

    /**
     * From {@code spiece.model}, as {@code T5TokenizerFast(vocab_file=..., extra_ids=extraIds)} converts it:
     * {@code <extra_id_(extraIds-1)>} .. {@code <extra_id_0>} (score 0) follow the pieces; control and user-defined
     * pieces, {@code </s>}, {@code <unk>}, {@code <pad>} and the extra ids are added tokens matched in the raw text.
     */
    public static T5Tokenizer fromSentencePiece(Path spieceModel, int extraIds) {
        String source = spieceModel.toString();
        SentencePieceModel spm = SentencePieceModel.read(spieceModel);
        if (spm.modelType() != 1) {
            throw new IllegalArgumentException(source + ": trainer_spec.model_type is " + spm.modelType()
                    + ", expected 1 (UNIGRAM)");
        }
        int n = spm.pieces().size();
        String[] pieces = new String[n + extraIds];
        double[] scores = new double[n + extraIds];
        for (int i = 0; i < n; i++) {
            pieces[i] = spm.pieces().get(i).piece();
            scores[i] = spm.pieces().get(i).score();
        }
        for (int k = 0; k < extraIds; k++) {
            pieces[n + k] = "<extra_id_" + (extraIds - 1 - k) + ">";
        }
        Unigram model = new Unigram(pieces, scores, spm.unkId(), false, source);

        List<AddedVocabulary.Token> addedTokens = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            SentencePieceModel.Type type = spm.pieces().get(i).type();
            if (type == SentencePieceModel.Type.CONTROL || type == SentencePieceModel.Type.USER_DEFINED) {
                addedTokens.add(new AddedVocabulary.Token(pieces[i], i, false, false, false, false));
            }
        }
        List<String> specials = new ArrayList<>(List.of("</s>", "<unk>", PAD));
        for (int k = 0; k < extraIds; k++) {
            specials.add("<extra_id_" + k + ">");
        }
        for (String s : specials) {
            int id = model.id(s);
            if (id < 0) {
                throw new IllegalArgumentException(source + ": the vocabulary has no " + s);
            }
            addedTokens.add(new AddedVocabulary.Token(s, id, false, false, false, false));
        }
        List<TextNormalizer> steps = new ArrayList<>();
        if (spm.precompiledCharsmap().length > 0) {
            steps.add(new TextNormalizer.Precompiled(PrecompiledCharsMap.parse(spm.precompiledCharsmap(),
                    source + " normalizer_spec.precompiled_charsmap")));
        }
        steps.add(new TextNormalizer.Strip(false, true));
        steps.add(new TextNormalizer.Replace(Pattern.compile(" {2,}"), "▁"));
        PreTokenizer preTokenizer = new PreTokenizer.Metaspace('▁', PreTokenizer.PrependScheme.ALWAYS, true);
        return new T5Tokenizer(addedTokens, new TextNormalizer.Sequence(List.copyOf(steps)), preTokenizer, model,
                new int[0], new int[]{model.id("</s>")}, source);
    }

    /** The tokens of {@code text} as strings (pieces, added tokens, {@code <0xNN>}), without the template's. */
    public List<String> tokenize(String text) {
        List<String> out = new ArrayList<>();
        for (Unigram.Token t : tokens(text)) {
            out.add(t.text());
        }
        return out;
    }

    /** The ids of {@code text} without the template's special tokens. */
    public int[] ids(String text) {
        List<Unigram.Token> tokens = tokens(text);
        int[] ids = new int[tokens.size()];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = tokens.get(k).id();
        }
        return ids;
    }

    /** {@link #encode(String, int)} at FLUX's 512 tokens. */
    public Encoding encode(String text) {
        return encode(text, MAX_LENGTH);
    }

    /**
     * The ids truncated to leave room for the template's special tokens, wrapped in them ({@code ... </s>}), then
     * {@code <pad>} to {@code maxLength}.
     */
    public Encoding encode(String text, int maxLength) {
        int room = maxLength - prefix.length - suffix.length;
        if (room < 0) {
            throw new IllegalArgumentException("maxLength " + maxLength + " is shorter than the "
                    + (prefix.length + suffix.length) + " special tokens the template adds");
        }
        int[] ids = ids(text);
        int n = Math.min(ids.length, room);
        int[] tokens = new int[prefix.length + n + suffix.length];
        System.arraycopy(prefix, 0, tokens, 0, prefix.length);
        System.arraycopy(ids, 0, tokens, prefix.length, n);
        System.arraycopy(suffix, 0, tokens, prefix.length + n, suffix.length);
        return Encoding.padded(tokens, maxLength, padId);
    }

    private List<Unigram.Token> tokens(String text) {
        List<Unigram.Token> out = new ArrayList<>();
        for (AddedVocabulary.Segment s : added.split(text, normalizer)) {
            if (s.id() >= 0) {
                out.add(new Unigram.Token(s.id(), s.text()));
                continue;
            }
            List<PreTokenizer.Piece> words = List.of(new PreTokenizer.Piece(s.text(), s.atStart()));
            if (preTokenizer != null) {
                words = preTokenizer.split(words);
            }
            for (PreTokenizer.Piece w : words) {
                out.addAll(model.encode(w.text()));
            }
        }
        return out;
    }

    /**
     * The ids a {@code TemplateProcessing} post-processor puts before and after a single sequence ({@code $A}); none
     * when there is no post-processor.
     */
    private static List<int[]> template(JsonNode post, String source) {
        if (post == null || post.isNull()) {
            return List.of(new int[0], new int[0]);
        }
        String where = source + " post_processor";
        String type = TokenizerFiles.required(post, "type", where).asText();
        if (!type.equals("TemplateProcessing")) {
            throw new IllegalArgumentException(where + ": type " + type + " is not supported (TemplateProcessing is)");
        }
        JsonNode single = TokenizerFiles.required(post, "single", where);
        JsonNode specials = TokenizerFiles.required(post, "special_tokens", where);
        List<Integer> before = new ArrayList<>();
        List<Integer> after = new ArrayList<>();
        boolean seenSequence = false;
        for (int i = 0; i < single.size(); i++) {
            JsonNode item = single.get(i);
            if (item.has("Sequence")) {
                if (seenSequence) {
                    throw new IllegalArgumentException(where + ".single: more than one sequence in " + single);
                }
                seenSequence = true;
            } else if (item.has("SpecialToken")) {
                String name = item.get("SpecialToken").path("id").asText();
                JsonNode ids = TokenizerFiles.required(
                        TokenizerFiles.required(specials, name, where + ".special_tokens"), "ids",
                        where + ".special_tokens." + name);
                for (JsonNode id : ids) {
                    (seenSequence ? after : before).add(id.asInt());
                }
            } else {
                throw new IllegalArgumentException(where + ".single[" + i + "]: " + item
                        + " is neither a Sequence nor a SpecialToken");
            }
        }
        return List.of(before.stream().mapToInt(Integer::intValue).toArray(),
                after.stream().mapToInt(Integer::intValue).toArray());
    }
}
