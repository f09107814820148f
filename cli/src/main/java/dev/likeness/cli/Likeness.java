package dev.likeness.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/**
 * {@code likeness}: the command line. {@code likeness generate} draws a character from a reference image and a
 * prompt (the {@code fal-ai/instant-character} inputs as flags, the API's JSON printed at the end);
 * {@code likeness models check DIR} verifies a folder of real weights.
 *
 * <p>Bad arguments give one line naming the flag and what it accepts, and exit code 2.
 */
@Command(name = "likeness", mixinStandardHelpOptions = true, version = "likeness 0.1.0",
        description = "Draws the same character again and again from one reference image and a prompt.",
        subcommands = {GenerateCommand.class, ServeCommand.class, KeysCommand.class, ModelsCommand.class})
public final class Likeness implements Runnable {
    /** Exit code for bad arguments or unusable input files. */
    public static final int USAGE = 2;
    /** Exit code for a failure while running. */
    public static final int FAILURE = 1;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The command line with its error handling: usage errors are one line and exit 2. */
    public static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new Likeness());
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, args) -> {
            ex.getCommandLine().getErr().println("likeness: " + ex.getMessage());
            ex.getCommandLine().getErr().println("(see: likeness " + ex.getCommandLine().getCommandName()
                    + " --help)");
            return USAGE;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (ex instanceof UsageError u) {
                commandLine.getErr().println("likeness: " + u.getMessage());
                return USAGE;
            }
            commandLine.getErr().println("likeness: " + ex.getMessage());
            if (System.getenv("LIKENESS_DEBUG") != null) {
                ex.printStackTrace(commandLine.getErr());
            }
            return FAILURE;
        });
        return cl;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        System.exit(commandLine(out, err).execute(args));
    }

    /** A bad flag value or input file: reported in one line, exit code 2. */
    static final class UsageError extends RuntimeException {
        UsageError(String message) {
            super(message);
        }
    }
}
