using System.Text.Json;
using Repscope.Analysis.Errors;
using Repscope.Analysis.Statistics;
using Repscope.Reporting;
using Repscope.Workflows;

namespace Repscope.Tests.Analysis.Errors;

/// <summary>
/// repscope errors end to end on hand-made runs whose answers are known: 30 test examples in
/// classes 0..2 (10 each, examples 10c..10c+9) and a class 3 ('bird') without examples. Each run
/// gets a given number of examples of each class wrong: A and B the first ones of classes 0 and 1;
/// in class 2, A the first ones and B the last ones. Expected t / p values from scipy 1.10 and
/// statsmodels 0.13 (scripts in the comments).
/// </summary>
public class ErrorsTests : IDisposable
{
    private static readonly string[] Names = { "cat", "dog", "frog", "bird" };
    private static readonly long[] Labels = Enumerable.Range(0, 30).Select(i => (long)(i / 10)).ToArray();
    // wrong examples per class (class 0, 1, 2)
    private static readonly int[][] WrongA = { new[] { 1, 2, 3 }, new[] { 1, 3, 3 }, new[] { 2, 2, 4 }, new[] { 1, 2, 3 } };
    private static readonly int[][] WrongB = { new[] { 5, 2, 3 }, new[] { 6, 3, 2 }, new[] { 5, 2, 4 }, new[] { 6, 2, 3 } };
    private readonly FakeRuns _runs = new();

    public void Dispose() => _runs.Dispose();

    private static long[] Predictions(int[] wrong, bool lastInClass2)
    {
        var p = (long[])Labels.Clone();
        for (int c = 0; c < 3; c++)
        {
            for (int k = 0; k < wrong[c]; k++)
            {
                int i = c == 2 && lastInClass2 ? 10 * c + 9 - k : 10 * c + k;
                p[i] = (Labels[i] + 1) % 3;
            }
        }
        return p;
    }

    private string MakeGroups()
    {
        for (int k = 0; k < 4; k++)
        {
            _runs.Make($"runs/a{k + 1}", Labels, Predictions(WrongA[k], false), Names);
            _runs.Make($"runs/b{k + 1}", Labels, Predictions(WrongB[k], true), Names);
        }
        return _runs.Root;
    }

    private static void Close(double expected, double actual, string what) => Statistics.StatsReferenceTests.Close(expected, actual, what);

