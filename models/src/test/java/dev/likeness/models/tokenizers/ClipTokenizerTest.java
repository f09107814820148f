package dev.likeness.models.tokenizers;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CLIP ids against transformers' slow {@code CLIPTokenizer}, from both file formats. */
class ClipTokenizerTest {
    private static final ClipTokenizer FULL = ClipTokenizer.fromVocabAndMerges(
            TokenizerCases.resource("clip/vocab.json.gz"), TokenizerCases.resource("clip/merges.txt.gz"));

    @TestFactory
    List<DynamicTest> vocabJsonAndMergesMatchTransformers() {
        JsonNode golden = TokenizerCases.json("clip/cases.json");
        assertEquals(ClipTokenizer.MAX_LENGTH, golden.get("max_length").asInt());
        List<DynamicTest> tests = new ArrayList<>();
        for (TokenizerCases.Case c : TokenizerCases.cases(golden.get("cases"))) {
            tests.add(DynamicTest.dynamicTest(c.quoted(), () -> {
                assertEquals(c.tokens(), FULL.tokenize(c.text()), "tokens of " + c.quoted());
                c.check(FULL.encode(c.text()), "vocab.json + merges.txt");
            }));
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> tokenizerJsonMatchesTransformers() {
        ClipTokenizer small = ClipTokenizer.fromTokenizerJson(TokenizerCases.resource("clip/tokenizer.json.gz"));
        JsonNode golden = TokenizerCases.json("clip/tokenizer_json_cases.json");
        int maxLength = golden.get("max_length").asInt();
        List<DynamicTest> tests = new ArrayList<>();
        for (TokenizerCases.Case c : TokenizerCases.cases(golden.get("cases"))) {
            tests.add(DynamicTest.dynamicTest(c.quoted(), () -> c.check(small.encode(c.text(), maxLength),
                    "tokenizer.json")));
        }
        return tests;
    }

    @Test
    void knownIdsOfClipVitLargePatch14() {
        Encoding e = FULL.encode("a photo of a cat");
        assertArrayEquals(new int[]{49406, 320, 1125, 539, 320, 2368, 49407, 49407},
                java.util.Arrays.copyOf(e.ids(), 8));
        assertEquals(7, e.length());
        assertEquals(77, e.ids().length);
    }

    @Test
    void truncationKeepsBosAndEos() {
        Encoding e = FULL.encode("cat ".repeat(200), 10);
        assertArrayEquals(new int[]{49406, 2368, 2368, 2368, 2368, 2368, 2368, 2368, 2368, 49407}, e.ids());
        assertEquals(10, e.length());
        assertThrows(IllegalArgumentException.class, () -> FULL.encode("cat", 1));
    }

    @Test
    void directoryPrefersVocabAndMerges(@TempDir Path dir) throws IOException {
        Files.copy(TokenizerCases.resource("clip/tokenizer.json.gz"), dir.resolve("tokenizer.json.gz"));
        // only tokenizer.json (8000 merges): the specials sit at 8512 and 8513
        assertEquals(8512, ClipTokenizer.fromDirectory(dir).encode("a").ids()[0]);
        Files.copy(TokenizerCases.resource("clip/vocab.json.gz"), dir.resolve("vocab.json.gz"));
        Files.copy(TokenizerCases.resource("clip/merges.txt.gz"), dir.resolve("merges.txt.gz"));
        assertEquals(49406, ClipTokenizer.fromDirectory(dir).encode("a").ids()[0]);
    }

    @Test
    void badFilesNameTheProblem(@TempDir Path dir) throws IOException {
        Path unigram = dir.resolve("tokenizer.json");
        Files.writeString(unigram, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        var e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.fromTokenizerJson(unigram));
        assertTrue(e.getMessage().contains("Unigram") && e.getMessage().contains(unigram.toString()), e.getMessage());

        Path vocab = dir.resolve("vocab.json");
        Files.writeString(vocab, "{\"a</w>\": 0, \"<|endoftext|>\": 1}");
        Path merges = dir.resolve("merges.txt");
        Files.writeString(merges, "#version: 0.2\na b\n");
        e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.fromVocabAndMerges(vocab, merges));
        assertTrue(e.getMessage().contains("<|startoftext|>"), e.getMessage());

        Files.writeString(vocab, "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}");
        Files.writeString(merges, "#version: 0.2\na b c\n");
        e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.fromVocabAndMerges(vocab, merges));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }
}
