namespace Repscope;

/// <summary>
/// A problem with the user's input or environment (a bad file, a missing data set, undefined
/// CKA). The CLI prints <see cref="Exception.Message"/> as one line and exits non-zero, without
/// a stack trace. Messages name the file or layer and the problem, e.g.
/// "x.npy: truncated: header says 4000 bytes of data, file has 3990".
/// </summary>
/// <remarks>
/// A message names a parameter through <see cref="Option"/>: <see cref="Exception.Message"/> shows the parameter's
/// name (what a library caller passed), <see cref="MessageWith"/> lets the CLI show its flag instead
/// ("batchSize must be ..." in the library, "--batch-size must be ..." on the command line).
/// </remarks>
public class RepscopeException : Exception
{
    private const char Open = '\u27E8', Close = '\u27E9';
    private static readonly System.Text.RegularExpressions.Regex Marker = new("\u27E8([A-Za-z0-9]+)\u27E9");
    private readonly string _template;

    public RepscopeException(string message) : base(Render(message, name => name)) { _template = message; }
    public RepscopeException(string message, Exception inner) : base(Render(message, name => name), inner) { _template = message; }

    /// <summary>Marks the parameter <paramref name="parameter"/> (camelCase, as the option record's property) in a message.</summary>
    public static string Option(string parameter) => $"{Open}{parameter}{Close}";

    /// <summary>The message with each marked parameter written by <paramref name="option"/> (e.g. as a command-line flag).</summary>
    public string MessageWith(Func<string, string> option) => Render(_template, option);

    private static string Render(string template, Func<string, string> option) =>
        Marker.Replace(template, m => option(m.Groups[1].Value));
}

/// <summary>A value that is mathematically undefined for the input (e.g. CKA of a constant representation).</summary>
public sealed class UndefinedResultException : RepscopeException
{
    public UndefinedResultException(string message) : base(message) { }
}
