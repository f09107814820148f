package dev.likeness.server;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, R2, s3proxy, ...) through the AWS SDK v2, configured by
 * one URL:
 * <pre>s3://[ACCESS_KEY:SECRET_KEY@]bucket[/prefix]?endpoint=http://host:9000&amp;region=us-east-1&amp;path_style=true&amp;create=true</pre>
 * Without credentials in the URL the SDK's default chain is used ({@code AWS_ACCESS_KEY_ID}/{@code
 * AWS_SECRET_ACCESS_KEY}, profiles, instance roles). {@code endpoint} is needed for anything but AWS; path-style
 * addressing is the default when it is given. {@code create=true} creates the bucket when missing.
 */
public final class S3ObjectStore implements ObjectStore {
    private final S3Client s3;
    private final String bucket;
    private final String prefix;
    private final String description;

    /** Opens the bucket a {@code s3://} URL names (checking it can be reached, creating it with {@code create=true}). */
    public S3ObjectStore(String url) {
        URI u = URI.create(url);
        if (!"s3".equals(u.getScheme()) || u.getHost() == null) {
            throw new IllegalArgumentException("storage URL must be s3://[key:secret@]bucket[/prefix]?endpoint=...: '"
                    + redact(url) + "'");
        }
        Map<String, String> q = query(u.getRawQuery());
        this.bucket = u.getHost();
        String p = u.getPath() == null ? "" : u.getPath().replaceAll("^/+|/+$", "");
        this.prefix = p.isEmpty() ? "" : p + "/";
        AwsCredentialsProvider creds;
        if (u.getRawUserInfo() != null) {
            String[] kv = u.getRawUserInfo().split(":", 2);
            if (kv.length != 2) throw new IllegalArgumentException("storage URL credentials must be KEY:SECRET");
            creds = StaticCredentialsProvider.create(AwsBasicCredentials.create(
                    URLDecoder.decode(kv[0], StandardCharsets.UTF_8), URLDecoder.decode(kv[1], StandardCharsets.UTF_8)));
        } else {
            creds = DefaultCredentialsProvider.builder().build();
        }
        var b = S3Client.builder().httpClientBuilder(UrlConnectionHttpClient.builder())
                .region(Region.of(q.getOrDefault("region", "us-east-1"))).credentialsProvider(creds);
        String endpoint = q.get("endpoint");
        if (endpoint != null) b.endpointOverride(URI.create(endpoint));
        b.forcePathStyle(Boolean.parseBoolean(q.getOrDefault("path_style", endpoint != null ? "true" : "false")));
        this.s3 = b.build();
        this.description = "s3://" + bucket + "/" + prefix + (endpoint != null ? " at " + endpoint : "");
        try {
            s3.headBucket(h -> h.bucket(bucket));
        } catch (S3Exception e) {
            if (e.statusCode() == 404 && Boolean.parseBoolean(q.getOrDefault("create", "false"))) {
                try {
                    s3.createBucket(c -> c.bucket(bucket));
                } catch (software.amazon.awssdk.services.s3.model.BucketAlreadyOwnedByYouException raced) {
                    // another process starting at the same time created it
                } catch (RuntimeException c) {
                    s3.close();
                    throw new IllegalStateException("cannot create the bucket " + description + ": " + c.getMessage(), c);
                }
            } else {
                s3.close();
                throw new IllegalStateException("cannot use the bucket " + description + ": " + e.getMessage(), e);
            }
        } catch (RuntimeException e) {
            s3.close();
            throw new IllegalStateException("cannot reach the bucket " + description + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, String> query(String raw) {
        Map<String, String> m = new LinkedHashMap<>();
        if (raw == null) return m;
        for (String kv : raw.split("&")) {
            if (kv.isEmpty()) continue;
            int i = kv.indexOf('=');
            String k = URLDecoder.decode(i < 0 ? kv : kv.substring(0, i), StandardCharsets.UTF_8);
            String v = i < 0 ? "true" : URLDecoder.decode(kv.substring(i + 1), StandardCharsets.UTF_8);
            m.put(k, v);
        }
        return m;
    }

    /** A storage URL with its secret hidden (for messages). */
    static String redact(String url) {
        return url.replaceAll("(s3://[^:/@]*):[^@/]*@", "$1:***@");
    }

    private String key(String id) {
        if (!id.matches("[0-9a-f]{32}")) throw new IllegalArgumentException("not a file id: '" + id + "'");
        return prefix + id;
    }

    @Override
    public void put(String id, byte[] data) {
        String key = key(id);
        try {
            s3.putObject(r -> r.bucket(bucket).key(key), RequestBody.fromBytes(data));
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot write file " + id + " to " + description + ": " + e.getMessage(), e);
        }
    }

    /** Reads the stream into memory first (within {@code limit}): S3 needs the length before the upload. */
    @Override
    public long put(String id, InputStream in, long limit) throws IOException {
        byte[] data = ObjectStore.readLimited(in, limit);
        if (data == null) return -1;
        put(id, data);
        return data.length;
    }

    @Override
    public byte[] get(String id) {
        String key = key(id);
        try {
            ResponseBytes<GetObjectResponse> r = s3.getObjectAsBytes(g -> g.bucket(bucket).key(key));
            return r.asByteArray();
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot read file " + id + " from " + description + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean exists(String id) {
        String key = key(id);
        try {
            s3.headObject(h -> h.bucket(bucket).key(key));
            return true;
        } catch (NoSuchKeyException e) {
            return false;
        } catch (S3Exception e) {
            if (e.statusCode() == 404) return false;
            throw new IllegalStateException("cannot look up file " + id + " in " + description + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void delete(String id) {
        String key = key(id);
        try {
            s3.deleteObject(d -> d.bucket(bucket).key(key));
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot delete file " + id + " from " + description + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void close() {
        s3.close();
    }
}
