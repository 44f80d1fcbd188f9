namespace Repscope.Tests.Common;

/// <summary>How long a piece of work took, as progress lines print it: short phases to the hundredth of a second.</summary>
public class ProgressTextTests
{
    [Theory]
    [InlineData(0.904, "0.90s")]
    [InlineData(9.994, "9.99s")]
    [InlineData(12.34, "12.3s")]
    [InlineData(75, "1m15s")]
    [InlineData(3700, "1h01m")]
    public void DurationsAreToTheHundredthBelowTenSeconds(double seconds, string text) =>
        Assert.Equal(text, ProgressText.Duration(TimeSpan.FromSeconds(seconds)));
}
