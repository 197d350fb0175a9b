using System.IO.MemoryMappedFiles;
using AutoPrune.Tensors;

namespace AutoPrune.Loading;

/// <summary>
/// A whole file mapped read-only into memory: the one owner of the handle, the mapping and the pointer that the
/// weights file formats (safetensors, GGUF) read their headers and tensors from. It remembers the size and
/// modification time at opening so that <see cref="CheckUnchanged"/> can tell a rewritten file from the mapped one.
/// An empty file is opened without a mapping (the OS refuses to map 0 bytes); <see cref="Base"/> is then null and
/// the format's own length check reports it.
/// </summary>
public sealed unsafe class MappedFile : IMappedWeightsFile
{
    private readonly FileStream _file;             // owned by _map when there is one; kept for fstat
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly DateTime _writeTimeUtc;
    private bool _disposed;

    public string Path { get; }
    public long Length { get; }

    /// <summary>The first byte of the file; valid until <see cref="Dispose"/>; null for an empty file.</summary>
    public byte* Base { get; }

    private MappedFile(string path, FileStream file, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr, long length)
    {
        Path = path; _file = file; _map = map; _view = view; Base = basePtr; Length = length;
        _writeTimeUtc = File.GetLastWriteTimeUtc(file.SafeFileHandle);
    }

    /// <summary>Opens and maps <paramref name="path"/>; <paramref name="kind"/> names the format in the not-found message.</summary>
    public static MappedFile Open(string path, string kind)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"{kind} file not found: {path}");
        FileStream fs;
        try { fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new ModelLoadException($"{path}: cannot open: {e.Message}", e); }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool pointerHeld = false;
        try
        {
            long length = fs.Length;
            if (length == 0) return new MappedFile(path, fs, null, null, null, 0);
            map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            pointerHeld = true;
            return new MappedFile(path, fs, map, view, p + view.PointerOffset, length);
        }
        catch (Exception e)
        {
            if (pointerHeld) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (map != null) map.Dispose(); else fs.Dispose();
            if (e is IOException or UnauthorizedAccessException) throw new ModelLoadException($"{path}: cannot memory-map: {e.Message}", e);
            throw;
        }
    }

    /// <summary>
    /// Copies <paramref name="count"/> bytes at file offset <paramref name="offset"/> to <paramref name="dst"/> with
    /// reads of the file rather than through the mapping. Bytes read once to be rearranged elsewhere would otherwise
    /// stay mapped, and so resident in this process, for as long as the file is open.
    /// </summary>
    public void ReadAt(long offset, byte* dst, long count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || count < 0 || count > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(count), $"bytes [{offset}, {offset + count}) are not inside the {Length}-byte file");
        while (count > 0)
        {
            int n;
            try { n = RandomAccess.Read(_file.SafeFileHandle, new Span<byte>(dst, (int)Math.Min(count, 1 << 30)), offset); }
            catch (IOException e) { throw new ModelLoadException($"{Path}: cannot read: {e.Message}", e); }
            if (n == 0) throw new ModelLoadException($"{Path}: the file ended at byte {offset} while reading; it changed since it was loaded");
            dst += n; offset += n; count -= n;
        }
    }

    /// <summary>
    /// Throws if the file's size or modification time changed since it was opened. Reading a mapped page past a
    /// shrunken end kills the process (SIGBUS), and rewritten bytes would silently change the answers, so a run
    /// checks this first; it costs one fstat of the open file. A change during a run cannot be caught.
    /// </summary>
    public void CheckUnchanged()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long length;
        DateTime written;
        try
        {
            length = RandomAccess.GetLength(_file.SafeFileHandle);
            written = File.GetLastWriteTimeUtc(_file.SafeFileHandle);
        }
        catch (IOException e) { throw new ModelLoadException($"{Path}: cannot check the weights file: {e.Message}", e); }
        if (length != Length)
            throw new ModelLoadException(
                $"{Path}: the weights file changed size since the model was loaded ({Length} -> {length} bytes); load the model again");
        if (written != _writeTimeUtc)
            throw new ModelLoadException(
                $"{Path}: the weights file was modified since the model was loaded ({_writeTimeUtc:O} -> {written:O}); load the model again");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view == null) { _file.Dispose(); return; }
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map!.Dispose();
    }
}
