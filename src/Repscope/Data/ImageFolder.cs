using SkiaSharp;

namespace Repscope.Data;

/// <summary>
/// An image folder: one sub-folder per class (sorted by name, ordinal), PNG or JPEG files inside,
/// each decoded to RGB and resized to <c>size x size</c> (bilinear with mipmaps: no aliasing on
/// large downscales). Files with other extensions are ignored; an image that cannot be decoded is an error.
/// </summary>
public static class ImageFolder
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg"];

    public static (RawImages Images, IReadOnlyList<string> ClassNames) Read(string folder, int size, IProgressReporter? progress = null)
    {
        if (size < 1) { throw new RepscopeException($"image size must be positive, got {size}"); }
        if (!Directory.Exists(folder)) { throw new RepscopeException($"{folder}: image folder not found"); }
        var classDirs = Directory.GetDirectories(folder).OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal).ToList();
        if (classDirs.Count < 2) { throw new RepscopeException($"{folder}: an image folder needs one sub-folder per class (at least 2), found {classDirs.Count}"); }
        var files = new List<(string Path, int Label)>();
        for (int c = 0; c < classDirs.Count; c++)
        {
            var inClass = Directory.GetFiles(classDirs[c])
                .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .OrderBy(f => f, StringComparer.Ordinal).ToList();
            if (inClass.Count == 0) { throw new RepscopeException($"{classDirs[c]}: class folder has no PNG or JPEG images"); }
            files.AddRange(inClass.Select(f => (f, c)));
        }
        int per = 3 * size * size;
        var pixels = new byte[(long)files.Count * per];
        var labels = new long[files.Count];
        using var task = (progress ?? ProgressReporter.None).Start($"reading {Path.GetFileName(Path.TrimEndingDirectorySeparator(folder))}", files.Count);
        for (int i = 0; i < files.Count; i++)
        {
            Decode(files[i].Path, size, pixels.AsSpan(i * per, per));
            labels[i] = files[i].Label;
            task.Advance(1);
        }
        task.Complete($"{files.Count} images, {classDirs.Count} classes");
        return (new RawImages(pixels, labels, 3, size, size), classDirs.Select(d => Path.GetFileName(d)).ToList());
    }

    private static void Decode(string path, int size, Span<byte> chw)
    {
        using var decoded = SKBitmap.Decode(path) ?? throw new RepscopeException($"{path}: not a readable PNG or JPEG image");
        var info = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var resized = decoded.Resize(info, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
                            ?? throw new RepscopeException($"{path}: could not resize to {size}x{size}");
        ReadOnlySpan<byte> rgba = resized.GetPixelSpan();
        int plane = size * size;
        for (int p = 0; p < plane; p++)
        {
            chw[p] = rgba[4 * p];
            chw[plane + p] = rgba[4 * p + 1];
            chw[2 * plane + p] = rgba[4 * p + 2];
        }
    }
}
