namespace Repscope;

/// <summary>
/// A problem with the user's input or environment (a bad file, a missing data set, undefined
/// CKA). The CLI prints <see cref="Exception.Message"/> as one line and exits non-zero, without
/// a stack trace. Messages name the file or layer and the problem, e.g.
/// "x.npy: truncated: header says 4000 bytes of data, file has 3990".
/// </summary>
public class RepscopeException : Exception
{
    public RepscopeException(string message) : base(message) { }
    public RepscopeException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A value that is mathematically undefined for the input (e.g. CKA of a constant representation).</summary>
public sealed class UndefinedResultException : RepscopeException
{
    public UndefinedResultException(string message) : base(message) { }
}
