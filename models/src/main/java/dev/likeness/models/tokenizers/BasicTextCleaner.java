package dev.likeness.models.tokenizers;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The text clean-up of transformers' slow {@code CLIPTokenizer} when ftfy is not installed: its {@code BasicTokenizer}
 * with {@code do_lower_case=True, strip_accents=False, do_split_on_punc=False, tokenize_chinese_chars=True}, whose
 * tokens are joined by single spaces ({@code " ".join(self.nlp.tokenize(text))}).
 *
 * <p>Steps, in the reference's order: drop U+0000, U+FFFD and "control" characters (general category C*, except tab,
 * newline and carriage return); turn tab, newline, carriage return and category Zs into a space; put spaces around
 * CJK ideographs; NFC; split on Python whitespace ({@code str.split()}); lower-case each word ({@code str.lower()}:
 * full case mapping, final sigma included); join with spaces.
 *
 * <p>Character properties come from Java's Unicode tables (Unicode 16 in Java 25), Python's from its own
 * {@code unicodedata} (14.0 in Python 3.11): a character assigned after Unicode 14 (some newer emoji) is "unassigned",
 * so a control character, to that Python and is dropped there, but kept here.
 */
final class BasicTextCleaner {
    private BasicTextCleaner() {
    }

    static String clean(String text) {
        StringBuilder sb = new StringBuilder(text.length() + 8);
        text.codePoints().forEach(cp -> {
            if (cp == 0 || cp == 0xFFFD || isControl(cp)) {
                return;
            }
            if (isWhitespace(cp)) {
                sb.append(' ');
            } else if (isCjk(cp)) {
                sb.append(' ').appendCodePoint(cp).append(' ');
            } else {
                sb.appendCodePoint(cp);
            }
        });
        String nfc = Normalizer.normalize(sb, Normalizer.Form.NFC);
        List<String> words = new ArrayList<>();
        for (String w : pythonSplit(nfc)) {
            words.add(w.toLowerCase(Locale.ROOT));
        }
        return String.join(" ", pythonSplit(String.join(" ", words)));
    }

    /** Python's {@code str.split()}: runs of whitespace separate words; no empty words. */
    static List<String> pythonSplit(String s) {
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            if (Unicode.isPythonSpace(cp)) {
                if (start >= 0) {
                    out.add(s.substring(start, i));
                    start = -1;
                }
            } else if (start < 0) {
                start = i;
            }
            i += Character.charCount(cp);
        }
        if (start >= 0) {
            out.add(s.substring(start));
        }
        return out;
    }

    /** transformers {@code _is_control}: category C* except tab, newline and carriage return. */
    private static boolean isControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') {
            return false;
        }
        int type = Character.getType(cp);
        return type == Character.CONTROL || type == Character.FORMAT || type == Character.SURROGATE
                || type == Character.PRIVATE_USE || type == Character.UNASSIGNED;
    }

    /** transformers {@code _is_whitespace}: space, tab, newline, carriage return, category Zs. */
    private static boolean isWhitespace(int cp) {
        return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || Character.getType(cp) == Character.SPACE_SEPARATOR;
    }

    /** BERT's "Chinese character" blocks: the CJK Unified Ideographs and their extensions and compatibility forms. */
    private static boolean isCjk(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F)
                || (cp >= 0x2B820 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF)
                || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }
}
