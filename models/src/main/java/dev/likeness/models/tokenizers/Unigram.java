package dev.likeness.models.tokenizers;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The SentencePiece Unigram model as HF tokenizers runs it ({@code models/unigram/model.rs},
 * {@code encode_optimized}): the segmentation of a word into pieces with the highest total score, found by Viterbi
 * over UTF-8 byte positions.
 *
 * <p>At each character boundary, every piece that starts there (a prefix search in a byte trie of all pieces) extends
 * the best path ending there by its score; a later candidate replaces the best path at its end position only when
 * strictly better. If no piece covers exactly the next character, that character alone becomes an unknown node with
 * score {@code min(score) − 10}. Scores are summed in double precision. Consecutive unknown nodes are fused into one
 * unknown token. With {@code byte_fallback}, an unknown token whose every UTF-8 byte has a piece {@code <0xNN>} becomes
 * those byte pieces instead.
 */
final class Unigram {
    private static final double UNKNOWN_PENALTY = 10.0;

    /** One encoded token: its id and its text (the piece, or the span an unknown token covers). */
    record Token(int id, String text) {
    }

    private final String[] pieces;
    private final double[] scores;
    private final Map<String, Integer> ids;
    private final int unkId;
    private final boolean byteFallback;
    private final double unknownScore;
    private final ByteTrie trie;

    /**
     * @param pieces       the vocabulary, by id
     * @param scores       the log-probability of each piece
     * @param unkId        the unknown piece's id, or -1 when the model has none
     * @param byteFallback whether unknown text is spelled with {@code <0xNN>} pieces
     */
    Unigram(String[] pieces, double[] scores, int unkId, boolean byteFallback, String source) {
        if (pieces.length == 0) {
            throw new IllegalArgumentException(source + ": the Unigram vocabulary is empty");
        }
        if (unkId >= pieces.length) {
            throw new IllegalArgumentException(source + ": unk_id " + unkId + " is outside the vocabulary of "
                    + pieces.length + " pieces");
        }
        this.pieces = pieces;
        this.scores = scores;
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        this.ids = new HashMap<>(pieces.length * 2);
        double min = Double.POSITIVE_INFINITY;
        for (int id = 0; id < pieces.length; id++) {
            ids.put(pieces[id], id);
            min = Math.min(min, scores[id]);
        }
        this.unknownScore = min - UNKNOWN_PENALTY;
        this.trie = new ByteTrie(pieces, ids);
    }

    int size() {
        return pieces.length;
    }

    /** The id of a piece, or -1. */
    int id(String piece) {
        return ids.getOrDefault(piece, -1);
    }

    /** The tokens of one pre-tokenized word. */
    List<Token> encode(String word) {
        if (word.isEmpty()) {
            return List.of();
        }
        List<Token> out = new ArrayList<>();
        for (String s : segment(word.getBytes(StandardCharsets.UTF_8))) {
            Integer id = ids.get(s);
            if (id != null) {
                out.add(new Token(id, s));
            } else if (!(byteFallback && spellBytes(s, out))) {
                if (unkId < 0) {
                    throw new IllegalArgumentException("the Unigram model has no unk_id and cannot encode \"" + s + "\"");
                }
                out.add(new Token(unkId, s));
            }
        }
        return out;
    }

