package dev.likeness.engine.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Views of 2^31 elements or more: the Layout's int sizes must not overflow when dimensions are merged. */
class StridedLayoutLimitsTest {
    @Test
    void dimensionsWhoseProductExceedsAnIntStaySeparate() {
        // a contiguous [65536, 65536] view (2^32 elements) cannot become one dimension of 2^32
        StridedLayout l = StridedLayout.coalesce(new int[] {65536, 65536}, new long[] {65536, 1}, 7);
        assertArrayEquals(new int[] {65536, 65536}, l.shape());
        assertArrayEquals(new long[] {65536, 1}, l.strides());
        long i = 3L * 65536 * 65536 / 4 + 12345;
        assertEquals(7 + i, l.elementOffset(i));
        assertEquals(0, CudaPlan.viewFlags(l, 65536L * 65536) & CudaPlan.VIEW_SMALL);
        // [2, 40000, 30000]: the first two merge (80000), the last cannot join them (2.4e9 elements)
        StridedLayout m = StridedLayout.coalesce(new int[] {2, 40000, 30000}, new long[] {1_200_000_000L, 30000, 1},
                0);
        assertArrayEquals(new int[] {80000, 30000}, m.shape());
        assertArrayEquals(new long[] {30000, 1}, m.strides());
        assertEquals(2_399_999_999L, m.elementOffset(2_399_999_999L));
        // below the limit everything still merges into one dimension
        StridedLayout small = StridedLayout.coalesce(new int[] {4, 5, 6}, new long[] {30, 6, 1}, 0);
        assertArrayEquals(new int[] {120}, small.shape());
    }
}
