using System.Globalization;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace Governor.Core.Logging;

/// <summary>
/// The agent's log file: <c>governor-&lt;app&gt;-&lt;pid&gt;-&lt;yyyyMMdd&gt;.log</c>, a new file each
/// day and whenever one reaches its size limit (<c>_001</c>, <c>_002</c>, ... as Serilog's file
/// sink names them), the newest few kept. Written here rather than with Serilog.Sinks.File's
/// rolling sink, which builds a compiled regular expression (Reflection.Emit and the JIT: about
/// 2 MB of memory in every process the agent joins) only to find its old files; the file name
/// pattern is fixed, so plain string matching does it. Each event is flushed, as Serilog's sink does.
/// </summary>
internal sealed class RollingFileSink : ILogEventSink, IDisposable
{
    private readonly object _gate = new();
    private readonly string _directory;
    private readonly string _prefix;
    private readonly ITextFormatter _formatter;
    private readonly long _sizeLimit;
    private readonly int _retained;
    private StreamWriter? _writer;
    private CountingStream? _stream;
    private string? _day;
    private int _sequence;
    private bool _disposed;

    /// <param name="directory">The log directory.</param>
    /// <param name="prefix">The file name before the date, e.g. <c>governor-shop-42-</c>.</param>
    public RollingFileSink(string directory, string prefix, ITextFormatter formatter, long sizeLimit, int retained)
    {
        _directory = directory;
        _prefix = prefix;
        _formatter = formatter;
        _sizeLimit = sizeLimit;
        _retained = retained;
    }

    /// <summary>The file for <paramref name="day"/> (yyyyMMdd) and <paramref name="sequence"/> (0: none).</summary>
    private string PathFor(string day, int sequence) =>
        Path.Combine(_directory, $"{_prefix}{day}{(sequence == 0 ? string.Empty : "_" + sequence.ToString("000", CultureInfo.InvariantCulture))}.log");

    /// <summary>Opens today's file now (so that an unwritable directory shows at once).</summary>
    public void Open(DateTimeOffset now)
    {
        lock (_gate)
        {
            Roll(now.ToString("yyyyMMdd", CultureInfo.InvariantCulture), 0);
        }
    }

    public void Emit(LogEvent logEvent)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            string day = logEvent.Timestamp.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
            if (_writer is null || day != _day)
            {
                Roll(day, 0);
            }
            else if (_sizeLimit > 0 && _stream!.Length >= _sizeLimit)
            {
                Roll(day, _sequence + 1);
            }

            _formatter.Format(logEvent, _writer!);
            _writer!.Flush();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _writer?.Dispose();
            _writer = null;
        }
    }

    private void Roll(string day, int sequence)
    {
        _writer?.Dispose();
        _writer = null;
        Directory.CreateDirectory(_directory);

        // Continue today's newest file after a restart of the sink; skip full ones.
        while (true)
        {
            string path = PathFor(day, sequence);
            var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            if (_sizeLimit > 0 && file.Length >= _sizeLimit)
            {
                file.Dispose();
                sequence++;
                continue;
            }

            _stream = new CountingStream(file);
            _writer = new StreamWriter(_stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            break;
        }

        _day = day;
        _sequence = sequence;
        RemoveOld();
    }

    // This process's files only (the prefix holds the pid), oldest first by name: date, then sequence.
    private void RemoveOld()
    {
        try
        {
            var files = Directory.GetFiles(_directory, _prefix + "*.log");
            if (files.Length <= _retained)
            {
                return;
            }

            Array.Sort(files, StringComparer.Ordinal);
            for (int i = 0; i < files.Length - _retained; i++)
            {
                File.Delete(files[i]);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // An old file that cannot be removed is left; logging goes on.
        }
    }

    /// <summary>Knows the file's length without asking the file system at every event.</summary>
    private sealed class CountingStream : Stream
    {
        private readonly FileStream _inner;
        private readonly long _initial;

        public CountingStream(FileStream inner)
        {
            _inner = inner;
            _initial = inner.Length;
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _initial + Written;

        public override long Position
        {
            get => Length;
            set => throw new NotSupportedException();
        }

        public override void Flush() => _inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            _inner.Write(buffer, offset, count);
            Written += count;
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _inner.Write(buffer);
            Written += buffer.Length;
        }

        public long Written { get; private set; }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
