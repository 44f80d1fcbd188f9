using System.Diagnostics;
using Repscope;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Repscope.Cli;

/// <summary>Runs the command app; turns every failure into one line on stderr and a non-zero exit code.</summary>
public static class Cli
{
    public const int ExitUserError = 2;
    public const int ExitInternalError = 3;

    public static int Run(CommandApp app, string[] args)
    {
        try
        {
            return app.Run(args);
        }
        catch (Exception e)
        {
            return Report(e);
        }
    }

    public static int Report(Exception e)
    {
        e = Unwrap(e);
        switch (e)
        {
            case RepscopeException:
            case CommandParseException:
            case CommandRuntimeException:
            case FileNotFoundException:
            case DirectoryNotFoundException:
            case UnauthorizedAccessException:
            case IOException:
                Error(e.Message);
                return ExitUserError;
            default:
                Error($"internal error: {e.GetType().Name}: {e.Message} (set REPSCOPE_DEBUG=1 for a stack trace)");
                if (Environment.GetEnvironmentVariable("REPSCOPE_DEBUG") == "1") { Console.Error.WriteLine(e); }
                return ExitInternalError;
        }
    }

    public static void Error(string message)
    {
        string oneLine = string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Console.Error.WriteLine($"repscope: error: {oneLine}");
    }

    public static void Warn(string message) => Console.Error.WriteLine($"repscope: warning: {message}");

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException && e.InnerException is not null)
        {
            e = e.InnerException!;
        }
        return e;
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a progress reporter: live bars on an interactive terminal,
    /// plain lines on stderr when output is redirected (so stdout stays clean for --json).
    /// </summary>
    public static T WithProgress<T>(Func<IProgressReporter, T> work)
    {
        bool interactive = !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive
                           && Environment.GetEnvironmentVariable("REPSCOPE_PLAIN_PROGRESS") != "1";
        if (!interactive)
        {
            return work(new LineProgressReporter(Console.Error));
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                     new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => { result = work(new SpectreReporter(ctx)); });
        return result;
    }

    public static void WithProgress(Action<IProgressReporter> work) => WithProgress<int>(p => { work(p); return 0; });

    private sealed class SpectreReporter(ProgressContext ctx) : IProgressReporter
    {
        public IProgressTask Start(string description, double total) =>
            new SpectreTask(ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(total, 1e-9)), description);
    }

    private sealed class SpectreTask(ProgressTask task, string description) : IProgressTask
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public void Advance(double amount, string? status = null)
        {
            task.Increment(amount);
            if (status != null) { task.Description = Markup.Escape($"{description} {status}"); }
        }

        public void Complete(string? status = null)
        {
            task.Value = task.MaxValue;
            task.Description = Markup.Escape($"{description} done in {ProgressText.Duration(_clock.Elapsed)}" + (status is null ? "" : $" ({status})"));
            task.StopTask();
        }

        public void Dispose() { if (!task.IsFinished) { task.StopTask(); } }
    }
}
