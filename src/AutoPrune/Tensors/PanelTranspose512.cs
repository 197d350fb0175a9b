using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>Receives the columns of a 16-row transpose: lane r of <c>v</c> is dword <c>j</c> (0..7) of row r.</summary>
internal interface IDwordColumns
{
    void Put(Vector512<int> v, int j);
}

/// <summary>
/// The AVX-512 core of packing W panels for <see cref="Gemm"/>: 16 rows x 8 dwords (32 bytes each, rows
/// <c>stride</c> bytes apart) become 8 vectors with one lane per row, so a W value at one k lands in the lane of its
/// row as the packed layout wants. 8 row-pair inserts and 24 shuffles per 512 bytes, against 24 shuffles per 256
/// bytes for the AVX2 8x8 float transposes. Rows i and i+4 share a register (i+8 and i+12 the other one) so that the
/// last 128-bit shuffle leaves the lanes in row order.
/// </summary>
internal static unsafe class PanelTranspose512
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TSink>(byte* rows, nint stride, ref TSink sink) where TSink : struct, IDwordColumns
    {
        var z0 = Pair(rows, stride, 0, 4); var z1 = Pair(rows, stride, 1, 5); var z2 = Pair(rows, stride, 2, 6); var z3 = Pair(rows, stride, 3, 7);
        var z4 = Pair(rows, stride, 8, 12); var z5 = Pair(rows, stride, 9, 13); var z6 = Pair(rows, stride, 10, 14); var z7 = Pair(rows, stride, 11, 15);
        // Per 128-bit lane: a 4x4 dword transpose of rows (0,1,2,3) [lanes 0-1] and (4,5,6,7) [lanes 2-3].
        var t0 = Avx512F.UnpackLow(z0, z1).AsInt64(); var t1 = Avx512F.UnpackHigh(z0, z1).AsInt64();
        var t2 = Avx512F.UnpackLow(z2, z3).AsInt64(); var t3 = Avx512F.UnpackHigh(z2, z3).AsInt64();
        var t4 = Avx512F.UnpackLow(z4, z5).AsInt64(); var t5 = Avx512F.UnpackHigh(z4, z5).AsInt64();
        var t6 = Avx512F.UnpackLow(z6, z7).AsInt64(); var t7 = Avx512F.UnpackHigh(z6, z7).AsInt64();
        var u0 = Avx512F.UnpackLow(t0, t2).AsInt32(); var u1 = Avx512F.UnpackHigh(t0, t2).AsInt32();
        var u2 = Avx512F.UnpackLow(t1, t3).AsInt32(); var u3 = Avx512F.UnpackHigh(t1, t3).AsInt32();
        var u4 = Avx512F.UnpackLow(t4, t6).AsInt32(); var u5 = Avx512F.UnpackHigh(t4, t6).AsInt32();
        var u6 = Avx512F.UnpackLow(t5, t7).AsInt32(); var u7 = Avx512F.UnpackHigh(t5, t7).AsInt32();
        // u_j lanes: rows 0-3 dword j, rows 0-3 dword j+4, rows 4-7 dword j, rows 4-7 dword j+4 (u4.. rows 8-15).
        sink.Put(Avx512F.Shuffle4x128(u0, u4, 0x88), 0);
        sink.Put(Avx512F.Shuffle4x128(u1, u5, 0x88), 1);
        sink.Put(Avx512F.Shuffle4x128(u2, u6, 0x88), 2);
        sink.Put(Avx512F.Shuffle4x128(u3, u7, 0x88), 3);
        sink.Put(Avx512F.Shuffle4x128(u0, u4, 0xDD), 4);
        sink.Put(Avx512F.Shuffle4x128(u1, u5, 0xDD), 5);
        sink.Put(Avx512F.Shuffle4x128(u2, u6, 0xDD), 6);
        sink.Put(Avx512F.Shuffle4x128(u3, u7, 0xDD), 7);
    }

    /// <summary>Rows a and b (32 bytes each) in the low and high halves of one register.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Pair(byte* rows, nint stride, int a, int b) =>
        Avx512F.InsertVector256(Vector256.Load((int*)(rows + a * stride)).ToVector512Unsafe(), Vector256.Load((int*)(rows + b * stride)), 1);

    /// <summary>
    /// Packs 16 W rows (row 0 at <paramref name="w"/>, <paramref name="rowBytes"/> apart; all 16 must exist) x kc
    /// columns of a 16-bit or 32-bit float type into one packed panel (16 floats per k); kc a multiple of 16. Widening
    /// is exact, as in the AVX2 packer, so both give the same panel. <paramref name="next"/> (or null): the next panel's
    /// row 0, prefetched a line per row every other step, since rows kc values long and K apart defeat the hardware
    /// prefetcher.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackFloatPanel(DType t, byte* w, long rowBytes, int kc, float* panel, byte* next)
    {
        int size = t == DType.F32 ? 4 : 2, step = 32 / size;   // k values per 32-byte row piece
        nint stride = (nint)rowBytes;
        var b = new Bf16Columns { Panel = panel };
        var h = new F16Columns { Panel = panel };
        var f = new F32Columns { Panel = panel };
        for (int p = 0, s = 0; p < kc; p += step, s++)
        {
            byte* rows = w + (long)p * size;
            if (next != null && (s & 1) == 0)
                for (int r = 0; r < 16; r++) Sse.Prefetch0(next + r * stride + (long)p * size);
            switch (t)
            {
                case DType.BF16: Run(rows, stride, ref b); b.Panel += 16 * step; break;
                case DType.F16: Run(rows, stride, ref h); h.Panel += 16 * step; break;
                default: Run(rows, stride, ref f); f.Panel += 16 * step; break;
            }
        }
    }

    /// <summary>A dword is the BF16 pair (k, k+1): BF16 is the high half of an F32.</summary>
    private struct Bf16Columns : IDwordColumns
    {
        public float* Panel;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(Vector512<int> v, int j)
        {
            Avx512F.StoreAligned(Panel + 32 * j, Avx512F.ShiftLeftLogical(v, 16).AsSingle());
            Avx512F.StoreAligned(Panel + 32 * j + 16, (v & Vector512.Create(unchecked((int)0xFFFF0000))).AsSingle());
        }
    }

    private struct F16Columns : IDwordColumns
    {
        public float* Panel;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(Vector512<int> v, int j)
        {
            var u = v.AsUInt32();
            Avx512F.StoreAligned(Panel + 32 * j, Convert.F16BitsToF32(u));   // converts the low 16 bits
            Avx512F.StoreAligned(Panel + 32 * j + 16, Convert.F16BitsToF32(Avx512F.ShiftRightLogical(u, 16)));
        }
    }

    private struct F32Columns : IDwordColumns
    {
        public float* Panel;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(Vector512<int> v, int j) => Avx512F.StoreAligned(Panel + 16 * j, v.AsSingle());
    }
}
