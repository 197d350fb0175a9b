using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using LLama.Native;

namespace AutoPrune.OracleTests;

/// <summary>
/// A direct binding to llama.cpp's multimodal library (libmtmd) as shipped in LLamaSharp.Backend.Cpu 0.30.0
/// (llama.cpp build c0c7e147): the language model is loaded by LLamaSharp, images go through libmtmd's own C API.
/// LLamaSharp's own mtmd wrappers are not used: they predate this library (their prompt tokenization appends a
/// <c>&lt;0x00&gt;</c> token, their image loading omits the <c>placeholder</c> argument, and their context parameters
/// are 56 bytes where the library's are 80). The layouts below follow the library itself, checked against its machine
/// code: the 80-byte <c>mtmd_context_params</c> (the offsets <c>mtmd_context_params_default</c> writes and
/// <c>mtmd_init_from_file</c> reads), the text length inside <c>mtmd_input_text</c>, the two-pointer struct the
/// bitmap helper returns, and the in/out position argument of the evaluation helpers.
/// Self-contained so that other projects (the llama.cpp side-by-side benchmark) can link this one file.
/// </summary>
public sealed unsafe class Mtmd : IDisposable
{
    public const int ChunkText = 0, ChunkImage = 1, ChunkAudio = 2;

    private IntPtr _ctx;

    /// <summary>The marker that stands for one image in a prompt given to <c>Tokenize</c> (<c>&lt;__media__&gt;</c>).</summary>
    public string Marker { get; }

    private Mtmd(IntPtr ctx)
    {
        _ctx = ctx;
        Marker = Marshal.PtrToStringUTF8(Api.DefaultMarker())!;
    }

    /// <summary>
    /// Loads an mmproj file for <paramref name="model"/> (CPU only, no warm-up pass, llama.cpp's log silenced).
    /// Throws <see cref="DllNotFoundException"/> with the paths tried when libmtmd cannot be loaded.
    /// </summary>
    public static Mtmd Load(string mmproj, SafeLlamaModelHandle model, int threads)
    {
        // Surface a missing library as itself rather than as a TypeInitializationException around it.
        try { RuntimeHelpers.RunClassConstructor(typeof(Api).TypeHandle); }
        catch (TypeInitializationException e) when (e.InnerException != null) { ExceptionDispatchInfo.Throw(e.InnerException); }
        var p = Api.ContextParamsDefault();
        p.UseGpu = 0;
        p.PrintTimings = 0;
        p.Warmup = 0;
        p.NThreads = threads;
        IntPtr ctx;
        fixed (byte* path = Utf8(mmproj))
            ctx = Api.InitFromFile(path, model.DangerousGetHandle(), p);
        if (ctx == IntPtr.Zero) throw new InvalidOperationException($"mtmd_init_from_file failed for {mmproj}");
        return new Mtmd(ctx);
    }

    public bool SupportsVision => Api.SupportVision(Handle) != 0;

    private IntPtr Handle => _ctx != IntPtr.Zero ? _ctx : throw new ObjectDisposedException(nameof(Mtmd));

    /// <summary>An image file decoded by llama.cpp's own decoder (stb_image) into RGB bytes.</summary>
    public MtmdImage ReadImage(string path)
    {
        BitmapWrapper w;
        fixed (byte* f = Utf8(path))
            w = Api.BitmapInitFromFile(Handle, f, 0);
        if (w.Video != IntPtr.Zero) Api.VideoFree(w.Video);
        if (w.Bitmap == IntPtr.Zero) throw new InvalidOperationException($"libmtmd cannot read the image {path}");
        try
        {
            int nx = (int)Api.BitmapGetNx(w.Bitmap), ny = (int)Api.BitmapGetNy(w.Bitmap);
            return new MtmdImage(nx, ny, new ReadOnlySpan<byte>(Api.BitmapGetData(w.Bitmap), checked(nx * ny * 3)).ToArray());
        }
        finally { Api.BitmapFree(w.Bitmap); }
    }

