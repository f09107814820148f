package dev.likeness.engine.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeElement;
import java.lang.classfile.MethodModel;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodType;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@code MethodHandle.invokeExact} call site of the cuBLASLt and NVRTC bindings has exactly the type
 * of the handle it calls. invokeExact checks this only at run time ({@code WrongMethodTypeException}), and several
 * call sites (cublasLtMatmul, the heuristic query, cublasLtCreate / Destroy) only run on a GPU; so this test reads
 * the call sites' symbolic types from the compiled classes and compares them with the types of the handles bound
 * from the real FunctionDescriptors (bound against a lookup that finds every symbol: no library is needed). A
 * ternary of MemorySegment and null, an int where the C function takes a long, a missing {@code (int)} cast on the
 * result: all show up here as a type mismatch. (The driver's call sites are exercised for real by
 * {@link DriverStubTest}.)
 */
class InvokeExactCallSitesTest {
    /** One call site: the MethodHandle field it calls and its symbolic type. */
    private record CallSite(String where, String owner, String field, MethodType type) {
    }

    private static final SymbolLookup EVERY_SYMBOL = name -> Optional.of(MemorySegment.ofAddress(4096));

    private static List<CallSite> callSites(Class<?> c) throws IOException {
        byte[] bytes;
        try (InputStream in = c.getResourceAsStream(
                c.getName().substring(c.getName().lastIndexOf('.') + 1) + ".class")) {
            assertTrue(in != null, "class file of " + c.getName());
            bytes = in.readAllBytes();
        }
        ClassModel model = ClassFile.of().parse(bytes);
        List<CallSite> sites = new ArrayList<>();
        for (MethodModel m : model.methods()) {
            if (m.code().isEmpty()) {
                continue;
            }
            // the receiver of an invokeExact is the latest MethodHandle field read not yet consumed by another one
            Deque<FieldInstruction> receivers = new ArrayDeque<>();
            for (CodeElement e : m.code().get()) {
                if (e instanceof FieldInstruction f && f.typeSymbol().descriptorString()
                        .equals("Ljava/lang/invoke/MethodHandle;")) {
                    receivers.push(f);
                } else if (e instanceof InvokeInstruction inv
                        && inv.owner().asInternalName().equals("java/lang/invoke/MethodHandle")
                        && inv.name().equalsString("invokeExact")) {
                    String where = c.getSimpleName() + "." + m.methodName().stringValue();
                    assertTrue(!receivers.isEmpty(), where + ": invokeExact on a handle that is not a field");
                    FieldInstruction f = receivers.pop();
                    MethodType type = MethodType.fromMethodDescriptorString(inv.typeSymbol().descriptorString(),
                            InvokeExactCallSitesTest.class.getClassLoader());
                    sites.add(new CallSite(where, f.owner().asInternalName(), f.name().stringValue(), type));
                }
            }
        }
        return sites;
    }

    private static Map<String, MethodHandle> handles(Object bindings) throws IllegalAccessException {
        Map<String, MethodHandle> out = new HashMap<>();
        for (Field f : bindings.getClass().getDeclaredFields()) {
            if (f.getType() == MethodHandle.class) {
                f.setAccessible(true);
                out.put(f.getName(), (MethodHandle) f.get(bindings));
            }
        }
        return out;
    }

    private static int check(List<Class<?>> classes, Object bindings) throws Exception {
        String owner = bindings.getClass().getName().replace('.', '/');
        Map<String, MethodHandle> bound = handles(bindings);
        int checked = 0;
        for (Class<?> c : classes) {
            for (CallSite s : callSites(c)) {
                if (!s.owner().equals(owner)) {
                    continue;
                }
                MethodHandle h = bound.get(s.field());
                assertTrue(h != null, s.where() + " calls " + s.field() + ", which " + owner + " does not bind");
                assertEquals(h.type(), s.type(), s.where() + ": invokeExact on " + s.field() + " with the wrong type");
                checked++;
            }
        }
        return checked;
    }

    @Test
    void cublasLtCallSitesMatchTheirHandles() throws Exception {
        CublasLt.Api api = new CublasLt.Api(new CudaLibraries.Loaded(CudaLibraries.CUBLASLT, EVERY_SYMBOL, "test"));
        int n = check(List.of(CublasLt.class, CublasLt.Api.class), api);
        // cublasLtCreate, Destroy (twice), GetVersion, GetStatusName, the descriptor calls, the heuristic, matmul
        assertTrue(n >= 20, n + " call sites");
        List<String> fields = new ArrayList<>();
        for (CallSite s : callSites(CublasLt.class)) {
            fields.add(s.field());
        }
        assertTrue(fields.contains("cublasLtMatmul") && fields.contains("cublasLtMatmulAlgoGetHeuristic")
                && fields.contains("cublasLtCreate") && fields.contains("cublasLtDestroy"), fields.toString());
    }

    @Test
    void nvrtcCallSitesMatchTheirHandles() throws Exception {
        Constructor<Nvrtc> ctor = Nvrtc.class.getDeclaredConstructor(NativeLibrary.class);
        ctor.setAccessible(true);
        Nvrtc nvrtc = ctor.newInstance(new NativeLibrary(
                new CudaLibraries.Loaded(CudaLibraries.NVRTC, EVERY_SYMBOL, "test")));
        assertTrue(check(List.of(Nvrtc.class), nvrtc) >= 10);
    }

    @Test
    void anObjectTypedArgumentIsCaught() throws Exception {
        // the check is only worth something if a mistyped call site fails it: Probe.call passes a ternary of
        // MemorySegment and null, which javac types as Object
        Probe p = new Probe();
        List<CallSite> sites = callSites(Probe.class);
        assertEquals(1, sites.size());
        MethodType bound = p.handle.type();
        assertTrue(!bound.equals(sites.get(0).type()), "probe call site " + sites.get(0).type() + " vs " + bound);
    }

    /** A deliberately mistyped call site (never invoked). */
    static final class Probe {
        final MethodHandle handle = java.lang.invoke.MethodHandles.identity(MemorySegment.class);

        Object call(boolean b) throws Throwable {
            return (MemorySegment) handle.invokeExact(b ? MemorySegment.NULL : null);
        }
    }
}
