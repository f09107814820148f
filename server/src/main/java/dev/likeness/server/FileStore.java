package dev.likeness.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Locale;
import java.util.Map;

/**
 * Files: bytes in an {@link ObjectStore} (local disk, {@code <data dir>/files/<id>}, or an S3 bucket), metadata in
 * the {@link Store}, served at
 * {@code <base>/files/<id>/<name>}. Ids are 128 random bits, so a file URL is a capability, like fal's CDN URLs
 * (public to whoever has the URL).
 */
public final class FileStore {
    private static final Map<String, String> EXTENSIONS = Map.of(
            "image/png", "png", "image/jpeg", "jpg", "image/webp", "webp", "image/gif", "gif",
            "application/json", "json", "text/plain", "txt");

    private final Store db;
    private final ObjectStore objects;

    /** Files on local disk in {@code <dataDir>/files}. */
    public FileStore(Store db, Path dataDir) {
        this(db, new LocalObjectStore(dataDir.resolve("files")));
    }

    /** Files whose bytes are in an {@link ObjectStore}. */
    public FileStore(Store db, ObjectStore objects) {
        this.db = db;
        this.objects = objects;
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

    /** Writes the bytes of file {@code id} (readers never see a partial file). */
    public void write(String id, byte[] data) {
        objects.put(id, data);
    }

    /**
     * Copies a stream into file {@code id}, refusing more than {@code limit} bytes; returns the size, or -1 when the
     * limit was passed (nothing is kept then).
     */
    public long write(String id, InputStream in, long limit) throws IOException {
        return objects.put(id, in, limit);
    }

    /** Deletes the bytes of a file (retention). */
    public void delete(String id) {
        objects.delete(id);
    }

    /** Metadata of a complete file, or null when unknown or not uploaded yet. */
    public Database.FileRow find(String id) {
        if (!id.matches("[0-9a-f]{32}")) return null;
        Database.FileRow f = db.file(id);
        return f != null && f.complete() && objects.exists(id) ? f : null;
    }

    /** The bytes of a complete file. */
    public byte[] read(String id) {
        return objects.get(id);
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