    /// <summary>
    /// Splits <paramref name="prompt"/> at each <see cref="Marker"/> into text and image chunks (llama.cpp preprocessing
    /// the images). BOS is added and control tokens in the text are parsed.
    /// </summary>
    public MtmdChunks Tokenize(string prompt, IReadOnlyList<MtmdImage> images)
    {
        var bitmaps = new IntPtr[images.Count];
        try
        {
            for (int i = 0; i < bitmaps.Length; i++)
            {
                var im = images[i];
                if (im.Rgb.Length != checked(im.Width * im.Height * 3)) throw new ArgumentException($"image {i}: {im.Rgb.Length} bytes for {im.Width}x{im.Height} RGB");
                fixed (byte* px = im.Rgb)
                    bitmaps[i] = Api.BitmapInit((uint)im.Width, (uint)im.Height, px);
                if (bitmaps[i] == IntPtr.Zero) throw new InvalidOperationException("mtmd_bitmap_init failed");
            }
            var chunks = new MtmdChunks(Api.ChunksInit());
            var text = Encoding.UTF8.GetBytes(prompt);
            int rc;
            fixed (byte* t = text)
            fixed (IntPtr* b = bitmaps)
            {
                var input = new InputText { Text = t, TextLen = (nuint)text.Length, AddSpecial = 1, ParseSpecial = 1 };
                rc = Api.Tokenize(Handle, chunks.Handle, &input, b, (nuint)bitmaps.Length);
            }
            if (rc != 0)
            {
                chunks.Dispose();
                throw new InvalidOperationException($"mtmd_tokenize returned {rc} (1: images and markers differ in number, 2: preprocessing failed)");
            }
            return chunks;
        }
        finally
        {
            foreach (var b in bitmaps) if (b != IntPtr.Zero) Api.BitmapFree(b);
        }
    }

    /// <summary>As <see cref="Tokenize(string, IReadOnlyList{MtmdImage})"/> with image files, decoded by llama.cpp.</summary>
    public MtmdChunks Tokenize(string prompt, IReadOnlyList<string> imageFiles) =>
        Tokenize(prompt, imageFiles.Select(ReadImage).ToArray());

    /// <summary>Runs the vision tower and projector on an image chunk: <c>tokens x embeddingSize</c> floats, row-major.</summary>
    public float[] Encode(MtmdChunks chunks, int index, int embeddingSize)
    {
        var chunk = chunks.Chunk(index);
        if (Api.ChunkGetType(chunk) != ChunkImage) throw new ArgumentException($"chunk {index} is not an image");
        int rc = Api.EncodeChunk(Handle, chunk);
        if (rc != 0) throw new InvalidOperationException($"mtmd_encode_chunk returned {rc}");
        var n = checked((int)Api.ChunkGetNTokens(chunk) * embeddingSize);
        return new ReadOnlySpan<float>(Api.GetOutputEmbd(Handle), n).ToArray();
    }

    /// <summary>
    /// Decodes every chunk into <paramref name="context"/> from position <paramref name="nPast"/> (sequence 0), images
    /// encoded by libmtmd, as llama.cpp's own tools do; with <paramref name="logitsLast"/> the last token's logits are
    /// then at output index -1. Returns the position after the last chunk.
    /// </summary>
    public int Evaluate(MtmdChunks chunks, SafeLLamaContextHandle context, int nPast, int batchSize, bool logitsLast = true)
    {
        int newPast = nPast; // the helpers add to it
        int rc = Api.HelperEvalChunks(Handle, context.DangerousGetHandle(), chunks.Handle, nPast, 0, batchSize, logitsLast ? (byte)1 : (byte)0, &newPast);
        if (rc != 0) throw new InvalidOperationException($"mtmd_helper_eval_chunks returned {rc}");
        return newPast;
    }

