package dev.likeness.models.tokenizers;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's byte-level BPE tokenizer, as FLUX's CLIP-L text encoder receives its input: transformers' slow
 * {@code CLIPTokenizer} (diffusers' {@code FluxPipeline} loads that class) without ftfy, called with
 * {@code padding="max_length", max_length=77, truncation=True}.
 *
 * <p>Per text: the specials {@code <|startoftext|>} and {@code <|endoftext|>} written in the text are cut out first
 * and become their ids; every other span is cleaned by {@link BasicTextCleaner} (lower case, whitespace, NFC, spaces
 * around CJK), split by CLIP's word pattern, each word's UTF-8 bytes are mapped to printable symbols
 * ({@code bytes_to_unicode}), the last symbol gets the end-of-word mark {@code </w>}, and merges are applied lowest
 * rank first. The ids are wrapped in BOS ({@code <|startoftext|>}) and EOS ({@code <|endoftext|>}), truncated to
 * {@code maxLength} and padded with {@code <|endoftext|>} (CLIP-L's pad token).
 *
 * <p>The vocabulary comes from {@code vocab.json} + {@code merges.txt} (what {@code CLIPTokenizer} reads) or from the
 * {@code model} section of a {@code tokenizer.json}; either way the text handling is the slow tokenizer's, which
 * differs from {@code CLIPTokenizerFast}'s normalizer on CJK, control characters and a few other inputs. Like
 * {@code CLIPTokenizer}, only the first 48,894 merges (49152 − 256 − 2) are used.
 */
public final class ClipTokenizer {
    /** CLIP's context length. */
    public static final int MAX_LENGTH = 77;
    public static final String START_OF_TEXT = "<|startoftext|>";
    public static final String END_OF_TEXT = "<|endoftext|>";
    private static final String END_OF_WORD = "</w>";
    /** {@code CLIPTokenizer} reads {@code merges.txt} lines 1 .. 49152 − 256 − 2. */
    private static final int MERGE_LIMIT = 49152 - 256 - 2;
    /** CLIP's word pattern, with the reference's {@code re.IGNORECASE}. */
    private static final Pattern WORDS = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);
    private static final char[] BYTE_SYMBOLS = byteSymbols();

    private final Map<String, Integer> vocab;
    private final Map<String, Integer> ranks;
    private final int startId;
    private final int endId;
    private final Map<String, List<String>> cache = new ConcurrentHashMap<>();

    private ClipTokenizer(Map<String, Integer> vocab, List<String[]> merges, String source) {
        this.vocab = vocab;
        this.ranks = new HashMap<>();
        for (int r = 0; r < Math.min(merges.size(), MERGE_LIMIT); r++) {
            ranks.putIfAbsent(merges.get(r)[0] + " " + merges.get(r)[1], r);
        }
        this.startId = special(vocab, START_OF_TEXT, source);
        this.endId = special(vocab, END_OF_TEXT, source);
    }

    /**
     * The tokenizer of a diffusers {@code tokenizer/} folder: {@code vocab.json} and {@code merges.txt} when present
     * (each possibly gzipped), otherwise {@code tokenizer.json}.
     */
    public static ClipTokenizer fromDirectory(Path dir) {
        Path vocab = TokenizerFiles.find(dir, "vocab.json");
        Path merges = TokenizerFiles.find(dir, "merges.txt");
        if (vocab != null && merges != null) {
            return fromVocabAndMerges(vocab, merges);
        }
        Path json = TokenizerFiles.find(dir, "tokenizer.json");
        if (json == null) {
            throw new IllegalArgumentException(dir + ": no vocab.json + merges.txt and no tokenizer.json");
        }
        return fromTokenizerJson(json);
    }

    /** From {@code vocab.json} (token → id) and {@code merges.txt} (a {@code #version} line, then "a b" per line). */
    public static ClipTokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt) {
        Map<String, Integer> vocab = readVocab(TokenizerFiles.json(vocabJson), vocabJson.toString());
        // CLIPTokenizer: merges_handle.read().strip().split("\n")[1:], each line split on whitespace
        String[] lines = TokenizerFiles.text(mergesTxt).strip().split("\n", -1);
        List<String[]> merges = new ArrayList<>();
        for (int i = 1; i < lines.length && merges.size() < MERGE_LIMIT; i++) {
            merges.add(mergePair(BasicTextCleaner.pythonSplit(lines[i]), mergesTxt + " line " + (i + 1)));
        }
        return new ClipTokenizer(vocab, merges, vocabJson.toString());
    }

    /** From the {@code model} section of a {@code tokenizer.json} (a BPE model with end-of-word suffix {@code </w>}). */
    public static ClipTokenizer fromTokenizerJson(Path tokenizerJson) {
        String source = tokenizerJson.toString();
        JsonNode model = TokenizerFiles.required(TokenizerFiles.json(tokenizerJson), "model", source);
        String type = TokenizerFiles.required(model, "type", source + " model").asText();
        if (!type.equals("BPE") || !END_OF_WORD.equals(model.path("end_of_word_suffix").asText())) {
            throw new IllegalArgumentException(source + ": model is " + type + " with end_of_word_suffix "
                    + model.get("end_of_word_suffix") + ", expected CLIP's BPE with end_of_word_suffix \"</w>\"");
        }
        Map<String, Integer> vocab = readVocab(TokenizerFiles.required(model, "vocab", source + " model"),
                source + " model.vocab");
        List<String[]> merges = new ArrayList<>();
        JsonNode list = TokenizerFiles.required(model, "merges", source + " model");
        for (int i = 0; i < list.size(); i++) {
            JsonNode m = list.get(i);
            String where = source + " model.merges[" + i + "]";
            if (m.isTextual()) {
                merges.add(mergePair(List.of(m.asText().split(" ", -1)), where));
            } else if (m.isArray() && m.size() == 2) {
                merges.add(new String[]{m.get(0).asText(), m.get(1).asText()});
            } else {
                throw new IllegalArgumentException(where + ": expected \"a b\" or [\"a\", \"b\"], found " + m);
            }
        }
        return new ClipTokenizer(vocab, merges, source);
    }

    /** The id of a token, or of {@code <|endoftext|>} (CLIP's unknown token) when the vocabulary lacks it. */
    public int id(String token) {
        return vocab.getOrDefault(token, endId);
    }

    /** The BPE tokens of {@code text}, without BOS and EOS (transformers {@code tokenize}). */
    public List<String> tokenize(String text) {
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < text.length()) {
            int start = text.indexOf(START_OF_TEXT, i);
            int end = text.indexOf(END_OF_TEXT, i);
            int at = start < 0 ? end : end < 0 ? start : Math.min(start, end);
            String special = at < 0 ? null : at == start ? START_OF_TEXT : END_OF_TEXT;
            int stop = at < 0 ? text.length() : at;
            if (stop > i) {
                words(text.substring(i, stop), out);
            }
            if (special == null) {
                break;
            }
            out.add(special);
            i = at + special.length();
        }
        return out;
    }

    /** The ids of {@code text} without BOS and EOS. */
    public int[] ids(String text) {
        List<String> tokens = tokenize(text);
        int[] ids = new int[tokens.size()];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = id(tokens.get(k));
        }
        return ids;
    }

    /** {@link #encode(String, int)} at CLIP's 77 tokens. */
    public Encoding encode(String text) {
        return encode(text, MAX_LENGTH);
    }

    /**
     * BOS, the ids truncated to {@code maxLength − 2}, EOS, then {@code <|endoftext|>} padding to {@code maxLength}
     * (transformers {@code tokenizer(text, padding="max_length", max_length=maxLength, truncation=True)}).
     */
    public Encoding encode(String text, int maxLength) {
        if (maxLength < 2) {
            throw new IllegalArgumentException("maxLength " + maxLength + " leaves no room for BOS and EOS");
        }
        int[] ids = ids(text);
        int n = Math.min(ids.length, maxLength - 2);
        int[] tokens = new int[n + 2];
        tokens[0] = startId;
        System.arraycopy(ids, 0, tokens, 1, n);
        tokens[n + 1] = endId;
        return Encoding.padded(tokens, maxLength, endId);
    }

    /** Cleans a span free of specials and appends its BPE tokens. */
    private void words(String span, List<String> out) {
        Matcher m = WORDS.matcher(BasicTextCleaner.clean(span));
        while (m.find()) {
            String symbols = byteEncode(m.group());
            if (symbols.equals(START_OF_TEXT) || symbols.equals(END_OF_TEXT)) {
                out.add(symbols);
            } else {
                out.addAll(cache.computeIfAbsent(symbols, this::bpe));
            }
        }
    }

    /**
     * Byte-pair encoding of one word (its byte symbols): the last symbol carries {@code </w>}; the adjacent pair with
     * the lowest merge rank is merged everywhere (left to right) until no pair has a rank.
     */
    private List<String> bpe(String word) {
        List<String> symbols = new ArrayList<>(word.length());
        for (int k = 0; k < word.length(); k++) {
            symbols.add(String.valueOf(word.charAt(k)));
        }
        symbols.set(symbols.size() - 1, symbols.getLast() + END_OF_WORD);
        while (symbols.size() > 1) {
            int best = Integer.MAX_VALUE;
            String first = null;
            String second = null;
            for (int k = 0; k + 1 < symbols.size(); k++) {
                Integer r = ranks.get(symbols.get(k) + " " + symbols.get(k + 1));
                if (r != null && r < best) {
                    best = r;
                    first = symbols.get(k);
                    second = symbols.get(k + 1);
                }
            }
            if (first == null) {
                break;
            }
            List<String> merged = new ArrayList<>(symbols.size());
            for (int k = 0; k < symbols.size(); k++) {
                if (k + 1 < symbols.size() && symbols.get(k).equals(first) && symbols.get(k + 1).equals(second)) {
                    merged.add(first + second);
                    k++;
                } else {
                    merged.add(symbols.get(k));
                }
            }
            symbols = merged;
        }
        return Collections.unmodifiableList(symbols);
    }

    /** The UTF-8 bytes of {@code word}, each as its printable symbol. */
    private static String byteEncode(String word) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int k = 0; k < bytes.length; k++) {
            out[k] = BYTE_SYMBOLS[bytes[k] & 0xFF];
        }
        return new String(out);
    }

    /**
     * GPT-2/CLIP {@code bytes_to_unicode}: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
     * themselves; the other 68 bytes, in order, take U+0100 onwards.
     */
    private static char[] byteSymbols() {
        char[] table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = (char) (printable ? b : next++);
        }
        return table;
    }

    private static Map<String, Integer> readVocab(JsonNode v, String source) {
        if (!v.isObject()) {
            throw new IllegalArgumentException(source + ": expected an object of token → id");
        }
        Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
        for (var e : v.properties()) {
            if (!e.getValue().canConvertToInt()) {
                throw new IllegalArgumentException(source + ": id of \"" + e.getKey() + "\" is " + e.getValue());
            }
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        return vocab;
    }

    private static String[] mergePair(List<String> parts, String where) {
        if (parts.size() != 2) {
            throw new IllegalArgumentException(where + ": expected two symbols, found " + parts);
        }
        return new String[]{parts.get(0), parts.get(1)};
    }

    private static int special(Map<String, Integer> vocab, String token, String source) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalArgumentException(source + ": the vocabulary has no " + token);
        }
        return id;
    }
}
