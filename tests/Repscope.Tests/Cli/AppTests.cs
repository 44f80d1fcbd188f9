using Repscope.Cli;
using Repscope.Tests.Similarity;

namespace Repscope.Tests.Cli;

/// <summary>What every command does with its command line: help, unknown options, values that do not parse.</summary>
public sealed class AppTests
{
    private static readonly string X = KornblithFixtureTests.Fixture("kornblith_x.npy");
    private static readonly string Y = KornblithFixtureTests.Fixture("kornblith_y.npy");

    public static TheoryData<string> CommandNames() => new(App.Commands.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void HelpRendersForEveryCommand(string command)
    {
        var o = CliRunner.Run(command, "--help");
        Assert.True(o.ExitCode == 0, o.Err);
        Assert.Equal("", o.Err);
        Assert.Contains($"repscope {command}", o.Out);
        // Every option and argument description shows up (markup in one would have thrown or eaten text).
        Assert.Contains("-h, --help", o.Out);
    }

    [Fact]
    public void TheRootHelpListsEveryCommand()
    {
        var o = CliRunner.Run("--help");
        Assert.Equal(0, o.ExitCode);
        foreach (var c in App.Commands) { Assert.Contains(c.Name, o.Out); }
    }

    [Fact]
    public void ExportHelpShowsTheShapeInBrackets()
    {
        // issue 15.1: "[n, C, H, W]" in a description was read as a Spectre style and crashed the help.
        var o = CliRunner.Run("export", "--help");
        Assert.Equal(0, o.ExitCode);
        Assert.Contains("[n, C, H, W]", o.Out);
    }

    [Theory]
    [InlineData(new[] { "cka", "X", "Y", "--frobnicate" }, "cka: unknown option --frobnicate (repscope cka --help lists the options)")]
    [InlineData(new[] { "cka", "X", "Y", "--jsn" }, "cka: unknown option --jsn; did you mean --json? (repscope cka --help lists the options)")]
    [InlineData(new[] { "train", "--epoch", "1", "--sed", "5" }, "train: unknown option --epoch; did you mean --epochs? (repscope train --help lists the options)")]
    [InlineData(new[] { "train", "--epochs", "1", "--sed", "5" }, "train: unknown option --sed; did you mean --seed? (repscope train --help lists the options)")]
    [InlineData(new[] { "errors", "--a", "x", "--b", "y" }, "errors: unknown option --a; did you mean -a? (repscope errors --help lists the options)")]
    [InlineData(new[] { "heatmap", "a.npz", "--out=o", "--estimate", "biased" }, "heatmap: unknown option --estimate; did you mean --estimator? (repscope heatmap --help lists the options)")]
    public void UnknownOptionsAreRejectedWithTheClosestOne(string[] args, string message)
    {
        var o = CliRunner.Run(args.Select(a => a == "X" ? X : a == "Y" ? Y : a).ToArray());
        Assert.Equal(ExitCode.UserError, o.ExitCode);
        Assert.Equal($"repscope: error: {message}", o.ErrorLine);
        Assert.Equal("", o.Out);
    }

    [Theory]
    [InlineData(new[] { "--kernel", "cosine" }, "--kernel: 'cosine' is not one of: linear, rbf")]
    [InlineData(new[] { "--estimator", "" }, "--estimator: '' is not one of: biased, unbiased")]
    [InlineData(new[] { "--batch-size", "99999999999" }, "--batch-size: 99999999999 is out of range (an integer from -2147483648 to 2147483647)")]
    [InlineData(new[] { "--batch-size=ten" }, "--batch-size: 'ten' is not an integer")]
    [InlineData(new[] { "--rbf-threshold", "half" }, "--rbf-threshold: 'half' is not a number")]
    [InlineData(new[] { "--rbf-threshold", "1e999" }, "--rbf-threshold: 1e999 is not a finite number")]
    public void ValuesThatDoNotParseNameTheOptionAndTheChoices(string[] options, string message)
    {
        var o = CliRunner.Run(["cka", X, Y, .. options]);
        Assert.Equal(ExitCode.UserError, o.ExitCode);
        Assert.Equal($"repscope: error: {message}", o.ErrorLine);
    }

    [Fact]
    public void EnumValuesAreAcceptedInTheHelpsCase()
    {
        var o = CliRunner.Run("cka", X, Y, "--kernel", "rbf", "--estimator", "unbiased", "--json");
        Assert.True(o.ExitCode == 0, o.Err);
        Assert.Contains("\"kernel\":\"rbf\"", o.Out);
    }

    [Fact]
    public void NegativeNumbersAreValuesNotOptions()
    {
        var o = CliRunner.Run("cka", X, Y, "--kernel", "rbf", "--rbf-threshold", "-1");
        Assert.Equal(ExitCode.UserError, o.ExitCode);
        Assert.Contains("threshold", o.ErrorLine);
        Assert.DoesNotContain("unknown option", o.ErrorLine);
    }

    [Fact]
    public void LongLinesAreWrittenWhole()
    {
        // stdout of a redirected command is never wrapped at a console width.
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var t = new Terminal(stdout, stderr);
        string line = string.Join(" ", Enumerable.Repeat("[word]", 200));
        t.WriteLine(line);
        t.Warn(line);
        Assert.Equal(line + Environment.NewLine, stdout.ToString());
        Assert.Equal($"repscope: warning: {line}{Environment.NewLine}", stderr.ToString());
    }

    [Theory]
    [InlineData("--sed", "--seed", 1)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("", "abc", 3)]
    public void EditDistance(string a, string b, int expected)
    {
        Assert.Equal(expected, OptionCheck.Distance(a, b));
        Assert.Equal(expected, OptionCheck.Distance(b, a));
    }
}