    /// <summary>
    /// Decodes chunk <paramref name="index"/> alone: a text chunk as is, an image chunk from the given
    /// <paramref name="imageEmbeddings"/> (tokens x embedding size) instead of encoding it. Returns the next position.
    /// </summary>
    public int EvaluateChunk(MtmdChunks chunks, int index, SafeLLamaContextHandle context, int nPast, int batchSize, bool logitsLast,
        float[]? imageEmbeddings = null)
    {
        var chunk = chunks.Chunk(index);
        int newPast = nPast, rc; // the text path adds to it
        if (imageEmbeddings == null)
            rc = Api.HelperEvalChunkSingle(Handle, context.DangerousGetHandle(), chunk, nPast, 0, batchSize, logitsLast ? (byte)1 : (byte)0, &newPast);
        else
        {
            if (Api.ChunkGetType(chunk) != ChunkImage) throw new ArgumentException($"chunk {index} is not an image");
            fixed (float* e = imageEmbeddings)
                rc = Api.HelperDecodeImageChunk(Handle, context.DangerousGetHandle(), chunk, e, nPast, 0, batchSize, &newPast, IntPtr.Zero, IntPtr.Zero);
        }
        if (rc != 0) throw new InvalidOperationException($"decoding chunk {index} returned {rc}");
        return newPast;
    }

    public void Dispose()
    {
        if (_ctx == IntPtr.Zero) return;
        Api.Free(_ctx);
        _ctx = IntPtr.Zero;
    }