    /** Appends the {@code <0xNN>} pieces of {@code s}'s bytes; false (nothing appended) when one is missing. */
    private boolean spellBytes(String s, List<Token> out) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        List<Token> spelled = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            String piece = String.format("<0x%02X>", b & 0xFF);
            Integer id = ids.get(piece);
            if (id == null) {
                return false;
            }
            spelled.add(new Token(id, piece));
        }
        out.addAll(spelled);
        return true;
    }

    /** The best segmentation of {@code text} as strings, unknown runs fused. */
    private List<String> segment(byte[] text) {
        int n = text.length;
        double[] best = new double[n + 1];
        int[] from = new int[n + 1];
        int[] id = new int[n + 1];
        Arrays.fill(from, -1);
        int[] ends = new int[n + 1];
        int[] found = new int[n + 1];
        for (int start = 0; start < n; ) {
            double base = best[start];
            int charLength = utf8Length(text[start]);
            boolean coversChar = false;
            int count = trie.prefixes(text, start, ends, found);
            for (int k = 0; k < count; k++) {
                int end = ends[k];
                double score = base + scores[found[k]];
                if (from[end] < 0 || score > best[end]) {
                    best[end] = score;
                    from[end] = start;
                    id[end] = found[k];
                }
                coversChar |= end - start == charLength;
            }
            if (!coversChar) {
                int end = Math.min(n, start + charLength);
                double score = base + unknownScore;
                if (from[end] < 0 || score > best[end]) {
                    best[end] = score;
                    from[end] = start;
                    id[end] = unkId;
                }
            }
            start += charLength;
        }
        List<String> out = new ArrayList<>();
        int unknownEnd = -1;
        for (int end = n; end > 0; end = from[end]) {
            int start = from[end];
            boolean unknown = unkId >= 0 && id[end] == unkId;
            if (unknown) {
                if (unknownEnd < 0) {
                    unknownEnd = end;
                }
                continue;
            }
            if (unknownEnd >= 0) {
                out.add(new String(text, end, unknownEnd - end, StandardCharsets.UTF_8));
                unknownEnd = -1;
            }
            out.add(new String(text, start, end - start, StandardCharsets.UTF_8));
        }
        if (unknownEnd >= 0) {
            out.add(new String(text, 0, unknownEnd, StandardCharsets.UTF_8));
        }
        Collections.reverse(out);
        return out;
    }

    /** Bytes of the UTF-8 character that starts with {@code lead}. */
    private static int utf8Length(byte lead) {
        int b = lead & 0xFF;
        return b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    }

    /**
     * A trie over the pieces' UTF-8 bytes. Node {@code k}'s children are {@code label/child[first[k] ..
     * first[k] + count[k])}, sorted by label; {@code value[k]} is the id of the piece ending there or -1.
     */
    private static final class ByteTrie {
        private final int[] first;
        private final int[] count;
        private final int[] value;
        private final byte[] label;
        private final int[] child;

        ByteTrie(String[] pieces, Map<String, Integer> ids) {
            byte[][] keys = new byte[pieces.length][];
            for (int k = 0; k < pieces.length; k++) {
                keys[k] = pieces[k].getBytes(StandardCharsets.UTF_8);
            }
            Integer[] order = new Integer[keys.length];
            for (int k = 0; k < order.length; k++) {
                order[k] = k;
            }
            Arrays.sort(order, (a, b) -> Arrays.compareUnsigned(keys[a], keys[b]));
            // breadth-first over ranges of sorted keys that share a prefix of length depth
            List<int[]> nodes = new ArrayList<>();  // {lo, hi, depth}
            nodes.add(new int[]{0, order.length, 0});
            List<Integer> firstList = new ArrayList<>();
            List<Integer> countList = new ArrayList<>();
            List<Integer> valueList = new ArrayList<>();
            List<Byte> labelList = new ArrayList<>();
            for (int k = 0; k < nodes.size(); k++) {
                int lo = nodes.get(k)[0];
                int hi = nodes.get(k)[1];
                int depth = nodes.get(k)[2];
                int v = -1;
                while (lo < hi && keys[order[lo]].length == depth) {
                    v = ids.get(pieces[order[lo]]);  // duplicates: the id the vocabulary map kept
                    lo++;
                }
                valueList.add(v);
                firstList.add(labelList.size());
                int children = 0;
                while (lo < hi) {
                    byte b = keys[order[lo]][depth];
                    int end = lo;
                    while (end < hi && keys[order[end]][depth] == b) {
                        end++;
                    }
                    labelList.add(b);
                    nodes.add(new int[]{lo, end, depth + 1});
                    children++;
                    lo = end;
                }
                countList.add(children);
            }
            int size = nodes.size();
            first = new int[size];
            count = new int[size];
            value = new int[size];
            for (int k = 0; k < size; k++) {
                first[k] = firstList.get(k);
                count[k] = countList.get(k);
                value[k] = valueList.get(k);
            }
            label = new byte[labelList.size()];
            child = new int[labelList.size()];
            for (int k = 0; k < label.length; k++) {
                label[k] = labelList.get(k);
                child[k] = k + 1;  // breadth-first: the k-th label leads to node k + 1
            }
        }

        /**
         * The pieces that start at {@code text[start]}: their end positions and ids go into {@code ends} and
         * {@code found}, shortest first; returns how many.
         */
        int prefixes(byte[] text, int start, int[] ends, int[] found) {
            int node = 0;
            int n = 0;
            for (int i = start; i < text.length; i++) {
                int next = find(node, text[i]);
                if (next < 0) {
                    break;
                }
                node = next;
                if (value[node] >= 0) {
                    ends[n] = i + 1;
                    found[n] = value[node];
                    n++;
                }
            }
            return n;
        }

        private int find(int node, byte b) {
            int lo = first[node];
            int hi = lo + count[node] - 1;
            int key = b & 0xFF;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                int m = label[mid] & 0xFF;
                if (m < key) {
                    lo = mid + 1;
                } else if (m > key) {
                    hi = mid - 1;
                } else {
                    return child[mid];
                }
            }
            return -1;
        }
    }
}
