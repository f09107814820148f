package dev.likeness.models.tokenizers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** T5 ids against transformers' {@code T5TokenizerFast}, from tokenizer.json and from spiece.model. */
class T5TokenizerTest {
    private static final JsonNode TOKENIZER_JSON = TokenizerFiles.json(TokenizerCases.resource("t5/tokenizer.json.gz"));
    private static final T5Tokenizer FROM_JSON = T5Tokenizer.fromTokenizerJson(TOKENIZER_JSON, "t5/tokenizer.json");
    private static final T5Tokenizer FROM_SPIECE =
            T5Tokenizer.fromSentencePiece(TokenizerCases.resource("t5/spiece.model.gz"));

    @TestFactory
    List<DynamicNode> bothFormatsMatchTransformers() {
        JsonNode golden = TokenizerCases.json("t5/cases.json");
        assertEquals(T5Tokenizer.MAX_LENGTH, golden.get("max_length").asInt());
        List<DynamicNode> json = new ArrayList<>();
        List<DynamicNode> spiece = new ArrayList<>();
        for (TokenizerCases.Case c : TokenizerCases.cases(golden.get("cases"))) {
            json.add(DynamicTest.dynamicTest(c.quoted(), () -> {
                assertEquals(c.tokens(), FROM_JSON.tokenize(c.text()), "tokens of " + c.quoted());
                c.check(FROM_JSON.encode(c.text()), "tokenizer.json");
            }));
            spiece.add(DynamicTest.dynamicTest(c.quoted(), () -> c.check(FROM_SPIECE.encode(c.text()),
                    "spiece.model")));
        }
        return List.of(DynamicContainer.dynamicContainer("tokenizer.json", json),
                DynamicContainer.dynamicContainer("spiece.model", spiece));
    }

    /** The same vocabulary behind other pre-tokenizer settings (older files, non-legacy conversions). */
    @TestFactory
    List<DynamicNode> preTokenizerVariantsMatchTokenizers() {
        JsonNode golden = TokenizerCases.json("t5/cases.json");
        int maxLength = golden.get("variant_max_length").asInt();
        List<DynamicNode> out = new ArrayList<>();
        for (JsonNode variant : golden.get("variants")) {
            ObjectNode patched = TOKENIZER_JSON.deepCopy();
            patched.set("pre_tokenizer", variant.get("pre_tokenizer"));
            String name = variant.get("name").asText();
            T5Tokenizer tokenizer = T5Tokenizer.fromTokenizerJson(patched, name);
            List<DynamicNode> tests = new ArrayList<>();
            for (TokenizerCases.Case c : TokenizerCases.cases(variant.get("cases"))) {
                tests.add(DynamicTest.dynamicTest(c.quoted(), () -> c.check(tokenizer.encode(c.text(), maxLength),
                        name)));
            }
            out.add(DynamicContainer.dynamicContainer(name, tests));
        }
        return out;
    }

    @TestFactory
    List<DynamicTest> byteFallbackMatchesTokenizers() {
        T5Tokenizer tokenizer = T5Tokenizer.fromTokenizerJson(
                TokenizerCases.resource("t5/byte_fallback_tokenizer.json"));
        JsonNode golden = TokenizerCases.json("t5/byte_fallback_cases.json");
        int maxLength = golden.get("max_length").asInt();
        List<DynamicTest> tests = new ArrayList<>();
        for (TokenizerCases.Case c : TokenizerCases.cases(golden.get("cases"))) {
            tests.add(DynamicTest.dynamicTest(c.quoted(), () -> {
                assertEquals(c.tokens(), tokenizer.tokenize(c.text()), "tokens of " + c.quoted());
                c.check(tokenizer.encode(c.text(), maxLength), "byte fallback");
            }));
        }
        return tests;
    }

    @Test
    void eosAndPaddingAtFluxLength() {
        Encoding e = FROM_JSON.encode("");
        assertEquals(512, e.ids().length);
        assertEquals(1, e.ids()[0]);
        assertEquals(1, e.length());
        assertTrue(Arrays.stream(e.ids()).skip(1).allMatch(id -> id == 0));
        assertThrows(IllegalArgumentException.class, () -> FROM_JSON.encode("a", 0));
    }

    @Test
    void directoryPrefersTokenizerJson(@TempDir Path dir) throws IOException {
        Files.copy(TokenizerCases.resource("t5/spiece.model.gz"), dir.resolve("spiece.model.gz"));
        assertEquals(FROM_SPIECE.encode("a photo"), T5Tokenizer.fromDirectory(dir).encode("a photo"));
        Files.copy(TokenizerCases.resource("t5/byte_fallback_tokenizer.json"), dir.resolve("tokenizer.json"));
        T5Tokenizer fromDir = T5Tokenizer.fromDirectory(dir);
        assertEquals(T5Tokenizer.fromTokenizerJson(dir.resolve("tokenizer.json")).encode("a photo"),
                fromDir.encode("a photo"));
        assertTrue(!fromDir.encode("a photo").equals(FROM_SPIECE.encode("a photo")));
    }

    @Test
    void badFilesNameTheProblem(@TempDir Path dir) throws IOException {
        ObjectNode bpe = TOKENIZER_JSON.deepCopy();
        ((ObjectNode) bpe.get("model")).put("type", "BPE");
        var e = assertThrows(IllegalArgumentException.class, () -> T5Tokenizer.fromTokenizerJson(bpe, "x.json"));
        assertTrue(e.getMessage().contains("x.json") && e.getMessage().contains("BPE"), e.getMessage());

        ObjectNode nfkd = TOKENIZER_JSON.deepCopy();
        nfkd.putObject("normalizer").put("type", "NFKD");
        e = assertThrows(IllegalArgumentException.class, () -> T5Tokenizer.fromTokenizerJson(nfkd, "y.json"));
        assertTrue(e.getMessage().contains("y.json normalizer") && e.getMessage().contains("NFKD"), e.getMessage());

        byte[] model = TokenizerFiles.bytes(TokenizerCases.resource("t5/spiece.model.gz"));
        Path truncated = dir.resolve("spiece.model");
        Files.write(truncated, Arrays.copyOf(model, model.length / 2));
        e = assertThrows(IllegalArgumentException.class, () -> T5Tokenizer.fromSentencePiece(truncated));
        assertTrue(e.getMessage().contains(truncated.toString()) && e.getMessage().contains("truncated"),
                e.getMessage());
    }
}
