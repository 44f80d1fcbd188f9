using System.Text;
using System.Text.RegularExpressions;

namespace Repscope.Analysis.Errors;

/// <summary>
/// Expands a shell-style pattern of run directories ("runs/r62w1s*", "runs/*/seed[12]") without a
/// shell: *, ? and [...] in any path segment; directories only; sorted ordinally so that groups
/// (and the halves of a control) are reproducible. A pattern without wildcards names one directory.
/// </summary>
public static class RunGlob
{
    public static IReadOnlyList<string> Expand(string pattern)
    {
        if (string.IsNullOrWhiteSpace(pattern)) { throw new RepscopeException("empty run pattern"); }
        string normalized = pattern.Replace('\\', '/');
        bool rooted = normalized.StartsWith('/');
        string[] segments = normalized.Split('/', StringSplitOptions.RemoveEmptyEntries);
        IEnumerable<string> current = new[] { rooted ? "/" : "." };
        foreach (string segment in segments)
        {
            if (segment.IndexOfAny(['*', '?', '[']) < 0)
            {
                current = current.Select(d => Path.Combine(d, segment)).Where(Directory.Exists).ToList();
                continue;
            }
            var regex = SegmentRegex(segment);
            current = current.SelectMany(d => Directory.EnumerateDirectories(d)
                                                  .Where(sub => regex.IsMatch(Path.GetFileName(sub))))
                             .ToList();
        }
        return current.Select(d => rooted ? d : Path.GetRelativePath(".", d))
                      .Distinct()
                      .OrderBy(d => d, StringComparer.Ordinal)
                      .ToList();
    }

    private static Regex SegmentRegex(string segment)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < segment.Length; i++)
        {
            char c = segment[i];
            switch (c)
            {
                case '*': sb.Append("[^/]*"); break;
                case '?': sb.Append("[^/]"); break;
                case '[':
                    int close = segment.IndexOf(']', i + 1);
                    if (close < 0) { sb.Append(@"\["); break; }
                    string set = segment[(i + 1)..close];
                    if (set.StartsWith('!')) { set = "^" + set[1..]; }
                    sb.Append('[').Append(set.Replace(@"\", @"\\")).Append(']');
                    i = close;
                    break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        // hidden directories only when the pattern asks for them, as in a shell
        if (!segment.StartsWith('.')) { sb.Insert(1, @"(?!\.)"); }
        return new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
