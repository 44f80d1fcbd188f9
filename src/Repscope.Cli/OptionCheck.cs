using System.Globalization;
using System.Numerics;
using System.Reflection;
using Spectre.Console.Cli;

namespace Repscope.Cli;

/// <summary>
/// Checks a command line against the command's options before Spectre binds it, so that every
/// command answers in Repscope's own words: an unknown option names the closest one; a number
/// that does not parse or does not fit, and an enum value that is not one of the choices, name the
/// option and the valid range or values, in the case the help uses.
/// </summary>
internal static class OptionCheck
{
    private sealed record Option(string[] Names, bool TakesValue, Type Type);

    public static void Check(string[] args, IReadOnlyList<App.Entry> commands)
    {
        int at = Array.FindIndex(args, a => !a.StartsWith('-'));
        if (at < 0) { return; }
        var entry = commands.FirstOrDefault(c => c.Name == args[at]);
        if (entry is null) { return; }   // Spectre answers unknown commands with the closest one
        var options = Options(entry.Command);
        for (int i = at + 1; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") { return; }
            if (!a.StartsWith('-') || a == "-" || IsNumber(a)) { continue; }
            int eq = a.IndexOf('=');
            string name = eq > 0 ? a[..eq] : a;
            if (name is "-h" or "--help" or "-?") { return; }
            var option = options.FirstOrDefault(o => o.Names.Contains(name));
            if (option is null) { throw new RepscopeException(Unknown(entry.Name, name, options)); }
            if (!option.TakesValue) { continue; }
            string? value = eq > 0 ? a[(eq + 1)..] : i + 1 < args.Length ? args[++i] : null;
            if (value is not null) { CheckValue(option, name, value); }
        }
    }

    /// <summary>The long (<c>--x</c>) and short (<c>-x</c>) option names of a command, with the type each one binds to.</summary>
    private static List<Option> Options(Type command)
    {
        var settings = SettingsType(command);
        var list = new List<Option>();
        if (settings is null) { return list; }
        foreach (var p in settings.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetCustomAttribute<CommandOptionAttribute>() is not { } o) { continue; }
            string[] names = [.. o.LongNames.Select(n => "--" + n), .. o.ShortNames.Select(n => "-" + n)];
            list.Add(new Option(names, o.ValueName is not null && p.PropertyType != typeof(bool), p.PropertyType));
        }
        return list;
    }

    private static Type? SettingsType(Type command)
    {
        for (var t = command; t is not null; t = t.BaseType)
        {
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Command<>)) { return t.GetGenericArguments()[0]; }
        }
        return null;
    }

    private static string Unknown(string command, string name, List<Option> options)
    {
        string? closest = options.SelectMany(o => o.Names).Append("--help")
            .Select(n => (Name: n, Distance: Distance(name, n)))
            .Where(c => c.Distance <= Math.Max(1, Math.Min(3, name.TrimStart('-').Length / 3)) ||
                        (name.TrimStart('-').Length >= 3 && c.Name.StartsWith(name, StringComparison.Ordinal) && name.StartsWith("--", StringComparison.Ordinal)))
            .OrderBy(c => c.Distance).Select(c => c.Name).FirstOrDefault();
        return $"{command}: unknown option {name}" + (closest is null ? "" : $"; did you mean {closest}?") + $" (repscope {command} --help lists the options)";
    }

    private static void CheckValue(Option option, string name, string value)
    {
        var type = Nullable.GetUnderlyingType(option.Type) ?? option.Type;
        var inv = CultureInfo.InvariantCulture;
        if (type.IsEnum)
        {
            var names = Enum.GetNames(type).Select(n => n.ToLowerInvariant()).ToArray();
            if (!names.Contains(value.ToLowerInvariant()))
            {
                throw new RepscopeException($"{name}: '{value}' is not one of: {string.Join(", ", names)}");
            }
        }
        else if (type == typeof(int) || type == typeof(long))
        {
            if (long.TryParse(value, NumberStyles.Integer, inv, out long v) && (type == typeof(long) || v is >= int.MinValue and <= int.MaxValue)) { return; }
            if (BigInteger.TryParse(value, NumberStyles.Integer, inv, out _))
            {
                var (lo, hi) = type == typeof(int) ? (int.MinValue.ToString(inv), int.MaxValue.ToString(inv)) : (long.MinValue.ToString(inv), long.MaxValue.ToString(inv));
                throw new RepscopeException($"{name}: {value} is out of range (an integer from {lo} to {hi})");
            }
            throw new RepscopeException($"{name}: '{value}' is not an integer");
        }
        else if (type == typeof(double) || type == typeof(float))
        {
            if (!double.TryParse(value, NumberStyles.Float, inv, out double d)) { throw new RepscopeException($"{name}: '{value}' is not a number"); }
            if (!double.IsFinite(d) || (type == typeof(float) && !float.IsFinite((float)d)))
            {
                throw new RepscopeException($"{name}: {value} is not a finite number");
            }
        }
    }

    private static bool IsNumber(string a) => double.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    /// <summary>Levenshtein distance: the fewest single-character edits that turn <paramref name="a"/> into <paramref name="b"/>.</summary>
    internal static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
