package dev.likeness.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * The optional config file: {@code $LIKENESS_CONFIG}, else {@code ~/.config/likeness/config.properties}, a Java
 * properties file. Keys: {@code models} (the real-weights folder, as {@code --models}).
 */
final class Config {
    private Config() {
    }

    static Path file() {
        String env = System.getenv("LIKENESS_CONFIG");
        return env != null && !env.isBlank() ? Path.of(env)
                : Path.of(System.getProperty("user.home"), ".config", "likeness", "config.properties");
    }

    /** The {@code models} entry, or null when there is no file or no entry. */
    static Path models() throws IOException {
        Path f = file();
        if (!Files.isRegularFile(f)) {
            return null;
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(f)) {
            p.load(r);
        }
        String v = p.getProperty("models");
        return v == null || v.isBlank() ? null : Path.of(v.trim());
    }
}
