package dev.likeness.models.tokenizers;

/** Character classes as the reference implementations define them (they differ from {@code Character.isWhitespace}). */
final class Unicode {
    private Unicode() {
    }

    /**
     * The Unicode {@code White_Space} property: Rust's {@code char::is_whitespace}, and {@code \s} in Rust's
     * {@code regex} crate and in Java's {@code (?U)} mode.
     */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    /**
     * Python's {@code str.isspace} (what {@code str.split()} splits on): White_Space plus the ASCII separators
     * U+001C..U+001F.
     */
    static boolean isPythonSpace(int cp) {
        return isWhiteSpace(cp) || (cp >= 0x1C && cp <= 0x1F);
    }

    /**
     * {@code \w} in Rust's {@code regex} crate: Alphabetic, marks, decimal digits, connector punctuation and the
     * two join controls.
     */
    static boolean isWordChar(int cp) {
        int type = Character.getType(cp);
        return Character.isAlphabetic(cp) || type == Character.NON_SPACING_MARK || type == Character.ENCLOSING_MARK
                || type == Character.COMBINING_SPACING_MARK || type == Character.DECIMAL_DIGIT_NUMBER
                || type == Character.CONNECTOR_PUNCTUATION || cp == 0x200C || cp == 0x200D;
    }
}
