using System.IO.Hashing;

namespace Repscope.Interop;

/// <summary>A read-only pass-through stream that computes the zip CRC-32 of what is read through it.</summary>
internal sealed class Crc32Stream(Stream inner) : Stream
{
    private readonly Stream _inner = inner;
    private readonly Crc32 _crc = new();

    public uint Crc => _crc.GetCurrentHashAsUInt32();

    public override int Read(Span<byte> buffer)
    {
        int n = _inner.Read(buffer);
        _crc.Append(buffer[..n]);
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
