package dev.likeness.engine.cuda;

import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The host-side planning of the elementwise and normalization kernels (no GPU needed). */
class CudaPlanTest {

    @Test
    void broadcastShapesFollowTorch() {
        assertArrayEquals(new int[] {4, 3072}, OpShapes.broadcastShape("add", new int[] {4, 3072}, new int[] {3072}));
        assertArrayEquals(new int[] {5, 7, 33},
                OpShapes.broadcastShape("mul", new int[] {5, 1, 33}, new int[] {7, 1}));
        assertArrayEquals(new int[] {4}, OpShapes.broadcastShape("sub", new int[] {}, new int[] {4}));
        assertArrayEquals(new int[] {}, OpShapes.broadcastShape("sub", new int[] {}, new int[] {}));
        assertArrayEquals(new int[] {0, 3}, OpShapes.broadcastShape("div", new int[] {0, 1}, new int[] {3}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpShapes.broadcastShape("add", new int[] {2, 3}, new int[] {4}));
        assertEquals("add: x [2, 3] and y [4] are not broadcastable (dimension -1: 3 vs 4)", e.getMessage());
    }

    @Test
    void aroundSplitsTheShapeAtTheAxis() {
        assertArrayEquals(new long[] {6, 4, 5}, CudaPlan.around(new int[] {2, 3, 4, 5}, 2));
        assertArrayEquals(new long[] {1, 2, 60}, CudaPlan.around(new int[] {2, 3, 4, 5}, 0));
        assertArrayEquals(new long[] {24, 5, 1}, CudaPlan.around(new int[] {2, 3, 4, 5}, 3));
        assertArrayEquals(new long[] {1, 7, 1}, CudaPlan.around(new int[] {7}, 0));
        // products beyond int range stay exact
        assertArrayEquals(new long[] {65536L * 65536L, 1, 1}, CudaPlan.around(new int[] {65536, 65536, 1}, 2));
    }

    @Test
    void reducedShapeKeepsOrDropsTheAxis() {
        assertArrayEquals(new int[] {2, 1, 5}, OpShapes.reducedShape(new int[] {2, 3, 5}, 1, true));
        assertArrayEquals(new int[] {2, 5}, OpShapes.reducedShape(new int[] {2, 3, 5}, 1, false));
        assertArrayEquals(new int[] {}, OpShapes.reducedShape(new int[] {3}, 0, false));
        assertArrayEquals(new int[] {1}, OpShapes.reducedShape(new int[] {3}, 0, true));
    }

    @Test
    void viewFlagsMarkContiguousAndSmallViews() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor t = cpu.zeros(dev.likeness.engine.DType.F32, 4, 6);
            StridedLayout contiguous = StridedLayout.of(t);
            assertEquals(CudaPlan.VIEW_CONTIGUOUS | CudaPlan.VIEW_SMALL, CudaPlan.viewFlags(contiguous, 24));
            StridedLayout permuted = StridedLayout.of(t.transpose(0, 1));
            assertEquals(CudaPlan.VIEW_SMALL, CudaPlan.viewFlags(permuted, 24));
            StridedLayout broadcast = StridedLayout.of(t.narrow(0, 0, 1), new int[] {3, 6});
            assertEquals(CudaPlan.VIEW_SMALL, CudaPlan.viewFlags(broadcast, 18));
            assertEquals(CudaPlan.VIEW_CONTIGUOUS, CudaPlan.viewFlags(contiguous, 1L << 31));
            assertEquals(CudaPlan.VIEW_SMALL, CudaPlan.viewFlags(permuted, Integer.MAX_VALUE));
            assertEquals(0, CudaPlan.viewFlags(permuted, Integer.MAX_VALUE + 1L));
            // a narrowed view keeps its rows apart: not contiguous
            assertFalse((CudaPlan.viewFlags(StridedLayout.of(t.narrow(1, 1, 4)), 16) & CudaPlan.VIEW_CONTIGUOUS) != 0);
            // a narrowed run of whole rows is contiguous from its offset
            assertEquals(CudaPlan.VIEW_CONTIGUOUS | CudaPlan.VIEW_SMALL,
                    CudaPlan.viewFlags(StridedLayout.of(t.narrow(0, 1, 2)), 12));
        }
    }

    @Test
    void rowFlagsMarkRowsWhoseElementsAreAdjacent() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor t = cpu.zeros(dev.likeness.engine.DType.F32, 4, 6, 8);
            int all = CudaPlan.VIEW_CONTIGUOUS | CudaPlan.VIEW_SMALL | CudaPlan.ROW_CONTIGUOUS;
            assertEquals(all, CudaPlan.rowFlags(t, StridedLayout.of(t), 2, 8));
            // [B, S, H, D] viewed as [B, H, S, D]: rows of D still adjacent, the view is not contiguous
            Tensor bhsd = t.unsqueeze(0).transpose(1, 2);
            assertEquals(CudaPlan.VIEW_SMALL | CudaPlan.ROW_CONTIGUOUS,
                    CudaPlan.rowFlags(bhsd, StridedLayout.of(bhsd), 3, 8));
            // the transpose of the last two dimensions: row elements 8 apart
            Tensor tr = t.transpose(1, 2);
            assertEquals(CudaPlan.VIEW_SMALL, CudaPlan.rowFlags(tr, StridedLayout.of(tr), 2, 6));
            // softmax along dim 1 of [4, 6, 1]: inner is 1, rows along dim 1 with stride 1
            Tensor col = cpu.zeros(dev.likeness.engine.DType.F32, 4, 6, 1);
            assertEquals(all, CudaPlan.rowFlags(col, StridedLayout.of(col), 1, 6));
            // rows of one element and 0-dim tensors are trivially adjacent
            assertEquals(CudaPlan.VIEW_SMALL | CudaPlan.ROW_CONTIGUOUS,
                    CudaPlan.rowFlags(tr.narrow(2, 0, 1), StridedLayout.of(tr.narrow(2, 0, 1)), 2, 1));
            Tensor scalar = cpu.zeros(dev.likeness.engine.DType.F32);
            assertEquals(all, CudaPlan.rowFlags(scalar, StridedLayout.of(scalar), 0, 1));
        }
    }

    @Test
    void warpsRoundToWholeWarpsWithinABlock() {
        assertEquals(32, CudaPlan.warps(0));
        assertEquals(32, CudaPlan.warps(1));
        assertEquals(32, CudaPlan.warps(32));
        assertEquals(64, CudaPlan.warps(33));
        assertEquals(768, CudaPlan.warps(768));
        assertEquals(1024, CudaPlan.warps(1025));
        assertEquals(1024, CudaPlan.warps(Long.MAX_VALUE / 2));
    }

    @Test
    void shortRowsGetAWarpEachLongRowsABlock() {
        CudaPlan.RowPlan one = CudaPlan.rows(1, 1);
        assertTrue(one.warp());
        assertEquals(32, one.threads());
        assertEquals(1, one.grid());
        assertTrue(one.cached());
        assertEquals(4, one.sharedBytes());

        CudaPlan.RowPlan many = CudaPlan.rows(1000, 33);
        assertTrue(many.warp());
        assertEquals(256, many.threads());
        assertEquals(125, many.grid());
        assertEquals(8 * 33 * 4, many.sharedBytes());

        CudaPlan.RowPlan three = CudaPlan.rows(3, 1024);
        assertTrue(three.warp());
        assertEquals(96, three.threads());
        assertEquals(1, three.grid());
        assertTrue(three.cached()); // 3 rows × 4 KiB

        CudaPlan.RowPlan full = CudaPlan.rows(4096, 1024);
        assertTrue(full.warp());
        assertFalse(full.cached()); // 8 rows × 4 KiB is over the cache budget
        assertEquals(0, full.sharedBytes());
        assertEquals(512, full.grid());

        CudaPlan.RowPlan flux = CudaPlan.rows(4608, 3072);
        assertFalse(flux.warp());
        assertEquals(768, flux.threads());
        assertEquals(4608, flux.grid());
        assertTrue(flux.cached());
        assertEquals(3072 * 4, flux.sharedBytes());

        CudaPlan.RowPlan odd = CudaPlan.rows(7, 4097);
        assertFalse(odd.warp());
        assertEquals(1024, odd.threads());
        assertFalse(odd.cached());
        assertEquals(0, odd.sharedBytes());

        CudaPlan.RowPlan justOver = CudaPlan.rows(2, 1025);
        assertFalse(justOver.warp());
        assertEquals(288, justOver.threads());

        CudaPlan.RowPlan huge = CudaPlan.rows(1L << 40, 2);
        assertEquals(CudaPlan.MAX_GRID, huge.grid());
    }

    @Test
    void segmentsSplitOnlyWhenTooFewToFillTheGpu() {
        // many segments: one block each
        CudaPlan.SegmentPlan many = CudaPlan.segments(10_000, 8192 * 4, 132);
        assertEquals(1, many.splits());
        assertEquals(8192 * 4, many.chunk());
        assertEquals(1024, many.threads());
        assertEquals(10_000, many.grid());
        // short segments are not split, however few
        CudaPlan.SegmentPlan shortOnes = CudaPlan.segments(2, 8192, 132);
        assertEquals(1, shortOnes.splits());
        // VAE-sized group norm: 32 segments of 4 × 1024 × 1024 on 132 SMs
        CudaPlan.SegmentPlan vae = CudaPlan.segments(32, 4L << 20, 132);
        assertEquals(17, vae.splits()); // ceil(528 / 32)
        assertEquals(32 * 17, vae.items(32));
        assertEquals(32 * 17, vae.grid());
        // empty segments still get one (empty) chunk
        CudaPlan.SegmentPlan empty = CudaPlan.segments(5, 0, 132);
        assertEquals(1, empty.splits());
        assertEquals(1, empty.chunk());
    }

    @Test
    void segmentChunksCoverEveryElementExactlyOnce() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 2000; trial++) {
            long segments = 1 + rnd.nextInt(trial % 3 == 0 ? 4 : 3000);
            long len = rnd.nextInt(4) == 0 ? rnd.nextInt(40) : 1 + (long) rnd.nextInt(1 << 22);
            int sms = 1 + rnd.nextInt(160);
            CudaPlan.SegmentPlan p = CudaPlan.segments(segments, len, sms);
            String what = "segments " + segments + " len " + len + " sms " + sms + ": " + p;
            assertTrue(p.splits() >= 1 && p.chunk() >= 1, what);
            assertTrue((long) p.splits() * p.chunk() >= len, what);
            assertTrue(len == 0 ? p.splits() == 1 : (long) (p.splits() - 1) * p.chunk() < len, what);
            assertTrue(p.chunk() >= CudaPlan.SEGMENT_CHUNK_MIN || p.splits() == 1, what);
            assertTrue(p.threads() % 32 == 0 && p.threads() >= 32 && p.threads() <= 1024, what);
            assertTrue(p.grid() >= 1 && p.grid() <= p.items(segments), what);
        }
    }

    @Test
    void nearestIndicesAreTorchs() {
        // F.interpolate(torch.arange(3.)[None, None, None], size=5, mode="nearest") picks 0 0 1 1 2
        float up = CudaPlan.nearestScale(3, 5);
        int[] got = new int[5];
        for (int i = 0; i < 5; i++) {
            got[i] = CudaPlan.nearestIndex(up, i, 3);
        }
        assertArrayEquals(new int[] {0, 0, 1, 1, 2}, got);
        // 5 → 3 picks 0 1 3
        float down = CudaPlan.nearestScale(5, 3);
        assertArrayEquals(new int[] {0, 1, 3},
                new int[] {CudaPlan.nearestIndex(down, 0, 5), CudaPlan.nearestIndex(down, 1, 5),
                        CudaPlan.nearestIndex(down, 2, 5)});
        // exact doubling
        float two = CudaPlan.nearestScale(64, 128);
        for (int i = 0; i < 128; i++) {
            assertEquals(i / 2, CudaPlan.nearestIndex(two, i, 64));
        }
    }

    @Test
    void embeddingIdsAreCheckedWithTheirIndex() {
        assertArrayEquals(new int[] {0, 4, 2}, CudaElementwise.checkIds(new long[] {0, 4, 2}, new int[] {3}, 5,
                new int[] {5, 8}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaElementwise.checkIds(new long[] {0, 1, 2, 3, 9, 1}, new int[] {2, 3}, 5, new int[] {5, 8}));
        assertEquals("embedding: id 9 at index [1, 1] of ids [2, 3] is out of range for a vocabulary of 5 rows "
                + "(weight [5, 8])", e.getMessage());
        IllegalArgumentException neg = assertThrows(IllegalArgumentException.class,
                () -> CudaElementwise.checkIds(new long[] {-1}, new int[] {1}, 5, new int[] {5, 8}));
        assertTrue(neg.getMessage().startsWith("embedding: id -1 at index [0]"), neg.getMessage());
        // an I64 id that would wrap to a valid int is still out of range
        assertThrows(IllegalArgumentException.class,
                () -> CudaElementwise.checkIds(new long[] {1L << 32}, new int[] {1}, 5, new int[] {5, 8}));
    }

    @Test
    void oneDimensionalStrides() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor t = cpu.zeros(dev.likeness.engine.DType.F32, 6, 4);
            assertEquals(4, CudaPlan.stride1d(t.select(1, 2)));
            assertEquals(1, CudaPlan.stride1d(t.select(0, 2)));
            assertEquals(0, CudaPlan.stride1d(t.select(0, 2).narrow(0, 1, 1)));
        }
    }
}