    private static byte[] Utf8(string s)
    {
        var b = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, b);
        return b;
    }

    // ---- native layouts (llama.cpp c0c7e147, x86-64 SysV) ----

    /// <summary>struct mtmd_context_params: 80 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ContextParams
    {
        public byte UseGpu;              // 0
        public byte PrintTimings;        // 1
        public int NThreads;             // 4
        public IntPtr ImageMarker;       // 8, deprecated
        public IntPtr MediaMarker;       // 16
        public int FlashAttnType;        // 24, enum llama_flash_attn_type (-1 auto)
        public byte Warmup;              // 28
        public int ImageMinTokens;       // 32
        public int ImageMaxTokens;       // 36
        public IntPtr CbEval;            // 40
        public IntPtr CbEvalUserData;    // 48
        public int BatchMaxTokens;       // 56
        public IntPtr ProgressCallback;  // 64
        public IntPtr ProgressUserData;  // 72
    }

    /// <summary>struct mtmd_input_text: 24 bytes; the text is not NUL-terminated for libmtmd, its length is given.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct InputText
    {
        public byte* Text;
        public nuint TextLen;
        public byte AddSpecial;
        public byte ParseSpecial;
    }

    /// <summary>struct mtmd_helper_bitmap_wrapper, returned by value in rax:rdx.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct BitmapWrapper
    {
        public IntPtr Bitmap;
        public IntPtr Video;
    }

    /// <summary>Function pointers into libmtmd, resolved once, from the directory LLamaSharp loaded libllama from.</summary>
    internal static class Api
    {
        private static readonly IntPtr Lib = LoadLibrary();

        public static readonly delegate* unmanaged<ContextParams> ContextParamsDefault = (delegate* unmanaged<ContextParams>)Export("mtmd_context_params_default");
        public static readonly delegate* unmanaged<byte*, IntPtr, ContextParams, IntPtr> InitFromFile = (delegate* unmanaged<byte*, IntPtr, ContextParams, IntPtr>)Export("mtmd_init_from_file");
        public static readonly delegate* unmanaged<IntPtr, void> Free = (delegate* unmanaged<IntPtr, void>)Export("mtmd_free");
        public static readonly delegate* unmanaged<IntPtr> DefaultMarker = (delegate* unmanaged<IntPtr>)Export("mtmd_default_marker");
        public static readonly delegate* unmanaged<IntPtr, byte> SupportVision = (delegate* unmanaged<IntPtr, byte>)Export("mtmd_support_vision");
        public static readonly delegate* unmanaged<IntPtr, byte*, byte, BitmapWrapper> BitmapInitFromFile = (delegate* unmanaged<IntPtr, byte*, byte, BitmapWrapper>)Export("mtmd_helper_bitmap_init_from_file");
        public static readonly delegate* unmanaged<uint, uint, byte*, IntPtr> BitmapInit = (delegate* unmanaged<uint, uint, byte*, IntPtr>)Export("mtmd_bitmap_init");
        public static readonly delegate* unmanaged<IntPtr, uint> BitmapGetNx = (delegate* unmanaged<IntPtr, uint>)Export("mtmd_bitmap_get_nx");
        public static readonly delegate* unmanaged<IntPtr, uint> BitmapGetNy = (delegate* unmanaged<IntPtr, uint>)Export("mtmd_bitmap_get_ny");
        public static readonly delegate* unmanaged<IntPtr, byte*> BitmapGetData = (delegate* unmanaged<IntPtr, byte*>)Export("mtmd_bitmap_get_data");
        public static readonly delegate* unmanaged<IntPtr, void> BitmapFree = (delegate* unmanaged<IntPtr, void>)Export("mtmd_bitmap_free");
        public static readonly delegate* unmanaged<IntPtr, void> VideoFree = (delegate* unmanaged<IntPtr, void>)Export("mtmd_helper_video_free");
        public static readonly delegate* unmanaged<IntPtr> ChunksInit = (delegate* unmanaged<IntPtr>)Export("mtmd_input_chunks_init");
        public static readonly delegate* unmanaged<IntPtr, nuint> ChunksSize = (delegate* unmanaged<IntPtr, nuint>)Export("mtmd_input_chunks_size");
        public static readonly delegate* unmanaged<IntPtr, nuint, IntPtr> ChunksGet = (delegate* unmanaged<IntPtr, nuint, IntPtr>)Export("mtmd_input_chunks_get");
        public static readonly delegate* unmanaged<IntPtr, void> ChunksFree = (delegate* unmanaged<IntPtr, void>)Export("mtmd_input_chunks_free");
        public static readonly delegate* unmanaged<IntPtr, int> ChunkGetType = (delegate* unmanaged<IntPtr, int>)Export("mtmd_input_chunk_get_type");
        public static readonly delegate* unmanaged<IntPtr, nuint*, int*> ChunkGetTokensText = (delegate* unmanaged<IntPtr, nuint*, int*>)Export("mtmd_input_chunk_get_tokens_text");
        public static readonly delegate* unmanaged<IntPtr, nuint> ChunkGetNTokens = (delegate* unmanaged<IntPtr, nuint>)Export("mtmd_input_chunk_get_n_tokens");
        public static readonly delegate* unmanaged<IntPtr, IntPtr, InputText*, IntPtr*, nuint, int> Tokenize = (delegate* unmanaged<IntPtr, IntPtr, InputText*, IntPtr*, nuint, int>)Export("mtmd_tokenize");
        public static readonly delegate* unmanaged<IntPtr, IntPtr, int> EncodeChunk = (delegate* unmanaged<IntPtr, IntPtr, int>)Export("mtmd_encode_chunk");
        public static readonly delegate* unmanaged<IntPtr, float*> GetOutputEmbd = (delegate* unmanaged<IntPtr, float*>)Export("mtmd_get_output_embd");
        public static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, int, int, int, byte, int*, int> HelperEvalChunks = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, int, int, int, byte, int*, int>)Export("mtmd_helper_eval_chunks");
        public static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, int, int, int, byte, int*, int> HelperEvalChunkSingle = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, int, int, int, byte, int*, int>)Export("mtmd_helper_eval_chunk_single");
        // (mctx, lctx, chunk, embeddings, n_past, seq_id, n_batch, new_n_past, post-decode callback, its user data)
        public static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, float*, int, int, int, int*, IntPtr, IntPtr, int> HelperDecodeImageChunk = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, float*, int, int, int, int*, IntPtr, IntPtr, int>)Export("mtmd_helper_decode_image_chunk");
        private static readonly delegate* unmanaged<delegate* unmanaged<int, byte*, IntPtr, void>, IntPtr, void> HelperLogSet = (delegate* unmanaged<delegate* unmanaged<int, byte*, IntPtr, void>, IntPtr, void>)Export("mtmd_helper_log_set");

        static Api() => HelperLogSet(&Quiet, IntPtr.Zero); // sets libmtmd's and clip's loggers; otherwise every tensor is printed

        [UnmanagedCallersOnly]
        private static void Quiet(int level, byte* text, IntPtr user) { }

        private static IntPtr Export(string name) =>
            NativeLibrary.TryGetExport(Lib, name, out var f) ? f : throw new EntryPointNotFoundException($"libmtmd has no {name}: not the c0c7e147 build this binding was written for");

        /// <summary>
        /// libmtmd from the folder of the libllama LLamaSharp loaded (same CPU variant; its own libllama/libggml
        /// dependencies then resolve to the already loaded ones). LLamaSharp must have loaded a model first.
        /// </summary>
        private static IntPtr LoadLibrary()
        {
            var name = OperatingSystem.IsWindows() ? "mtmd.dll" : OperatingSystem.IsMacOS() ? "libmtmd.dylib" : "libmtmd.so";
            var tried = new List<string>();
            foreach (var dir in Candidates())
            {
                var path = Path.Combine(dir, name);
                tried.Add(path);
                if (File.Exists(path) && NativeLibrary.TryLoad(path, out var h)) return h;
            }
            throw new DllNotFoundException($"libmtmd ({name}) could not be loaded; tried: {string.Join(", ", tried)}. " +
                "It ships in LLamaSharp.Backend.Cpu 0.30.0 (runtimes/<rid>/native/<cpu variant>/); load a model through LLamaSharp first.");
        }

        private static IEnumerable<string> Candidates()
        {
            if (File.Exists("/proc/self/maps"))
                foreach (var line in File.ReadLines("/proc/self/maps"))
                {
                    int slash = line.IndexOf('/');
                    if (slash >= 0 && line.EndsWith("/libllama.so", StringComparison.Ordinal))
                    {
                        yield return Path.GetDirectoryName(line[slash..])!;
                        yield break;
                    }
                }
            var native = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native");
            foreach (var variant in new[] { "avx512", "avx2", "avx", "noavx", "" })
                yield return Path.Combine(native, variant);
        }
    }
}

