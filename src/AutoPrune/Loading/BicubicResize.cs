namespace AutoPrune.Loading;

/// <summary>Resampling filters with Pillow's numbering (PIL.Image.Resampling).</summary>
public enum ResampleFilter
{
    Bilinear = 2,
    Bicubic = 3,
}

/// <summary>
/// Pillow-compatible resize of 8-bit RGB images (Image.resize(size, BICUBIC|BILINEAR), reducing_gap=None), bit-exact
/// with Pillow's ImagingResample: per output pixel the filter weights are computed in double, normalised to sum 1,
/// converted to fixed point with 22 fractional bits, and applied as a horizontal pass followed by a vertical pass,
/// each rounding and clamping to uint8. When downscaling the filter support is widened by the scale factor
/// (antialiasing). A pass whose size does not change is skipped, so an identity resize is a byte-exact copy.
/// </summary>
public static class BicubicResize
{
    // Pillow: PRECISION_BITS = 32 - 8 - 2, leaving room for 8-bit samples times weights plus the sign and overflow headroom.
    private const int PrecisionBits = 22;

    public static RgbImage Resize(RgbImage src, int width, int height, ResampleFilter filter = ResampleFilter.Bicubic)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"target size {width}x{height} must be positive");
        if (filter is not (ResampleFilter.Bicubic or ResampleFilter.Bilinear))
            throw new ArgumentOutOfRangeException(nameof(filter), $"resample filter {(int)filter} is not supported (2 = bilinear, 3 = bicubic)");

        if (width == src.Width && height == src.Height) return new RgbImage(width, height, (byte[])src.Rgb.Clone());

        var cur = src;
        if (width != src.Width)
        {
            var (bounds, kk, ksize) = Coefficients(src.Width, width, filter);
            var dst = new byte[checked(width * src.Height * 3)];
            Horizontal(src.Rgb, src.Width, src.Height, dst, width, bounds, kk, ksize);
            cur = new RgbImage(width, src.Height, dst);
        }
        if (height != cur.Height)
        {
            var (bounds, kk, ksize) = Coefficients(cur.Height, height, filter);
            var dst = new byte[checked(cur.Width * height * 3)];
            Vertical(cur.Rgb, cur.Width, dst, height, bounds, kk, ksize);
            cur = new RgbImage(cur.Width, height, dst);
        }
        return cur;
    }

    private static double BicubicKernel(double x)
    {
        const double a = -0.5; // Pillow's bicubic; Keys' a = -0.5 (not OpenCV's -0.75)
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static double BilinearKernel(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /// <summary>
    /// Pillow's precompute_coeffs + normalize_coeffs_8bpc for a full-image box [0, inSize).
    /// bounds[2i] = first input index, bounds[2i+1] = tap count; kk[i*ksize + t] = fixed-point weight.
    /// </summary>
    internal static (int[] Bounds, int[] Kk, int Ksize) Coefficients(int inSize, int outSize, ResampleFilter filter)
    {
        double support0 = filter == ResampleFilter.Bicubic ? 2.0 : 1.0;
        Func<double, double> f = filter == ResampleFilter.Bicubic ? BicubicKernel : BilinearKernel;

        double scale = (double)inSize / outSize;
        double filterscale = scale < 1.0 ? 1.0 : scale;
        double support = support0 * filterscale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;

        var bounds = new int[outSize * 2];
        var kk = new int[checked(outSize * ksize)];
        var w = new double[ksize];
        double ss = 1.0 / filterscale;
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            // (int) truncates toward zero exactly like the C cast; negatives are clamped right after.
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;

            double ww = 0.0;
            for (int x = 0; x < xmax; x++)
            {
                double v = f((x + xmin - center + 0.5) * ss);
                w[x] = v;
                ww += v;
            }
            for (int x = 0; x < xmax; x++)
            {
                double v = ww != 0.0 ? w[x] / ww : w[x];
                kk[xx * ksize + x] = v < 0
                    ? (int)(-0.5 + v * (1 << PrecisionBits))
                    : (int)(0.5 + v * (1 << PrecisionBits));
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return (bounds, kk, ksize);
    }

    // Pillow's clip8: arithmetic shift (floor) then clamp to [0, 255].
    private static byte Clip8(int v)
    {
        int s = v >> PrecisionBits;
        return s < 0 ? (byte)0 : s > 255 ? (byte)255 : (byte)s;
    }

    private static void Horizontal(byte[] src, int inW, int h, byte[] dst, int outW, int[] bounds, int[] kk, int ksize)
    {
        const int half = 1 << (PrecisionBits - 1); // rounding offset
        for (int y = 0; y < h; y++)
        {
            int srcRow = y * inW * 3, dstRow = y * outW * 3;
            for (int xx = 0; xx < outW; xx++)
            {
                int xmin = bounds[xx * 2], n = bounds[xx * 2 + 1], k0 = xx * ksize;
                int s0 = half, s1 = half, s2 = half;
                int p = srcRow + xmin * 3;
                for (int t = 0; t < n; t++, p += 3)
                {
                    int k = kk[k0 + t];
                    s0 += src[p] * k;
                    s1 += src[p + 1] * k;
                    s2 += src[p + 2] * k;
                }
                int o = dstRow + xx * 3;
                dst[o] = Clip8(s0);
                dst[o + 1] = Clip8(s1);
                dst[o + 2] = Clip8(s2);
            }
        }
    }

    private static void Vertical(byte[] src, int w, byte[] dst, int outH, int[] bounds, int[] kk, int ksize)
    {
        const int half = 1 << (PrecisionBits - 1);
        int stride = w * 3;
        for (int yy = 0; yy < outH; yy++)
        {
            int ymin = bounds[yy * 2], n = bounds[yy * 2 + 1], k0 = yy * ksize;
            int dstRow = yy * stride;
            for (int xx = 0; xx < w; xx++)
            {
                int s0 = half, s1 = half, s2 = half;
                int p = ymin * stride + xx * 3;
                for (int t = 0; t < n; t++, p += stride)
                {
                    int k = kk[k0 + t];
                    s0 += src[p] * k;
                    s1 += src[p + 1] * k;
                    s2 += src[p + 2] * k;
                }
                int o = dstRow + xx * 3;
                dst[o] = Clip8(s0);
                dst[o + 1] = Clip8(s1);
                dst[o + 2] = Clip8(s2);
            }
        }
    }
}
