// Training throughput of Repscope's ResNet: the trainer's own step (Trainer.Step: forward, cross-entropy,
// backward, SGD with momentum and weight decay) after the trainer's augmentation (crop pad 4 + flip), batch 128,
// random data. The PyTorch twin is bench/train_bench.py. One JSON line per configuration.
// Usage: TrainBench THREADS MIN_SECONDS WARMUP depth:width:size:channels ...
// (times whole steps after WARMUP warm-up steps until at least MIN_SECONDS have passed, at least 2 steps)
// or:    TrainBench THREADS serve WARMUP depth:width:size:channels
// (lock-step mode for bench/train_lockstep.py: builds the model, runs the warm-up steps, prints "ready", then for
// each stdin line "run SECONDS" runs whole steps until SECONDS have passed (at least one) and prints
// "STEPS WALL_SECONDS CPU_SECONDS"; "quit" ends it.)
using System.Diagnostics;
using System.Globalization;
using Repscope.Models;
using Repscope.Training;
using TorchSharp;
using static TorchSharp.torch;

int threads = int.Parse(args[0], CultureInfo.InvariantCulture);
bool serve = args[1] == "serve";
double minSeconds = serve ? 0 : double.Parse(args[1], CultureInfo.InvariantCulture);
int warmup = int.Parse(args[2], CultureInfo.InvariantCulture);
Trainer.PrepareProcess(threads);
const int batch = 128;
foreach (string spec in args[3..])
{
    var p = spec.Split(':');
    int depth = int.Parse(p[0], CultureInfo.InvariantCulture);
    double width = double.Parse(p[1], CultureInfo.InvariantCulture);
    int size = int.Parse(p[2], CultureInfo.InvariantCulture);
    int channels = int.Parse(p[3], CultureInfo.InvariantCulture);
    var g = new Generator(0);
    using var model = ResNet.Cifar(depth, width, residual: true, classes: 10, inChannels: channels);
    model.Initialise(g);
    model.train();
    using var sgd = new Sgd(model.parameters(), momentum: 0.9, weightDecay: 5e-4);
    using var data = randn([batch * 4, channels, size, size], generator: g);
    using var labels = randint(0, 10, [batch * 4], dtype: ScalarType.Int64, generator: g);
    int i = 0;
    void OneStep()
    {
        using var scope = NewDisposeScope();
        long k = (i++ % 4) * batch;
        var x = Augmentation.CropAndFlip(data[TensorIndex.Slice(k, k + batch)], 4, flip: true, g);
        Trainer.Step(model, sgd, x, labels[TensorIndex.Slice(k, k + batch)], 0.05);
    }
    while (i < warmup) { OneStep(); }
    if (serve)
    {
        Console.WriteLine("ready");
        var me = Process.GetCurrentProcess();
        for (string? line; (line = Console.ReadLine()) is not null && line.StartsWith("run ", StringComparison.Ordinal);)
        {
            double window = double.Parse(line[4..], CultureInfo.InvariantCulture);
            me.Refresh();
            var cpu0 = me.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            int n = 0;
            do { OneStep(); n++; } while (wall.Elapsed.TotalSeconds < window);
            double seconds = wall.Elapsed.TotalSeconds;
            me.Refresh();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n} {seconds:R} {(me.TotalProcessorTime - cpu0).TotalSeconds:R}"));
        }
        return;
    }
    var clock = Stopwatch.StartNew();
    int steps = 0;
    while (steps < 2 || clock.Elapsed.TotalSeconds < minSeconds) { OneStep(); steps++; }
    double ips = steps * batch / clock.Elapsed.TotalSeconds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{{\"impl\": \"repscope\", \"version\": \"TorchSharp {typeof(torch).Assembly.GetName().Version} / libtorch {torch.__version__}\", \"depth\": {depth}, \"width\": {width}, \"size\": {size}, \"channels\": {channels}, \"threads\": {threads}, \"batch\": {batch}, \"imagesPerSecond\": {ips:F1}}}"));
}
