package dev.likeness.models.tokenizers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** The tokenizer goldens written by {@code tools/reference/goldens/models_tokenizers.py}. */
final class TokenizerCases {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerCases() {
    }

    /** One prompt and what the reference tokenizer made of it ({@code tokens} may be null). */
    record Case(String text, int[] ids, int[] mask, List<String> tokens) {
        /** Asserts that {@code actual} has exactly the reference ids and attention mask. */
        void check(Encoding actual, String label) {
            if (!Arrays.equals(ids, actual.ids())) {
                int k = 0;
                while (k < ids.length && k < actual.ids().length && ids[k] == actual.ids()[k]) {
                    k++;
                }
                fail(label + " " + quoted() + ": first difference at " + k + "\n  expected " + Arrays.toString(ids)
                        + "\n  actual   " + Arrays.toString(actual.ids()));
            }
            assertEquals(Arrays.toString(mask), Arrays.toString(actual.attentionMask()), label + " mask " + quoted());
        }

        String quoted() {
            String t = text.length() > 60 ? text.substring(0, 60) + "..." : text;
            return "\"" + t.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + "\"";
        }
    }

    /** The test resource {@code golden/tokenizers/<name>} as a path. */
    static Path resource(String name) {
        URL url = TokenizerCases.class.getResource("/golden/tokenizers/" + name);
        if (url == null) {
            fail("golden/tokenizers/" + name + " is missing: run tools/reference/run.sh tokenizers");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonNode json(String name) {
        try {
            return JSON.readTree(resource(name).toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Case> cases(JsonNode list) {
        List<Case> out = new ArrayList<>();
        for (JsonNode c : list) {
            List<String> tokens = null;
            if (c.has("tokens")) {
                tokens = new ArrayList<>();
                for (JsonNode t : c.get("tokens")) {
                    tokens.add(t.asText());
                }
            }
            out.add(new Case(c.get("text").asText(), ints(c.get("input_ids")), ints(c.get("attention_mask")), tokens));
        }
        if (out.isEmpty()) {
            fail("no cases in " + list);
        }
        return out;
    }

    private static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int k = 0; k < r.length; k++) {
            r[k] = a.get(k).asInt();
        }
        return r;
    }
}
