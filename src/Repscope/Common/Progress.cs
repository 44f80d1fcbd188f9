using System.Diagnostics;

namespace Repscope;

/// <summary>
/// How long work tells the user where it is. The library reports; the CLI decides how to show it
/// (a live bar on a terminal, plain lines when output is redirected). Library code takes an
/// <see cref="IProgressReporter"/> and defaults to <see cref="ProgressReporter.None"/>.
/// </summary>
public interface IProgressReporter
{
    /// <summary>Starts a unit of work of <paramref name="total"/> steps (e.g. batches or images).</summary>
    IProgressTask Start(string description, double total);
}

public interface IProgressTask : IDisposable
{
    /// <summary>Moves the task forward; <paramref name="status"/> replaces the short status text (loss, accuracy...).</summary>
    void Advance(double amount, string? status = null);

    /// <summary>Marks the task finished with a final status line (always printed).</summary>
    void Complete(string? status = null);
}

public static class ProgressReporter
{
    public static readonly IProgressReporter None = new NullReporter();

    private sealed class NullReporter : IProgressReporter
    {
        public IProgressTask Start(string description, double total) => new NullTask();
    }

    private sealed class NullTask : IProgressTask
    {
        public void Advance(double amount, string? status = null) { }
        public void Complete(string? status = null) { }
        public void Dispose() { }
    }
}

/// <summary>
/// Progress as plain lines (for logs and redirected output): a line at most every
/// <c>interval</c>, one when a task starts and one when it completes, with rate and time left.
/// </summary>
public sealed class LineProgressReporter(TextWriter writer, TimeSpan? interval = null) : IProgressReporter
{
    private readonly TextWriter _writer = writer;
    private readonly TimeSpan _interval = interval ?? TimeSpan.FromSeconds(5);

    public IProgressTask Start(string description, double total) => new LineTask(this, description, total);

    private sealed class LineTask : IProgressTask
    {
        private readonly LineProgressReporter _owner;
        private readonly string _description;
        private readonly double _total;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan _lastPrint = TimeSpan.Zero;
        private double _done;
        private string? _status;
        private bool _completed;

        public LineTask(LineProgressReporter owner, string description, double total)
        {
            _owner = owner;
            _description = description;
            _total = total;
            lock (_owner) { _owner._writer.WriteLine($"{description}: started"); _owner._writer.Flush(); }
        }

        public void Advance(double amount, string? status = null)
        {
            _done += amount;
            if (status != null) { _status = status; }
            if (_clock.Elapsed - _lastPrint >= _owner._interval)
            {
                _lastPrint = _clock.Elapsed;
                Print(ProgressText.Line(_description, _done, _total, _clock.Elapsed, _status));
            }
        }

        public void Complete(string? status = null)
        {
            if (_completed) { return; }
            _completed = true;
            if (status != null) { _status = status; }
            Print($"{_description}: done in {ProgressText.Duration(_clock.Elapsed)}" + (_status is null ? "" : $" ({_status})"));
        }

        private void Print(string line)
        {
            lock (_owner) { _owner._writer.WriteLine(line); _owner._writer.Flush(); }
        }

        public void Dispose() { }
    }
}

public static class ProgressText
{
    public static string Duration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" :
        t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:D2}s" :
        t.TotalSeconds < 10 ? $"{t.TotalSeconds:F2}s" : $"{t.TotalSeconds:F1}s";   // a short phase to the hundredth

    public static string Line(string description, double done, double total, TimeSpan elapsed, string? status)
    {
        double frac = total > 0 ? Math.Clamp(done / total, 0, 1) : 0;
        string left = frac > 0 ? Duration(TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - frac) / frac)) : "?";
        return $"{description}: {frac * 100,5:F1}% ({done:0}/{total:0}), {Duration(elapsed)} elapsed, ~{left} left" +
               (status is null ? "" : $", {status}");
    }
}
