using Repscope.Interop;
using Repscope.Runs;
using Repscope.Tests.Runs;

namespace Repscope.Tests.Analysis.Errors;

/// <summary>Small fake run directories (run.json + test_labels.npy + test_predictions.npy) in a temp folder.</summary>
internal sealed class FakeRuns : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"repscope-errors-{Guid.NewGuid():N}");

    public string Make(string name, long[] labels, long[] predictions, string[] classNames, string fingerprint = "f00d",
                       string state = "finished", bool writePredictions = true)
    {
        string dir = Path.Combine(Root, name);
        Directory.CreateDirectory(dir);
        var run = SampleRuns.Info(state == "finished" ? RunState.Finished : RunState.Training, classNames: classNames, testCount: labels.Length,
                                  fingerprint: fingerprint, data: "fake",
                                  accuracy: labels.Zip(predictions).Count(p => p.First == p.Second) / (double)labels.Length);
        RunFormat.Write(dir, run);
        Npy.Write(Path.Combine(dir, "test_labels.npy"), NdArray.FromInt64("test_labels", labels, labels.Length));
        if (writePredictions)
        {
            Npy.Write(Path.Combine(dir, "test_predictions.npy"), NdArray.FromInt64("test_predictions", predictions, predictions.Length));
        }
        return dir;
    }

    public void Dispose() { try { Directory.Delete(Root, true); } catch (IOException) { } }
}
