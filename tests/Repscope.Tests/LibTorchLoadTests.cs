using TorchSharp;

namespace Repscope.Tests;

/// <summary>
/// libtorch must load on this machine: on Debian 12 that needs the build's GLIBCXX_3.4.32 fix
/// (build/ElfWeakVersion.targets). A failure here means the native library did not load.
/// </summary>
public class LibTorchLoadTests
{
    [Fact]
    public void LibTorchLoadsAndComputes()
    {
        using var a = torch.tensor(new double[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var b = torch.matmul(a, a);
        Assert.Equal(new double[] { 7, 10, 15, 22 }, b.data<double>().ToArray());
        Assert.StartsWith("2.10", torch.__version__);
    }
}