    [Fact]
    public void ErrorsCommandEndToEndOnFakeRuns()
    {
        string root = MakeGroups();
        string hierarchy = Path.Combine(root, "classes.json");
        File.WriteAllText(hierarchy, """{"pets": ["cat", "dog"], "other": [2, "bird"]}""");
        string outDir = Path.Combine(root, "out");
        var (report, files) = ErrorsWorkflow.Run(new ErrorOptions($"{root}/runs/a*", $"{root}/runs/b[1-4]", outDir) { HierarchyPath = hierarchy });

        foreach (string f in new[] { "errors.json", "per_class.csv", "per_example.csv", "run_class_accuracy.csv", "superclass.csv", "control_per_class.csv", "scatter.png", "per_class.png", "superclass.png" })
        {
            Assert.Contains(Path.Combine(outDir, f), files);
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        }
        Assert.Equal((2100, 760), Repscope.Tests.Reporting.PlotsTests.PngSize(Path.Combine(outDir, "scatter.png")));

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "errors.json")));
        var j = doc.RootElement;
        Assert.Equal("repscope-errors/1", j.GetProperty("format").GetString());
        Assert.Equal(30, j.GetProperty("testSet").GetProperty("examples").GetInt32());
        Assert.Equal(new[] { 10, 10, 10, 0 }, j.GetProperty("testSet").GetProperty("examplesPerClass").EnumerateArray().Select(e => e.GetInt32()));
        double[] accuracyA = j.GetProperty("a").GetProperty("accuracy").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] expectedAccuracy = { 24 / 30.0, 23 / 30.0, 22 / 30.0, 24 / 30.0 }; // 30 minus the wrong counts
        for (int k = 0; k < 4; k++) { Close(expectedAccuracy[k], accuracyA[k], $"accuracy of a{k + 1}"); }

        // per example: counted by hand from the construction
        var ab = j.GetProperty("againstB");
        Assert.Equal(13, ab.GetProperty("bothRight").GetInt32());
        Assert.Equal(3, ab.GetProperty("bothWrong").GetInt32());   // 0, 10, 11
        Assert.Equal(5, ab.GetProperty("xRightYWrong").GetInt32()); // 2, 3, 4, 28, 29
        Assert.Equal(3, ab.GetProperty("yRightXWrong").GetInt32()); // 20, 21, 22
        Assert.Equal(6, ab.GetProperty("mixed").GetInt32());
        Assert.Equal(new[] { 2, 3, 4, 28, 29 }, j.GetProperty("aRightBWrong").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(new[] { 20, 21, 22 }, j.GetProperty("bRightAWrong").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("A split in halves", j.GetProperty("controlSource").GetString());
        Assert.Equal(new[] { "ResNet-8 (width 1)" }, j.GetProperty("b").GetProperty("architectures").EnumerateArray().Select(e => e.GetString()));
        // matched: a1, a2 against b1, b2 (as many runs as a control half), counted by hand
        var m = j.GetProperty("againstBMatched");
        Assert.Equal((2, 2), (m.GetProperty("seedsX").GetInt32(), m.GetProperty("seedsY").GetInt32()));
        Assert.Equal(new[] { 15, 3, 6, 3, 3 }, new[] { "bothRight", "bothWrong", "xRightYWrong", "yRightXWrong", "mixed" }.Select(k => m.GetProperty(k).GetInt32()));
        Assert.Equal(new[] { "a1", "a2" }, j.GetProperty("controlFirstHalf").GetProperty("runs").EnumerateArray().Select(e => Path.GetFileName(e.GetString())));

        // per class: scipy.stats.ttest_ind over the per-class accuracies of the 4 + 4 runs,
        // statsmodels multipletests(method="holm-sidak") over classes 0..2 (bird has no examples)
        var pc = j.GetProperty("perClass");
        Assert.Equal(3, pc.GetProperty("tested").GetInt32());
        Assert.Equal(1, pc.GetProperty("significantCount").GetInt32());
        var classes = pc.GetProperty("classes").EnumerateArray().ToArray();
        Close(0.875, classes[0].GetProperty("meanA").GetDouble(), "class 0 mean A");
        Close(0.45, classes[0].GetProperty("meanB").GetDouble(), "class 0 mean B");
        Close(11.129112402035615, classes[0].GetProperty("t").GetDouble(), "class 0 t");
        Close(3.137462348859723e-05, classes[0].GetProperty("p").GetDouble(), "class 0 p");
        Close(9.412091739567868e-05, classes[0].GetProperty("pAdjusted").GetDouble(), "class 0 adjusted");
        Assert.True(classes[0].GetProperty("significant").GetBoolean());
        Assert.Equal(0, classes[1].GetProperty("t").GetDouble());
        Close(1.0, classes[1].GetProperty("pAdjusted").GetDouble(), "class 1 adjusted");
        Close(-0.5222329678670916, classes[2].GetProperty("t").GetDouble(), "class 2 t");
        Close(0.8557671258352773, classes[2].GetProperty("pAdjusted").GetDouble(), "class 2 adjusted");
        Assert.False(classes[2].GetProperty("significant").GetBoolean());
        Assert.Equal(JsonValueKind.Null, classes[3].GetProperty("p").ValueKind);
        Assert.Equal(JsonValueKind.Null, classes[3].GetProperty("meanA").ValueKind);
        Assert.Equal(ClassDiff.NoExamples, classes[3].GetProperty("undefined").GetString());

        // control halves (a1, a2 vs a3, a4): p = 0.4226 for each class, nothing significant
        var cpc = j.GetProperty("controlPerClass");
        Assert.Equal(0, cpc.GetProperty("significantCount").GetInt32());
        Close(0.4226497308103747, cpc.GetProperty("classes")[0].GetProperty("p").GetDouble(), "control class 0 p");

        // superclasses: pets = cat + dog (20 examples), other = frog + bird (10 examples)
        var sc = j.GetProperty("perSuperclass").GetProperty("classes").EnumerateArray().ToArray();
        Assert.Equal("pets", sc[0].GetProperty("name").GetString());
        Close(0.825, sc[0].GetProperty("meanA").GetDouble(), "pets mean A");
        Close(7.602631123499286, sc[0].GetProperty("t").GetDouble(), "pets t");
        Close(0.0005392099052722826, sc[0].GetProperty("pAdjusted").GetDouble(), "pets adjusted");
        Close(0.6202199660794122, sc[1].GetProperty("pAdjusted").GetDouble(), "other adjusted");

        // per_class.csv is sorted by difference: cat (+0.425), dog (0), frog (-0.025), bird (undefined)
        string[] rows = File.ReadAllLines(Path.Combine(outDir, "per_class.csv"));
        Assert.Equal("rank,index,name,examples,mean_a,mean_b,difference,t,df,p,p_adjusted,significant,undefined", rows[0]);
        Assert.Equal(new[] { "cat", "dog", "frog", "bird" }, rows.Skip(1).Select(r => r.Split(',')[2]));
        Assert.EndsWith(",true,", rows[1]);
        // per_example.csv: accuracy_a of example 1 = 3 of 4 A runs right; example 20 is one B gets right and A wrong
        string[] ex = File.ReadAllLines(Path.Combine(outDir, "per_example.csv"));
        Assert.Equal("1,0,cat,0.75,0,1,0.5,mixed", ex[2]);
        Assert.Equal("20,2,frog,0,1,0,0,b-right-a-wrong", ex[21]);
        Assert.Equal(report.PerExampleA.Length + 1, ex.Length);
    }

    [Fact]
    public void ManyClassesPlotTheLargestDifferencesOnly()
    {
        var rng = new Random(3);
        string[] names = Enumerable.Range(0, 100).Select(c => $"class{c}").ToArray();
        long[] labels = Enumerable.Range(0, 1000).Select(i => (long)(i % 100)).ToArray();
        foreach (string g in new[] { "a", "b" })
        {
            for (int k = 0; k < 3; k++)
            {
                long[] p = labels.Select(l => rng.NextDouble() < 0.8 ? l : (l + 1) % 100).ToArray();
                _runs.Make($"many/{g}{k}", labels, p, names);
            }
        }
        string outDir = Path.Combine(_runs.Root, "many-out");
        var (r, _) = ErrorsWorkflow.Run(new ErrorOptions($"{_runs.Root}/many/a*", $"{_runs.Root}/many/b*", outDir));
        Assert.Equal(100, r.PerClass.Classes.Count);
        Assert.Equal(r.PerClass.Classes.Count(c => c.Undefined is null), r.PerClass.Tested);
        Assert.Equal(300 + 40 * ErrorComparisonWriter.MaxBars, Repscope.Tests.Reporting.PlotsTests.PngSize(Path.Combine(outDir, "per_class.png")).Width);
        Assert.Equal(101, File.ReadAllLines(Path.Combine(outDir, "per_class.csv")).Length);
    }

    [Fact]
    public void PerExampleAndPerClassAccuracyAgreeWithASecondFormulation()
    {
        MakeGroups();
        var a = Enumerable.Range(1, 4).Select(k => RunPredictions.Read(Path.Combine(_runs.Root, $"runs/a{k}"))).ToList();
        // per-class accuracy from the wrong-counts table
        for (int k = 0; k < 4; k++)
        {
            double[] acc = ErrorComparison.PerClassAccuracy(a[k]);
            for (int c = 0; c < 3; c++) { Assert.Equal(1 - WrongA[k][c] / 10.0, acc[c], 12); }
            Assert.True(double.IsNaN(acc[3]));
        }
        // the mean per-class accuracy weighted by class size equals the mean per-example accuracy
        double[] perExample = ErrorComparison.PerExampleAccuracy(a);
        double fromClasses = a.Average(r => ErrorComparison.PerClassAccuracy(r).Take(3).Average());
        Assert.Equal(perExample.Average(), fromClasses, 12);
        Assert.Equal(a.Average(r => r.Accuracy), perExample.Average(), 12);
    }

    [Fact]
    public void TheReportCarriesTheAccuracyMatchThePermutationTestAndEqualGroupSizes()
    {
        MakeGroups();
        var (r, _) = ErrorsWorkflow.Run(new ErrorOptions($"{_runs.Root}/runs/a*", $"{_runs.Root}/runs/b*", Path.Combine(_runs.Root, "o")));
        // accuracy match: Welch interval of mean accuracy A - B over the runs, as a second formulation
        var expected = Intervals.WelchDifference(r.A.Accuracy, r.B.Accuracy);
        Assert.Equal(expected, r.AccuracyDifference);
        Assert.Equal(r.A.MeanAccuracy - r.B.MeanAccuracy, r.AccuracyDifference!.Estimate, 12);
        // permutation test over seed labels: 4 + 4 runs, all 70 splits
        var p = r.PermutationTest!;
        Assert.True(p.Exact);
        Assert.Equal(70, p.Relabelings);
        Assert.Equal(r.PerExampleA.Zip(r.PerExampleB, (x, y) => Math.Abs(x - y)).Average(), p.Observed, 12);
        // the control halves are 2 runs each (A split in halves); the matched comparison uses 2 + 2 as well
        Assert.NotNull(r.PerClassMatched);
        Assert.Equal(r.ControlPerClass!.Classes[0].Df, r.PerClassMatched!.Classes.First(c => c.Undefined is null).Df);
        string json = File.ReadAllText(Path.Combine(_runs.Root, "o", "errors.json"));
        Assert.Contains("\"permutationTest\"", json);
        Assert.Contains("\"accuracyDifference\"", json);
        Assert.Contains("\"perClassMatched\"", json);
    }

    [Fact]
    public void ExplicitControlIsSplitInHalvesAndItsClassTestNeedsFourRuns()
    {
        MakeGroups();
        var (r, _) = ErrorsWorkflow.Run(new ErrorOptions($"{_runs.Root}/runs/a*", $"{_runs.Root}/runs/b*", Path.Combine(_runs.Root, "o"))
        { Control = $"{_runs.Root}/runs/b[12]", Test = TTestKind.Welch });
        Assert.Equal("control split in halves", r.ControlSource);
        Assert.Equal(new[] { "b1" }, r.ControlFirstHalf.Runs.Select(Path.GetFileName));
        Assert.Null(r.ControlPerClass);
        Assert.Contains("needs at least 4", r.ControlPerClassUndefined);
        Assert.Equal(TTestKind.Welch, r.PerClass.Test);
    }

    private RepscopeException Fails(string a, string b, string? control = null, string? hierarchy = null) =>
        Assert.Throws<RepscopeException>(() => ErrorsWorkflow.Run(new ErrorOptions(a, b, Path.Combine(_runs.Root, "out")) { Control = control, HierarchyPath = hierarchy }));

    [Fact]
    public void BadInputIsAOneLineErrorNamingTheRun()
    {
        string root = MakeGroups();
        Assert.Equal($"groupA '{root}/runs/zz*': matches no run directory", Fails($"{root}/runs/zz*", $"{root}/runs/b*").Message);
        Assert.Contains("matches 1 run", Fails($"{root}/runs/a1", $"{root}/runs/b*").Message);

        var wrong = Predictions(WrongA[0], false);
        _runs.Make("other/fp1", Labels, wrong, Names, fingerprint: "beef");
        _runs.Make("other/fp2", Labels, wrong, Names, fingerprint: "beef");
        Assert.Contains("other/fp1: different test set (fingerprint beef", Fails($"{root}/runs/a*", $"{root}/other/fp*").Message);

        var shuffled = (long[])Labels.Clone();
        (shuffled[0], shuffled[29]) = (shuffled[29], shuffled[0]);
        _runs.Make("labels/l1", shuffled, wrong, Names);
        _runs.Make("labels/l2", shuffled, wrong, Names);
        Assert.Contains("labels/l1: test label of example 0 is 2", Fails($"{root}/runs/a*", $"{root}/labels/l*").Message);

        _runs.Make("partial/p1", Labels, wrong, Names);
        _runs.Make("partial/p2", Labels, wrong, Names, state: "training");
        Assert.Contains("partial/p2: unfinished run (run.json state is 'training'", Fails($"{root}/runs/a*", $"{root}/partial/p*").Message);

        _runs.Make("missing/m1", Labels, wrong, Names);
        _runs.Make("missing/m2", Labels, wrong, Names, writePredictions: false);
        Assert.Contains("missing/m2: test_predictions.npy is missing", Fails($"{root}/runs/a*", $"{root}/missing/m*").Message);

        Directory.CreateDirectory(Path.Combine(root, "empty/e1"));
        Directory.CreateDirectory(Path.Combine(root, "empty/e2"));
        Assert.Contains("empty/e1: no run.json", Fails($"{root}/runs/a*", $"{root}/empty/e*").Message);

        Assert.Contains("is in both group A and group B", Fails($"{root}/runs/a*", $"{root}/runs/a[34]").Message);

        string h = Path.Combine(root, "h.json");
        File.WriteAllText(h, """{"pets": ["cat", "wolf"]}""");
        Assert.Equal($"{h}: superclass 'pets': no class named 'wolf' in the test set", Fails($"{root}/runs/a*", $"{root}/runs/b*", hierarchy: h).Message);
        File.WriteAllText(h, """{"pets": [7]}""");
        Assert.Contains("class index 7 is not in 0..3", Fails($"{root}/runs/a*", $"{root}/runs/b*", hierarchy: h).Message);
        Assert.False(File.Exists(Path.Combine(root, "out", "errors.json")));
    }

    [Fact]
    public void GlobMatchesDirectoriesSortedAndSkipsHiddenOnes()
    {
        MakeGroups();
        Directory.CreateDirectory(Path.Combine(_runs.Root, "runs", ".a9"));
        File.WriteAllText(Path.Combine(_runs.Root, "runs", "a_file"), "");
        var all = RunGlob.Expand($"{_runs.Root}/runs/a*").Select(Path.GetFileName);
        Assert.Equal(new[] { "a1", "a2", "a3", "a4" }, all);
        Assert.Equal(new[] { "a2", "b2" }, RunGlob.Expand($"{_runs.Root}/r?ns/[ab]2").Select(Path.GetFileName));
        Assert.Equal(new[] { "b1", "b3", "b4" }, RunGlob.Expand($"{_runs.Root}/runs/b[!2]").Select(Path.GetFileName));
        Assert.Empty(RunGlob.Expand($"{_runs.Root}/nothing/*"));
    }
}
