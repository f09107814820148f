package dev.likeness.engine;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.BiFunction;

/**
 * Maps a whole file read-only into a shared arena (any size: FFM segments have no 2 GiB limit) and hands it to a
 * reader; if the file cannot be read or the reader fails, the mapping is released before the error propagates.
 * The reader's result owns the arena from then on.
 */
public final class MappedFile {
    private MappedFile() {
    }

    /** Reads a mapped file into the format's object (a checkpoint index, a header). */
    @FunctionalInterface
    public interface Reader<T> {
        T read(Arena arena, MemorySegment file);
    }

    /**
     * Maps {@code path} and returns {@code reader}'s result. I/O failures become {@code error.apply(message, cause)},
     * with a message that names the file.
     */
    public static <T> T open(Path path, Reader<T> reader, BiFunction<String, Throwable, RuntimeException> error) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment file;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            }
            return reader.read(arena, file);
        } catch (NoSuchFileException e) {
            arena.close();
            throw error.apply(path + ": no such file", e);
        } catch (IOException e) {
            arena.close();
            throw error.apply(path + ": cannot read: " + e, e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }
}
