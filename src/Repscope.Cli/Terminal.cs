using System.Diagnostics;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Repscope.Cli;

/// <summary>
/// Where a command writes: results on <see cref="Out"/> (stdout), warnings, errors and progress on
/// <see cref="Error"/> (stderr). Program.cs gives the process's streams; tests give string writers,
/// so commands run side by side in one test process. Commands receive it by constructor injection.
/// </summary>
public sealed class Terminal
{
    /// <summary>The width tables and help are laid out in when a stream is not a terminal.</summary>
    public const int RedirectedWidth = 160;

    private readonly bool _liveProgress;

    /// <summary>A terminal over two writers; <paramref name="styled"/>: they are a console that shows colours (else plain text).</summary>
    public Terminal(TextWriter stdout, TextWriter stderr, bool liveProgress = false, (bool Out, bool Error) styled = default)
    {
        Out = Create(stdout, styled.Out);
        Error = Create(stderr, styled.Error);
        _liveProgress = liveProgress;
    }

    /// <summary>stdout: results (sentences, tables, --json).</summary>
    public IAnsiConsole Out { get; }

    /// <summary>stderr: warnings, errors, progress (so stdout stays clean for --json).</summary>
    public IAnsiConsole Error { get; }

    /// <summary>The process's stdout and stderr; live progress bars when stderr is an interactive terminal.</summary>
    public static Terminal System()
    {
        bool live = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("REPSCOPE_PLAIN_PROGRESS") != "1";
        return new Terminal(Console.Out, Console.Error, live, (!Console.IsOutputRedirected, !Console.IsErrorRedirected));
    }

    /// <summary>A line of plain text on stdout, written as it is (no markup, no wrapping).</summary>
    public void WriteLine(string text = "") => Out.Write(new Verbatim(text));

    /// <summary>"wrote DIR/first.json, second.png, ...": the first file with its path, the rest by name.</summary>
    public void WroteFiles(IEnumerable<string> files) =>
        WriteLine($"wrote {string.Join(", ", files.Select((f, i) => i == 0 ? f : Path.GetFileName(f)))}");

    /// <summary><c>repscope: warning: MESSAGE</c> on stderr.</summary>
    public void Warn(string message) => Error.Write(new Verbatim($"repscope: warning: {message}"));

    /// <summary><c>repscope: error: MESSAGE</c> on stderr, on one line.</summary>
    public void Fail(string message)
    {
        string oneLine = string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Error.Write(new Verbatim($"repscope: error: {oneLine}"));
    }

    /// <summary>A line of plain text on stderr (a note that is not a warning).</summary>
    public void Note(string text) => Error.Write(new Verbatim(text));

    /// <summary>
    /// Runs <paramref name="work"/> with a progress reporter: live bars on an interactive terminal,
    /// plain lines on stderr otherwise; the last line says the work finished.
    /// </summary>
    public T WithProgress<T>(Func<IProgressReporter, T> work)
    {
        if (!_liveProgress || !Error.Profile.Capabilities.Interactive)
        {
            return work(new LineProgressReporter(Error.Profile.Out.Writer));
        }
        T result = default!;
        Error.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                     new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => { result = work(new SpectreReporter(ctx)); });
        return result;
    }

    public void WithProgress(Action<IProgressReporter> work) => WithProgress<int>(p => { work(p); return 0; });

    private static IAnsiConsole Create(TextWriter writer, bool styled)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = styled ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = styled ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = styled ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!console.Profile.Out.IsTerminal) { console.Profile.Width = RedirectedWidth; }
        return console;
    }

    /// <summary>Text written exactly as given, one segment per line: never parsed as markup, never wrapped.</summary>
    private sealed class Verbatim(string text) : IRenderable
    {
        private readonly string[] _lines = text.Split('\n');

        public Measurement Measure(RenderOptions options, int maxWidth)
        {
            int width = _lines.Max(l => l.Length);
            return new Measurement(width, width);
        }

        public IEnumerable<Segment> Render(RenderOptions options, int maxWidth)
        {
            foreach (string line in _lines)
            {
                if (line.Length > 0) { yield return new Segment(line); }
                yield return Segment.LineBreak;
            }
        }
    }

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
