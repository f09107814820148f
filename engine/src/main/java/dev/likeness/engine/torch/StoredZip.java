package dev.likeness.engine.torch;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The central directory of a zip archive held in a (memory-mapped) segment, giving zero-copy slices of its STORED
 * entries, as {@code torch.save} writes them (PKWARE APPNOTE 6.3: end of central directory record, ZIP64 end record
 * and locator, central file headers, local file headers).
 *
 * <p>Only what a reader of uncompressed entries needs is interpreted: an entry's data starts after its local
 * header (30 bytes, the name and the local extra field, whose lengths may differ from the central ones) and spans
 * its compressed size. Sizes and offsets of 0xFFFFFFFF (and an entry count of 0xFFFF) are taken from the ZIP64
 * records, so archives above 4 GiB read like small ones.
 */
final class StoredZip {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int EOCD = 0x06054b50;
    private static final int EOCD64 = 0x06064b50;
    private static final int EOCD64_LOCATOR = 0x07064b50;
    private static final int CENTRAL = 0x02014b50;
    private static final int LOCAL = 0x04034b50;
    private static final int ZIP64_EXTRA = 0x0001;
    private static final long MAX16 = 0xFFFFL;
    private static final long MAX32 = 0xFFFFFFFFL;

    /** One central directory entry: compression method, sizes and the offset of its local header. */
    record Entry(String name, int method, long compressedSize, long size, long localHeader) {
    }

    private final Path path;
    private final MemorySegment file;
    private final Map<String, Entry> entries;

    private StoredZip(Path path, MemorySegment file, Map<String, Entry> entries) {
        this.path = path;
        this.file = file;
        this.entries = entries;
    }

    /** Reads the central directory of {@code file} (the bytes of {@code path}, named in errors). */
    static StoredZip read(Path path, MemorySegment file) {
        long size = file.byteSize();
        long eocd = findEndRecord(path, file);
        long count = u16(file, eocd + 10);
        long cdSize = u32(file, eocd + 12);
        long cdOffset = u32(file, eocd + 16);
        if (count == MAX16 || cdSize == MAX32 || cdOffset == MAX32) {
            long locator = eocd - 20;
            if (locator < 0 || file.get(U32, locator) != EOCD64_LOCATOR) {
                throw bad(path, "the end record defers to ZIP64 records, but there is no ZIP64 locator before it");
            }
            long eocd64 = file.get(U64, locator + 8);
            if (eocd64 < 0 || eocd64 > locator - 56 || file.get(U32, eocd64) != EOCD64) {
                throw bad(path, "the ZIP64 locator points at byte " + Long.toUnsignedString(eocd64)
                        + ", where there is no ZIP64 end record (truncated or corrupt archive)");
            }
            count = file.get(U64, eocd64 + 32);
            cdSize = file.get(U64, eocd64 + 40);
            cdOffset = file.get(U64, eocd64 + 48);
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset > size || cdSize > size - cdOffset) {
            throw bad(path, "the central directory [" + cdOffset + ", +" + cdSize + "] lies outside the " + size
                    + "-byte file (truncated or corrupt archive)");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        long at = cdOffset;
        long end = cdOffset + cdSize;
        for (long i = 0; i < count; i++) {
            if (at + 46 > end || file.get(U32, at) != CENTRAL) {
                throw bad(path, "central directory entry " + i + " of " + count + " at byte " + at
                        + " is missing or has a bad signature (corrupt archive)");
            }
            int method = (int) u16(file, at + 10);
            long compressed = u32(file, at + 20);
            long plain = u32(file, at + 24);
            int nameLen = (int) u16(file, at + 28);
            int extraLen = (int) u16(file, at + 30);
            int commentLen = (int) u16(file, at + 32);
            long local = u32(file, at + 42);
            long next = at + 46 + nameLen + extraLen + commentLen;
            if (next > end) {
                throw bad(path, "central directory entry " + i + " runs past the end of the directory (corrupt)");
            }
            String name = new String(file.asSlice(at + 46, nameLen).toArray(ValueLayout.JAVA_BYTE),
                    StandardCharsets.UTF_8);
            // the ZIP64 extra field holds, in this order, exactly those of the three values that overflowed
            long extra = at + 46 + nameLen;
            long extraEnd = extra + extraLen;
            while (extra + 4 <= extraEnd) {
                int id = (int) u16(file, extra);
                int len = (int) u16(file, extra + 2);
                if (id == ZIP64_EXTRA) {
                    long v = extra + 4;
                    long vEnd = Math.min(v + len, extraEnd);
                    if (plain == MAX32 && v + 8 <= vEnd) {
                        plain = file.get(U64, v);
                        v += 8;
                    }
                    if (compressed == MAX32 && v + 8 <= vEnd) {
                        compressed = file.get(U64, v);
                        v += 8;
                    }
                    if (local == MAX32 && v + 8 <= vEnd) {
                        local = file.get(U64, v);
                    }
                }
                extra += 4 + len;
            }
            if (entries.put(name, new Entry(name, method, compressed, plain, local)) != null) {
                throw bad(path, "entry '" + name + "' appears twice in the central directory");
            }
            at = next;
        }
        return new StoredZip(path, file, Collections.unmodifiableMap(entries));
    }

    /** The end of central directory record: the last signature that leaves room for its own comment. */
    private static long findEndRecord(Path path, MemorySegment file) {
        long size = file.byteSize();
        long lowest = Math.max(0, size - 22 - MAX16);
        for (long at = size - 22; at >= lowest; at--) {
            if (file.get(U32, at) == EOCD && at + 22 + u16(file, at + 20) == size) {
                return at;
            }
        }
        throw bad(path, "no zip end-of-central-directory record: the archive is truncated, or this is not a zip file");
    }

    Set<String> names() {
        return entries.keySet();
    }

    boolean contains(String name) {
        return entries.containsKey(name);
    }

    Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw bad(path, "the archive has no entry '" + name + "'");
        }
        return e;
    }

    /** The bytes of a STORED entry, as a slice of the file (no copy). */
    MemorySegment data(String name) {
        Entry e = entry(name);
        if (e.method() != 0) {
            throw bad(path, "entry '" + name + "' is compressed (method " + e.method() + "); torch.save stores its "
                    + "records uncompressed, and only those can be mapped");
        }
        if (e.compressedSize() != e.size()) {
            throw bad(path, "entry '" + name + "' is stored but its sizes differ (" + e.compressedSize() + " vs "
                    + e.size() + ")");
        }
        long local = e.localHeader();
        if (local < 0 || local + 30 > file.byteSize() || file.get(U32, local) != LOCAL) {
            throw bad(path, "entry '" + name + "': no local file header at byte " + local + " (corrupt archive)");
        }
        long start = local + 30 + u16(file, local + 26) + u16(file, local + 28);
        if (e.size() < 0 || start + e.size() > file.byteSize()) {
            throw bad(path, "entry '" + name + "': its " + e.size() + " bytes at byte " + start
                    + " reach past the end of the " + file.byteSize() + "-byte file (truncated)");
        }
        return file.asSlice(start, e.size());
    }

    private static long u16(MemorySegment s, long at) {
        return Short.toUnsignedLong(s.get(U16, at));
    }

    private static long u32(MemorySegment s, long at) {
        return Integer.toUnsignedLong(s.get(U32, at));
    }

    private static TorchCheckpointException bad(Path path, String what) {
        return new TorchCheckpointException(path + ": " + what);
    }
}
