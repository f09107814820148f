package dev.likeness.models.tokenizers;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The parts of a SentencePiece {@code ModelProto} ({@code spiece.model}) a Unigram tokenizer needs, read straight
 * from the protobuf wire format: the pieces (field 1: piece 1, score 2, type 3), from the trainer spec (field 2) the
 * model type (3), byte fallback (35) and unknown id (40), and from the normalizer spec (field 3) its name (1) and
 * precompiled charsmap (2). Other fields are skipped by wire type.
 *
 * @param pieces              the vocabulary, by id
 * @param modelType           1 Unigram, 2 BPE, 3 word, 4 char
 * @param unkId               the unknown piece's id
 * @param byteFallback        whether the model was trained with byte fallback
 * @param normalizerName      the normalization rule name ({@code nmt_nfkc}, {@code identity}, ...)
 * @param precompiledCharsmap the compiled normalization rules (empty for {@code identity})
 */
record SentencePieceModel(List<Piece> pieces, int modelType, int unkId, boolean byteFallback, String normalizerName,
                          byte[] precompiledCharsmap) {

    /** {@code ModelProto.SentencePiece.Type}. */
    enum Type { NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE }

    record Piece(String piece, float score, Type type) {
    }

    static SentencePieceModel read(Path path) {
        return parse(TokenizerFiles.bytes(path), path.toString());
    }

    static SentencePieceModel parse(byte[] bytes, String source) {
        Reader model = new Reader(bytes, 0, bytes.length, source);
        List<Piece> pieces = new ArrayList<>();
        int modelType = 1;
        int unkId = 0;
        boolean byteFallback = false;
        String normalizerName = "";
        byte[] charsmap = new byte[0];
        while (model.more()) {
            int tag = model.varint32();
            switch (tag) {
                case (1 << 3) | 2 -> pieces.add(piece(model.message(), pieces.size()));
                case (2 << 3) | 2 -> {
                    Reader trainer = model.message();
                    while (trainer.more()) {
                        int t = trainer.varint32();
                        switch (t) {
                            case (3 << 3) -> modelType = trainer.varint32();
                            case (35 << 3) -> byteFallback = trainer.varint64() != 0;
                            case (40 << 3) -> unkId = trainer.varint32();
                            default -> trainer.skip(t);
                        }
                    }
                }
                case (3 << 3) | 2 -> {
                    Reader normalizer = model.message();
                    while (normalizer.more()) {
                        int t = normalizer.varint32();
                        switch (t) {
                            case (1 << 3) | 2 -> normalizerName = new String(normalizer.bytes(), StandardCharsets.UTF_8);
                            case (2 << 3) | 2 -> charsmap = normalizer.bytes();
                            default -> normalizer.skip(t);
                        }
                    }
                }
                default -> model.skip(tag);
            }
        }
        if (pieces.isEmpty()) {
            throw new IllegalArgumentException(source + ": the model has no pieces (field 1)");
        }
        return new SentencePieceModel(List.copyOf(pieces), modelType, unkId, byteFallback, normalizerName, charsmap);
    }

    private static Piece piece(Reader r, int index) {
        String piece = null;
        float score = 0f;
        int type = 1;
        while (r.more()) {
            int t = r.varint32();
            switch (t) {
                case (1 << 3) | 2 -> piece = new String(r.bytes(), StandardCharsets.UTF_8);
                case (2 << 3) | 5 -> score = Float.intBitsToFloat(r.fixed32());
                case (3 << 3) -> type = r.varint32();
                default -> r.skip(t);
            }
        }
        if (piece == null) {
            throw new IllegalArgumentException(r.source + ": piece " + index + " has no text (field 1)");
        }
        if (type < 1 || type > 6) {
            throw new IllegalArgumentException(r.source + ": piece " + index + " \"" + piece + "\" has type " + type
                    + ", expected 1..6");
        }
        return new Piece(piece, score, Type.values()[type - 1]);
    }

    /** A protobuf wire reader over {@code data[pos, end)}. */
    private static final class Reader {
        private final byte[] data;
        private final int end;
        private final String source;
        private int pos;

        Reader(byte[] data, int pos, int end, String source) {
            this.data = data;
            this.pos = pos;
            this.end = end;
            this.source = source;
        }

        boolean more() {
            return pos < end;
        }

        long varint64() {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) {
                    throw truncated("a varint");
                }
                byte b = data[pos++];
                v |= (long) (b & 0x7F) << shift;
                if (b >= 0) {
                    return v;
                }
            }
            throw new IllegalArgumentException(source + ": varint longer than 10 bytes at byte " + pos);
        }

        /** An int32 varint (negative values are sign-extended to 64 bits on the wire). */
        int varint32() {
            return (int) varint64();
        }

        int fixed32() {
            if (end - pos < 4) {
                throw truncated("a fixed32");
            }
            int v = (data[pos] & 0xFF) | (data[pos + 1] & 0xFF) << 8 | (data[pos + 2] & 0xFF) << 16
                    | (data[pos + 3] & 0xFF) << 24;
            pos += 4;
            return v;
        }

        byte[] bytes() {
            int n = length();
            byte[] out = new byte[n];
            System.arraycopy(data, pos, out, 0, n);
            pos += n;
            return out;
        }

        Reader message() {
            int n = length();
            Reader r = new Reader(data, pos, pos + n, source);
            pos += n;
            return r;
        }

        /** Skips the value of a field with tag {@code tag}. */
        void skip(int tag) {
            switch (tag & 7) {
                case 0 -> varint64();
                case 1 -> advance(8);
                case 2 -> advance(length());
                case 5 -> advance(4);
                default -> throw new IllegalArgumentException(source + ": unsupported wire type " + (tag & 7)
                        + " for field " + (tag >>> 3) + " at byte " + pos);
            }
        }

        private int length() {
            long n = varint64();
            if (n < 0 || n > end - pos) {
                throw truncated("a length-delimited field of " + n + " bytes");
            }
            return (int) n;
        }

        private void advance(int n) {
            if (end - pos < n) {
                throw truncated(n + " bytes");
            }
            pos += n;
        }

        private IllegalArgumentException truncated(String what) {
            return new IllegalArgumentException(source + ": truncated protobuf: " + what + " at byte " + pos
                    + " runs past byte " + end);
        }
    }
}
