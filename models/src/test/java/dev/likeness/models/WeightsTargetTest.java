package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Storage;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Weights} opened for a backend other than the CPU: one transfer per tensor, dtype kept, released on close. */
class WeightsTargetTest {

    /** A stand-in device: {@code transfer} copies the host values into its own storage (counting) and nothing else. */
    private static final class Device {
        final AtomicInteger transfers = new AtomicInteger();
        final AtomicInteger released = new AtomicInteger();
        final List<String> transferred = new ArrayList<>();
        final CpuBackend reader = new CpuBackend(1);
        final Backend backend;

        Device() {
            backend = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                    (proxy, m, args) -> switch (m.getName()) {
                        case "name" -> "device";
                        case "transfer" -> upload((Tensor) args[0], (Backend) proxy);
                        case "toFloatArray" -> reader.toFloatArray(((DeviceStorage) ((Tensor) args[0]).storage())
                                .hostCopy());
                        case "hashCode" -> System.identityHashCode(proxy);
                        case "equals" -> proxy == args[0];
                        case "toString" -> "device";
                        default -> throw new UnsupportedOperationException("device backend: " + m.getName());
                    });
        }

        private Tensor upload(Tensor host, Backend self) {
            if (!(host.backend() instanceof CpuBackend)) {
                throw new AssertionError("transfer of a non-host tensor " + host);
            }
            transfers.incrementAndGet();
            Tensor copy = reader.contiguous(host);
            return new Tensor(new DeviceStorage(self, copy, released), host.dtype(), host.shape());
        }
    }

    private record DeviceStorage(Backend backend, Tensor hostCopy, AtomicInteger released) implements Storage {
        public long byteSize() {
            return hostCopy.numel() * hostCopy.dtype().byteSize();
        }

        public void release() {
            released.incrementAndGet();
        }
    }

    private static Path checkpoint(Path dir) {
        Path file = dir.resolve("model.safetensors");
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor w = cpu.to(cpu.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3), DType.BF16);
            Tensor b = cpu.fromFloats(new float[] {0.5f, -0.5f}, 2);
            new SafetensorsWriter().add("layer.w", w).add("layer.b", b).write(file);
        }
        return file;
    }

    @Test
    void tensorsMoveOnceInTheirStoredDtype(@TempDir Path dir) {
        Device device = new Device();
        try (Weights weights = Weights.open(checkpoint(dir), device.backend)) {
            assertSame(device.backend, weights.backend());
            Tensor w = weights.get("layer.w", 2, 3);
            assertSame(device.backend, w.backend());
            assertEquals(DType.BF16, w.dtype(), "a bf16 weight stays bf16 on the target");
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, device.backend.toFloatArray(w));
            assertEquals(1, device.transfers.get());

            // asked again, directly or through a child: the same copy, no second transfer
            assertSame(w, weights.get("layer.w", 2, 3));
            Weights layer = weights.child("layer");
            assertSame(w, layer.get("w", 2, 3));
            assertEquals(1, device.transfers.get());

            Tensor b = layer.optional("b", 2);
            assertEquals(DType.F32, b.dtype());
            assertEquals(2, device.transfers.get());
            // the shape is still checked for a cached tensor
            assertThrows(RuntimeException.class, () -> layer.get("w", 3, 2));
            // the host reader is a CPU backend, not the target
            assertTrue(weights.host() instanceof CpuBackend);
            assertNotSame(device.backend, weights.host());
            // closing a child releases nothing
            layer.close();
            assertEquals(0, device.released.get());
        }
        assertEquals(2, device.released.get(), "closing the weights gives the device copies back");
        device.reader.close();
    }

    @Test
    void onTheCpuTheMappedViewsAreHandedOut(@TempDir Path dir) {
        try (CpuBackend cpu = new CpuBackend(1); Weights weights = Weights.open(checkpoint(dir), cpu)) {
            assertSame(cpu, weights.backend());
            assertSame(cpu, weights.host());
            Tensor w = weights.get("layer.w", 2, 3);
            assertSame(cpu, w.backend());
            assertEquals(DType.BF16, w.dtype());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, cpu.toFloatArray(w));
        }
    }
}
