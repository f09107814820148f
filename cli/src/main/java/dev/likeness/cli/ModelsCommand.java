package dev.likeness.cli;

import dev.likeness.pipeline.ModelCheck;
import dev.likeness.pipeline.ModelPaths;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code likeness models check DIR}: is every file, tensor, shape and dtype of the real weights there? */
@Command(name = "models", mixinStandardHelpOptions = true, description = "Inspect model folders.",
        subcommands = {ModelsCommand.Check.class})
final class ModelsCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Verify a folder of real weights: every file, tensor name, shape and dtype. Prints each "
                    + "problem with the file expected and where it is published; exit code 0 when complete.")
    static final class Check implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "DIR", description = "The folder holding " + ModelPaths.FLUX_DIR + "/, "
                + ModelPaths.SIGLIP_DIR + "/, " + ModelPaths.DINOV2_DIR + "/ and " + ModelPaths.ADAPTER_DIR + "/.")
        Path dir;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            if (!Files.isDirectory(dir)) {
                throw new Likeness.UsageError("DIR: " + dir + " is not a directory");
            }
            ModelCheck.Report report = ModelCheck.check(ModelPaths.fromRoot(dir));
            out.print(report.format());
            out.flush();
            return report.ok() ? 0 : 1;
        }
    }
}
