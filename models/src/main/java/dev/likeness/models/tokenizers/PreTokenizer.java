package dev.likeness.models.tokenizers;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@code pre_tokenizer} of a {@code tokenizer.json}: cuts normalized text into the words the model encodes one by
 * one. Supported: {@code Metaspace} (both the current {@code prepend_scheme}/{@code split} form and the older
 * {@code add_prefix_space} form), {@code WhitespaceSplit} and {@code Sequence}.
 */
sealed interface PreTokenizer {

    /**
     * A piece of text, {@code atStart} when it begins at offset 0 of the input (what Metaspace's {@code "first"}
     * scheme asks). A piece cut out of a longer one counts as at the start only when it is its leading part.
     */
    record Piece(String text, boolean atStart) {
    }

    /** Splits each piece; empty results are dropped, as tokenizers does. */
    List<Piece> split(List<Piece> pieces);

    static PreTokenizer fromJson(JsonNode node, String where) {
        String type = TokenizerFiles.required(node, "type", where).asText();
        return switch (type) {
            case "Sequence" -> {
                JsonNode list = TokenizerFiles.required(node, "pretokenizers", where);
                List<PreTokenizer> steps = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    steps.add(fromJson(list.get(i), where + ".pretokenizers[" + i + "]"));
                }
                yield new Sequence(List.copyOf(steps));
            }
            case "WhitespaceSplit" -> new WhitespaceSplit();
            case "Metaspace" -> Metaspace.fromJson(node, where);
            default -> throw new IllegalArgumentException(where + ": pre_tokenizer type \"" + type
                    + "\" is not supported (Sequence, Metaspace, WhitespaceSplit are)");
        };
    }

    /** The pre-tokenizers one after the other, each on every piece the previous one produced. */
    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public List<Piece> split(List<Piece> pieces) {
            for (PreTokenizer p : steps) {
                pieces = p.split(pieces);
            }
            return pieces;
        }
    }

    /** Splits on runs of Unicode White_Space, which is removed. */
    record WhitespaceSplit() implements PreTokenizer {
        @Override
        public List<Piece> split(List<Piece> pieces) {
            List<Piece> out = new ArrayList<>();
            for (Piece p : pieces) {
                String s = p.text();
                int start = -1;
                for (int i = 0; i <= s.length(); ) {
                    int cp = i < s.length() ? s.codePointAt(i) : ' ';
                    if (Unicode.isWhiteSpace(cp)) {
                        if (start >= 0) {
                            out.add(new Piece(s.substring(start, i), p.atStart() && start == 0));
                            start = -1;
                        }
                    } else if (start < 0) {
                        start = i;
                    }
                    i += i < s.length() ? Character.charCount(cp) : 1;
                }
            }
            return out;
        }
    }

    /** When Metaspace adds the replacement character in front of a piece. */
    enum PrependScheme { ALWAYS, FIRST, NEVER }

    /**
     * SentencePiece's whitespace handling: every space becomes {@code replacement} (▁); the replacement is put in
     * front of a piece that does not start with it (every piece, or only the one at the input's start, or none);
     * with {@code split}, the piece is then cut in front of every replacement character.
     */
    record Metaspace(int replacement, PrependScheme prependScheme, boolean split) implements PreTokenizer {

        static Metaspace fromJson(JsonNode node, String where) {
            String rep = TokenizerFiles.required(node, "replacement", where).asText();
            if (rep.codePointCount(0, rep.length()) != 1) {
                throw new IllegalArgumentException(where + ": Metaspace replacement \"" + rep
                        + "\" is not one character");
            }
            PrependScheme scheme = switch (node.path("prepend_scheme").asText("always")) {
                case "always" -> PrependScheme.ALWAYS;
                case "first" -> PrependScheme.FIRST;
                case "never" -> PrependScheme.NEVER;
                default -> throw new IllegalArgumentException(where + ": Metaspace prepend_scheme "
                        + node.get("prepend_scheme") + " is none of always, first, never");
            };
            // the older form: add_prefix_space false means "never" (tokenizers refuses it with another scheme)
            if (node.has("add_prefix_space") && !node.get("add_prefix_space").asBoolean()) {
                if (node.has("prepend_scheme") && scheme != PrependScheme.NEVER) {
                    throw new IllegalArgumentException(where + ": add_prefix_space false contradicts prepend_scheme "
                            + node.get("prepend_scheme"));
                }
                scheme = PrependScheme.NEVER;
            }
            return new Metaspace(rep.codePointAt(0), scheme, node.path("split").asBoolean(true));
        }

        @Override
        public List<Piece> split(List<Piece> pieces) {
            String rep = Character.toString(replacement);
            List<Piece> out = new ArrayList<>();
            for (Piece p : pieces) {
                String s = p.text().replace(" ", rep);
                boolean prepend = switch (prependScheme) {
                    case ALWAYS -> true;
                    case FIRST -> p.atStart();
                    case NEVER -> false;
                };
                if (prepend && !s.startsWith(rep)) {
                    s = rep + s;
                }
                if (!split) {
                    out.add(new Piece(s, p.atStart()));
                    continue;
                }
                // tokenizers' MergedWithNext: each replacement character opens a new piece
                int start = 0;
                for (int i = s.indexOf(rep, 1); i >= 0; i = s.indexOf(rep, i + rep.length())) {
                    out.add(new Piece(s.substring(start, i), p.atStart() && start == 0));
                    start = i;
                }
                out.add(new Piece(s.substring(start), p.atStart() && start == 0));
            }
            return out;
        }
    }
}
