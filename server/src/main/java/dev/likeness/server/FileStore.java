package dev.likeness.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Base64;
import java.util.Locale;
import java.util.Map;

/**
 * Files on local disk ({@code <data dir>/files/<id>}), their metadata in the {@link Database}, served at
 * {@code <base>/files/<id>/<name>}. Ids are 128 random bits, so a file URL is a capability, like fal's CDN URLs
 * (public to whoever has the URL).
 */
public final class FileStore {
    private static final Map<String, String> EXTENSIONS = Map.of(
            "image/png", "png", "image/jpeg", "jpg", "image/webp", "webp", "image/gif", "gif",
            "application/json", "json", "text/plain", "txt");

    private final Database db;
    private final Path dir;

    /** @param dataDir the server's data directory */
    public FileStore(Database db, Path dataDir) {
        this.db = db;
        this.dir = dataDir.resolve("files");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the file store " + dir, e);
        }
    }

    /** A new file id. */
    public static String newId() {
        return Ids.token(16);
    }

    /** The URL of a file under a base URL. */
    public static String url(String baseUrl, String id, String name) {
        return baseUrl + "/files/" + id + "/" + URLEncoder.encode(name, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** Stores bytes as a new file and returns fal's File object {@code {url, content_type, file_name, file_size}}. */
    public ObjectNode store(byte[] data, String contentType, String fileName, String keyId, String baseUrl) {
        String id = newId();
        String name = safeName(fileName, contentType);
        write(id, data);
        db.upsertFile(new Database.FileRow(id, name, contentType, data.length, keyId, true), System.currentTimeMillis());
        return fileJson(url(baseUrl, id, name), contentType, name, data.length);
    }

    /** fal's File object with a {@code data:} URI, storing nothing (sync_mode). */
    public static ObjectNode inline(byte[] data, String contentType, String fileName) {
        String name = safeName(fileName, contentType);
        return fileJson(dataUri(data, contentType), contentType, name, data.length);
    }

    private static ObjectNode fileJson(String url, String contentType, String name, long size) {
        return Json.object().put("url", url).put("content_type", contentType).put("file_name", name)
                .put("file_size", size);
    }

    /** {@code data:<mime>;base64,<payload>}. */
    public static String dataUri(byte[] data, String contentType) {
        return "data:" + contentType + ";base64," + Base64.getEncoder().encodeToString(data);
    }

    /** Writes the bytes of file {@code id} (atomically: a temporary file moved into place). */
    public void write(String id, byte[] data) {
        try {
            Path tmp = Files.createTempFile(dir, id, ".part");
            Files.write(tmp, data);
            Files.move(tmp, path(id), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write file " + id + " in " + dir, e);
        }
    }

    /**
     * Copies a stream into file {@code id}, refusing more than {@code limit} bytes; returns the size, or -1 when the
     * limit was passed (nothing is kept then).
     */
    public long write(String id, InputStream in, long limit) throws IOException {
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

    /** The on-disk path of a file id (ids are hex only, checked). */
    public Path path(String id) {
        if (!id.matches("[0-9a-f]{32}")) throw new IllegalArgumentException("not a file id: '" + id + "'");
        return dir.resolve(id);
    }

    /** Metadata of a complete file, or null when unknown or not uploaded yet. */
    public Database.FileRow find(String id) {
        if (!id.matches("[0-9a-f]{32}")) return null;
        Database.FileRow f = db.file(id);
        return f != null && f.complete() && Files.exists(path(id)) ? f : null;
    }

    /** The bytes of a complete file. */
    public byte[] read(String id) {
        try {
            return Files.readAllBytes(path(id));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read file " + id, e);
        }
    }

    /**
     * A file name safe in a URL and on disk: letters, digits, {@code . _ -} only, at most 100 characters; a missing
     * name becomes {@code <random>.<ext>} from the content type.
     */
    public static String safeName(String name, String contentType) {
        String clean = name == null ? "" : name.replaceAll("[^A-Za-z0-9._-]", "_").replaceAll("^[.]+", "");
        if (clean.length() > 100) clean = clean.substring(clean.length() - 100);
        if (clean.isEmpty()) {
            String ext = EXTENSIONS.getOrDefault(contentType == null ? "" : contentType.toLowerCase(Locale.ROOT), "bin");
            clean = Ids.token(16) + "." + ext;
        }
        return clean;
    }
}
