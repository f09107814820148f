package dev.likeness.models.tokenizers;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code normalizer} of a {@code tokenizer.json}, as HF tokenizers applies it to each span of text between added
 * tokens. The kinds SentencePiece conversions write are supported: {@code Precompiled}, {@code Strip},
 * {@code Replace} and {@code Sequence}; any other kind is refused by name.
 */
sealed interface TextNormalizer {

    String apply(String text);

    /** Reads a normalizer object; {@code where} locates it in errors. */
    static TextNormalizer fromJson(JsonNode node, String where) {
        String type = TokenizerFiles.required(node, "type", where).asText();
        return switch (type) {
            case "Sequence" -> {
                JsonNode list = TokenizerFiles.required(node, "normalizers", where);
                List<TextNormalizer> steps = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    steps.add(fromJson(list.get(i), where + ".normalizers[" + i + "]"));
                }
                yield new Sequence(List.copyOf(steps));
            }
            case "Precompiled" -> {
                String b64 = TokenizerFiles.required(node, "precompiled_charsmap", where).asText();
                yield new Precompiled(PrecompiledCharsMap.parse(Base64.getDecoder().decode(b64), where));
            }
            case "Strip" -> new Strip(node.path("strip_left").asBoolean(true), node.path("strip_right").asBoolean(true));
            case "Replace" -> {
                JsonNode pattern = TokenizerFiles.required(node, "pattern", where);
                String content = TokenizerFiles.required(node, "content", where).asText();
                if (pattern.has("String")) {
                    yield new Replace(Pattern.compile(Pattern.quote(pattern.get("String").asText())), content);
                }
                if (pattern.has("Regex")) {
                    yield new Replace(Pattern.compile(pattern.get("Regex").asText()), content);
                }
                throw new IllegalArgumentException(where + ": Replace pattern " + pattern
                        + " is neither {\"String\": ...} nor {\"Regex\": ...}");
            }
            default -> throw new IllegalArgumentException(where + ": normalizer type \"" + type
                    + "\" is not supported (Sequence, Precompiled, Strip, Replace are)");
        };
    }

    /** The normalizers one after the other. */
    record Sequence(List<TextNormalizer> steps) implements TextNormalizer {
        @Override
        public String apply(String text) {
            for (TextNormalizer n : steps) {
                text = n.apply(text);
            }
            return text;
        }
    }

    /** SentencePiece's compiled rules (see {@link PrecompiledCharsMap}). */
    record Precompiled(PrecompiledCharsMap map) implements TextNormalizer {
        @Override
        public String apply(String text) {
            return map.normalize(text);
        }
    }

    /** Removes leading and/or trailing Unicode White_Space. */
    record Strip(boolean left, boolean right) implements TextNormalizer {
        @Override
        public String apply(String text) {
            int start = 0;
            int end = text.length();
            while (left && start < end && Unicode.isWhiteSpace(text.codePointAt(start))) {
                start += Character.charCount(text.codePointAt(start));
            }
            while (right && end > start && Unicode.isWhiteSpace(text.codePointBefore(end))) {
                end -= Character.charCount(text.codePointBefore(end));
            }
            return text.substring(start, end);
        }
    }

    /** Replaces every non-overlapping match of a literal or a regular expression by {@code content}. */
    record Replace(Pattern pattern, String content) implements TextNormalizer {
        @Override
        public String apply(String text) {
            return pattern.matcher(text).replaceAll(Matcher.quoteReplacement(content));
        }
    }
}
