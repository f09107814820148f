package dev.likeness.engine.ops;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.golden.Golden;

/**
 * The non-contiguous inputs of a golden case: the stored tensor of a role with the view steps listed under the case's
 * {@code "views"} parameter applied, exactly as {@code tools/reference/goldens/views.py} applies them in torch
 * (permute, transpose, slice, expand, unsqueeze, select).
 */
final class ViewSpec {
    private ViewSpec() {
    }

    /** The input of {@code role}: the stored tensor with its view steps applied (none: the tensor as stored). */
    static Tensor input(Golden.Case c, String role) {
        return apply(c.tensor(role), c.params().path("views").path(role));
    }

    /** Like {@link #input} for an optional role: null when the case has no such tensor. */
    static Tensor optionalInput(Golden.Case c, String role) {
        return c.has(role) ? input(c, role) : null;
    }

    static Tensor apply(Tensor t, JsonNode steps) {
        for (JsonNode step : steps) {
            String op = step.get(0).asText();
            t = switch (op) {
                case "permute" -> t.permute(ints(step.get(1)));
                case "transpose" -> t.transpose(step.get(1).asInt(), step.get(2).asInt());
                case "slice" -> t.slice(step.get(1).asInt(), step.get(2).asInt(), step.get(3).asInt(),
                        step.get(4).asInt());
                case "expand" -> t.expand(ints(step.get(1)));
                case "unsqueeze" -> t.unsqueeze(step.get(1).asInt());
                case "select" -> t.select(step.get(1).asInt(), step.get(2).asInt());
                default -> throw new IllegalArgumentException("unknown view step " + step);
            };
        }
        return t;
    }

    private static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = a.get(i).asInt();
        }
        return r;
    }
}
