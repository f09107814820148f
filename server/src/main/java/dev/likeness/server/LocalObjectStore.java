package dev.likeness.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Objects as files in one directory ({@code <data dir>/files/<id>}), written to a temporary file and moved in place. */
public final class LocalObjectStore implements ObjectStore {
    private final Path dir;

    /** @param dir the directory (created when missing) */
    public LocalObjectStore(Path dir) {
        this.dir = dir;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the file store " + dir, e);
        }
    }

    @Override
    public void put(String id, byte[] data) {
        try {
            Path tmp = Files.createTempFile(dir, id, ".part");
            Files.write(tmp, data);
            Files.move(tmp, path(id), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write file " + id + " in " + dir, e);
        }
    }

    @Override
    public long put(String id, InputStream in, long limit) throws IOException {
        Path tmp = Files.createTempFile(dir, id, ".part");
        try {
            long n = 0;
            try (var out = Files.newOutputStream(tmp)) {
                byte[] buf = new byte[65536];
                int r;
                while ((r = in.read(buf)) > 0) {
                    n += r;
                    if (n > limit) return -1;
                    out.write(buf, 0, r);
                }
            }
            Files.move(tmp, path(id), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return n;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    @Override
    public byte[] get(String id) {
        try {
            return Files.readAllBytes(path(id));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read file " + id, e);
        }
    }

    @Override
    public boolean exists(String id) {
        return Files.exists(path(id));
    }

    @Override
    public void delete(String id) {
        try {
            Files.deleteIfExists(path(id));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete file " + id, e);
        }
    }

    @Override
    public String describe() {
        return dir.toString();
    }

    /** The path of an object (ids are hex only, checked). */
    public Path path(String id) {
        if (!id.matches("[0-9a-f]{32}")) throw new IllegalArgumentException("not a file id: '" + id + "'");
        return dir.resolve(id);
    }
}
