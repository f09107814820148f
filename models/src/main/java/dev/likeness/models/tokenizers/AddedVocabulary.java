package dev.likeness.models.tokenizers;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The added tokens of a tokenizer ({@code <pad>}, {@code </s>}, {@code <unk>}, {@code <extra_id_N>} for T5): found in
 * the text before the model sees it, and emitted as their ids (HF tokenizers {@code AddedVocabulary}).
 *
 * <p>Tokens with {@code normalized=false} are searched in the raw text; the spans between them are normalized, then
 * searched for the {@code normalized=true} tokens (whose own text is normalized first). Matching is leftmost-longest
 * and non-overlapping. {@code single_word} drops a match that touches a word character ({@code \w}) on either side;
 * {@code lstrip}/{@code rstrip} widen a match over the whitespace before/after it.
 */
final class AddedVocabulary {

    /** One added token, with the flags of its {@code added_tokens} entry. */
    record Token(String content, int id, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized) {
    }

    /** A span of text: an added token ({@code id ≥ 0}) or text for the model ({@code id = -1}). */
    record Segment(String text, int id, boolean atStart) {
    }

    private final Matcher raw;
    private final Matcher normalizedTokens;

    AddedVocabulary(List<Token> tokens, TextNormalizer normalizer) {
        List<Token> plain = new ArrayList<>();
        List<Token> normalized = new ArrayList<>();
        for (Token t : tokens) {
            if (t.content().isEmpty()) {
                continue;
            }
            if (t.normalized()) {
                String content = normalizer == null ? t.content() : normalizer.apply(t.content());
                normalized.add(new Token(content, t.id(), t.singleWord(), t.lstrip(), t.rstrip(), true));
            } else {
                plain.add(t);
            }
        }
        this.raw = new Matcher(plain);
        this.normalizedTokens = new Matcher(normalized);
    }

    /** Cuts {@code text} into added tokens and normalized spans for the model, in order; empty spans are dropped. */
    List<Segment> split(String text, TextNormalizer normalizer) {
        List<Segment> out = new ArrayList<>();
        for (Segment s : raw.split(text, true)) {
            if (s.id() >= 0) {
                out.add(s);
                continue;
            }
            String norm = normalizer == null ? s.text() : normalizer.apply(s.text());
            for (Segment n : normalizedTokens.split(norm, s.atStart())) {
                if (!n.text().isEmpty()) {
                    out.add(n);
                }
            }
        }
        return out;
    }

    /** Leftmost-longest search over one set of tokens (tokenizers' Aho-Corasick with {@code LeftmostLongest}). */
    private static final class Matcher {
        /** Tokens by first character, longest first. */
        private final Map<Character, List<Token>> byFirst = new HashMap<>();

        Matcher(List<Token> tokens) {
            for (Token t : tokens) {
                byFirst.computeIfAbsent(t.content().charAt(0), c -> new ArrayList<>()).add(t);
            }
            for (List<Token> list : byFirst.values()) {
                list.sort(Comparator.comparingInt((Token t) -> t.content().length()).reversed());
            }
        }

        /** tokenizers {@code find_matches}: the segments covering {@code s}, matches adjusted by their flags. */
        List<Segment> split(String s, boolean atStart) {
            List<Segment> out = new ArrayList<>();
            if (byFirst.isEmpty()) {
                out.add(new Segment(s, -1, atStart));
                return out;
            }
            int emitted = 0;
            int i = 0;
            while (i < s.length()) {
                Token t = longestAt(s, i);
                if (t == null) {
                    i++;
                    continue;
                }
                int start = i;
                int stop = i + t.content().length();
                i = stop;
                if (t.singleWord()) {
                    boolean wordBefore = start > 0 && Unicode.isWordChar(s.codePointBefore(start));
                    boolean wordAfter = stop < s.length() && Unicode.isWordChar(s.codePointAt(stop));
                    if (wordBefore || wordAfter) {
                        continue;
                    }
                }
                if (t.lstrip()) {
                    int k = start;
                    while (k > 0 && Unicode.isWhiteSpace(s.codePointBefore(k))) {
                        k -= Character.charCount(s.codePointBefore(k));
                    }
                    start = Math.max(k, emitted);
                }
                if (t.rstrip()) {
                    while (stop < s.length() && Unicode.isWhiteSpace(s.codePointAt(stop))) {
                        stop += Character.charCount(s.codePointAt(stop));
                    }
                }
                if (emitted < start) {
                    out.add(new Segment(s.substring(emitted, start), -1, atStart && emitted == 0));
                }
                out.add(new Segment(s.substring(start, stop), t.id(), atStart && start == 0));
                emitted = stop;
            }
            if (emitted < s.length()) {
                out.add(new Segment(s.substring(emitted), -1, atStart && emitted == 0));
            }
            return out;
        }

        private Token longestAt(String s, int i) {
            List<Token> candidates = byFirst.get(s.charAt(i));
            if (candidates != null) {
                for (Token t : candidates) {
                    if (s.startsWith(t.content(), i)) {
                        return t;
                    }
                }
            }
            return null;
        }
    }
}
