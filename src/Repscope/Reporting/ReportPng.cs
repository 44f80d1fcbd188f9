using System.Buffers.Binary;
using System.IO.Hashing;

namespace Repscope.Reporting;

/// <summary>
/// Structural check of a PNG before it is embedded in a report: signature, chunk lengths and CRCs,
/// IHDR first with a non-zero size, at least one IDAT, IEND last. A figure that fails is refused
/// with a message naming it, so that a report never carries a broken image.
/// </summary>
public static class ReportPng
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Returns the image size; throws <see cref="RepscopeException"/> naming <paramref name="name"/> when the bytes are not a valid PNG.</summary>
    public static (int Width, int Height) Validate(ReadOnlySpan<byte> png, string name)
    {
        if (png.Length < Signature.Length || !png[..Signature.Length].SequenceEqual(Signature))
        {
            throw new RepscopeException($"figure '{name}': not a PNG (bad signature)");
        }
        int pos = Signature.Length;
        int width = 0, height = 0, idat = 0;
        bool first = true, ended = false;
        while (pos < png.Length)
        {
            if (ended) { throw new RepscopeException($"figure '{name}': data after the IEND chunk"); }
            if (pos + 12 > png.Length) { throw new RepscopeException($"figure '{name}': truncated chunk at byte {pos}"); }
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[pos..]);
            if (length > int.MaxValue || pos + 12 + (long)length > png.Length)
            {
                throw new RepscopeException($"figure '{name}': chunk at byte {pos} says {length} bytes, file ends before");
            }
            ReadOnlySpan<byte> typeAndData = png.Slice(pos + 4, 4 + (int)length);
            string type = System.Text.Encoding.ASCII.GetString(typeAndData[..4]);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png[(pos + 8 + (int)length)..]);
            if (Crc32.HashToUInt32(typeAndData) != crc) { throw new RepscopeException($"figure '{name}': bad CRC in chunk '{type}' at byte {pos}"); }
            if (first)
            {
                if (type != "IHDR" || length != 13) { throw new RepscopeException($"figure '{name}': first chunk is '{type}', expected IHDR"); }
                width = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(typeAndData[4..]), int.MaxValue);
                height = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(typeAndData[8..]), int.MaxValue);
                if (width == 0 || height == 0) { throw new RepscopeException($"figure '{name}': image is {width}x{height} pixels"); }
                first = false;
            }
            if (type == "IDAT") { idat++; }
            if (type == "IEND") { ended = true; }
            pos += 12 + (int)length;
        }
        if (!ended) { throw new RepscopeException($"figure '{name}': no IEND chunk (truncated PNG)"); }
        if (idat == 0) { throw new RepscopeException($"figure '{name}': no image data (IDAT)"); }
        return (width, height);
    }
}