/// <summary>An RGB image, 3 bytes per pixel, rows top to bottom.</summary>
public sealed record MtmdImage(int Width, int Height, byte[] Rgb);

/// <summary>The chunks <see cref="Mtmd.Tokenize(string, IReadOnlyList{MtmdImage})"/> made of a prompt: text token runs and images.</summary>
public sealed unsafe class MtmdChunks : IDisposable
{
    internal IntPtr Handle { get; private set; }

    internal MtmdChunks(IntPtr handle) => Handle = handle != IntPtr.Zero ? handle : throw new InvalidOperationException("mtmd_input_chunks_init failed");

    public int Count => (int)Mtmd.Api.ChunksSize(Handle);

    internal IntPtr Chunk(int i) => (uint)i < (uint)Count ? Mtmd.Api.ChunksGet(Handle, (nuint)i) : throw new ArgumentOutOfRangeException(nameof(i));

    /// <summary><see cref="Mtmd.ChunkText"/>, <see cref="Mtmd.ChunkImage"/> or <see cref="Mtmd.ChunkAudio"/>.</summary>
    public int Type(int i) => Mtmd.Api.ChunkGetType(Chunk(i));

    /// <summary>Positions the chunk takes: its text tokens, or the image's embeddings.</summary>
    public int Tokens(int i) => (int)Mtmd.Api.ChunkGetNTokens(Chunk(i));

    /// <summary>The token ids of a text chunk.</summary>
    public int[] TextTokens(int i)
    {
        nuint n;
        int* ids = Mtmd.Api.ChunkGetTokensText(Chunk(i), &n);
        return ids == null ? throw new ArgumentException($"chunk {i} is not text") : new ReadOnlySpan<int>(ids, (int)n).ToArray();
    }

    public void Dispose()
    {
        if (Handle == IntPtr.Zero) return;
        Mtmd.Api.ChunksFree(Handle);
        Handle = IntPtr.Zero;
    }
}
