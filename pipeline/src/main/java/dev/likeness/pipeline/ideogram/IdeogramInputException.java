package dev.likeness.pipeline.ideogram;

/** A request the ideogram endpoint cannot run, naming the input field at fault (served as a 422 on that field). */
public final class IdeogramInputException extends IllegalArgumentException {
    private final String field;

    public IdeogramInputException(String field, String message) {
        super(field + ": " + message);
        this.field = field;
    }

    /** The schema field, e.g. {@code style_codes}. */
    public String field() {
        return field;
    }

    /** The message without the field prefix. */
    public String reason() {
        return getMessage().substring(field.length() + 2);
    }
}
