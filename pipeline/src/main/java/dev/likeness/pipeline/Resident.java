package dev.likeness.pipeline;

import java.util.function.Supplier;

/**
 * A model that is mapped when first needed and may be released (unmapped) after its phase of a request, so that its
 * pages stop counting against the process: the text encoders are released before denoising, the image encoders after
 * the subject is encoded. {@code keep} models stay mapped between requests (the transformer, the adapter and the
 * VAE; everything for the tiny model). Opening again maps the files again, which costs milliseconds; the pages come
 * back from the OS page cache while memory allows.
 */
public final class Resident<T extends AutoCloseable> implements AutoCloseable {
    private final String name;
    private final Supplier<T> opener;
    private final boolean keep;
    private T model;

    public Resident(String name, Supplier<T> opener, boolean keep) {
        this.name = name;
        this.opener = opener;
        this.keep = keep;
    }

    /** Already-open model that stays open. */
    public static <T extends AutoCloseable> Resident<T> of(String name, T model) {
        Resident<T> r = new Resident<>(name, () -> model, true);
        r.model = model;
        return r;
    }

    public String name() {
        return name;
    }

    /** The model, mapping it if it is not. */
    public synchronized T get() {
        if (model == null) {
            model = opener.get();
        }
        return model;
    }

    /** Unmaps the model unless it is kept resident. */
    public synchronized void release() {
        if (!keep) {
            closeModel();
        }
    }

    @Override
    public synchronized void close() {
        closeModel();
    }

    private void closeModel() {
        if (model != null) {
            T m = model;
            model = null;
            try {
                m.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing " + name + ": " + e.getMessage(), e);
            }
        }
    }
}
