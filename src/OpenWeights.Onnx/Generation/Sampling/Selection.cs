namespace OpenWeights.Onnx.Generation.Sampling;

/// <summary>
/// Partial selection, so top-k, top-p and top-N logprobs cost O(n) rather than a sort of the whole vocabulary:
/// over a whole vocabulary a bounded min-heap scan (top-k) or a mass histogram of the log-probabilities (top-p) narrows
/// the work to a few candidates, which quickselect with three-way partitioning finishes. Keys must not be NaN.
/// </summary>
internal static class Selection
{
    private const int SmallRange = 16;

    /// <summary>Above this k, top-k over a whole vocabulary is a quickselect rather than a heap scan.</summary>
    private const int HeapLimit = 4096;

    /// <summary>Buckets of the top-p histogram: 1/32 nat wide from 0 down, the last one takes everything lower.</summary>
    public const int BucketCount = 1024;
    private const float BucketsPerNat = 32f;

    /// <summary>
    /// <see cref="SelectTop"/> over every id 0..keys.Length-1: writes the chosen ids (the k largest keys and any tied
    /// with the k-th) to the start of <paramref name="indices"/> and returns how many. Small k takes one pass with a
    /// k-entry min-heap (mostly untaken, well-predicted branches) and a second pass collecting keys ≥ the k-th.
    /// </summary>
    public static int SelectTopOfAll(Span<int> indices, ReadOnlySpan<float> keys, int k)
    {
        int n = keys.Length;
        if (k >= n || k > HeapLimit)
        {
            FillIota(indices[..n]);
            return SelectTop(indices[..n], keys, k);
        }
        if (k <= 0)
            return 0;
        Span<int> heap = indices[..k];
        FillIota(heap);
        for (int i = k / 2 - 1; i >= 0; i--)
            SiftDownMin(heap, keys, i);
        float kth = keys[heap[0]];
        for (int i = k; i < n; i++)
        {
            if (keys[i] > kth)
            {
                heap[0] = i;
                SiftDownMin(heap, keys, 0);
                kth = keys[heap[0]];
            }
        }
        int count = 0;
        for (int i = 0; i < n; i++)
            if (keys[i] >= kth)
                indices[count++] = i;
        return count;
    }

    /// <summary>
    /// <see cref="SelectNucleus"/> over every id, for a <paramref name="fraction"/> of the total probability.
    /// <paramref name="logProbs"/> must be ≤ 0 (logits minus their maximum, over the temperature) and
    /// <paramref name="probs"/> their exponentials. One pass histograms the mass by log-probability; whole buckets
    /// above the crossing go in directly, and only the bucket where the mass reaches the target is selected within.
    /// </summary>
    public static int SelectNucleusOfAll(Span<int> indices, ReadOnlySpan<float> logProbs, ReadOnlySpan<float> probs,
        double fraction, Span<int> bucketCounts, Span<double> bucketMasses)
    {
        int n = logProbs.Length;
        bucketCounts = bucketCounts[..BucketCount];
        bucketMasses = bucketMasses[..BucketCount];
        bucketCounts.Clear();
        bucketMasses.Clear();
        for (int i = 0; i < n; i++)
        {
            int b = BucketOf(logProbs[i]);
            bucketCounts[b]++;
            bucketMasses[b] += probs[i];
        }
        double total = 0;
        foreach (double m in bucketMasses)
            total += m;
        double need = fraction * total;

        int crossing = 0, before = 0;
        double above = 0;
        while (crossing < BucketCount - 1 && above + bucketMasses[crossing] < need)
        {
            above += bucketMasses[crossing];
            before += bucketCounts[crossing];
            crossing++;
        }
        int a = 0, c = before;
        for (int i = 0; i < n; i++)
        {
            int b = BucketOf(logProbs[i]);
            if (b < crossing)
                indices[a++] = i;
            else if (b == crossing)
                indices[c++] = i;
        }
        if (c == before)
            return Math.Max(before, 1);
        return before + SelectNucleus(indices[before..c], probs, need - above);
    }

    private static int BucketOf(float logProb)
    {
        float scaled = -logProb * BucketsPerNat;
        if (scaled < BucketCount - 1)
            return scaled > 0f ? (int)scaled : 0;
        return BucketCount - 1;
    }

    private static void SiftDownMin(Span<int> heap, ReadOnlySpan<float> keys, int root)
    {
        int n = heap.Length;
        while (true)
        {
            int child = 2 * root + 1;
            if (child >= n)
                return;
            if (child + 1 < n && keys[heap[child + 1]] < keys[heap[child]])
                child++;
            if (keys[heap[root]] <= keys[heap[child]])
                return;
            (heap[root], heap[child]) = (heap[child], heap[root]);
            root = child;
        }
    }

    /// <summary>Writes 0..n-1 into <paramref name="indices"/>.</summary>
    public static void FillIota(Span<int> indices)
    {
        for (int i = 0; i < indices.Length; i++)
            indices[i] = i;
    }

    /// <summary>
    /// Rearranges <paramref name="indices"/> so that its first entries are those with the <paramref name="k"/> largest
    /// keys, and returns how many entries that is: k, or more when entries tie with the k-th largest key (all of those
    /// are kept, as transformers' top-k does). Returns <c>indices.Length</c> when k ≥ that length.
    /// </summary>
    public static int SelectTop(Span<int> indices, ReadOnlySpan<float> keys, int k)
    {
        int lo = 0, hi = indices.Length;
        if (k >= hi)
            return hi;
        if (k <= 0)
            return 0;
        // Invariant: lo < k < hi; [0, lo) all beat [lo, hi), which all beat [hi, n) strictly.
        while (hi - lo > SmallRange)
        {
            float pivot = PivotOf(indices, keys, lo, hi);
            Partition(indices, keys, lo, hi, pivot, out int greaterEnd, out int equalEnd);
            if (k < greaterEnd)
                hi = greaterEnd;
            else if (k <= equalEnd)
                return k == greaterEnd ? k : equalEnd;
            else
                lo = equalEnd;
        }
        SortDescending(indices[lo..hi], keys);
        float kth = keys[indices[k - 1]];
        int count = k;
        while (count < hi && keys[indices[count]] == kth)
            count++;
        return count;
    }

    /// <summary>
    /// Rearranges <paramref name="indices"/> so that its first entries are the fewest highest-probability entries whose
    /// summed probability reaches <paramref name="mass"/>, and returns how many that is (at least 1; all of them if
    /// rounding keeps the total short of <paramref name="mass"/>). Ties at the boundary are taken in any order.
    /// </summary>
    public static int SelectNucleus(Span<int> indices, ReadOnlySpan<float> probs, double mass)
    {
        int lo = 0, hi = indices.Length;
        if (hi == 0)
            return 0;
        double need = mass;
        if (!(need > 0))
            return SelectTop(indices, probs, 1) > 0 ? 1 : 0;
        // Invariant: [0, lo) is in the nucleus and its mass is (mass - need); the nucleus ends inside [lo, hi).
        while (hi - lo > SmallRange)
        {
            float pivot = PivotOf(indices, probs, lo, hi);
            Partition(indices, probs, lo, hi, pivot, out int greaterEnd, out int equalEnd);
            double greater = Sum(indices[lo..greaterEnd], probs);
            if (greater >= need)
            {
                hi = greaterEnd;
                continue;
            }
            need -= greater;
            double acc = 0;
            for (int j = greaterEnd; j < equalEnd; j++)
            {
                acc += pivot;
                if (acc >= need)
                    return j + 1;
            }
            need -= acc;
            lo = equalEnd;
        }
        SortDescending(indices[lo..hi], probs);
        double sum = 0;
        for (int j = lo; j < hi; j++)
        {
            sum += probs[indices[j]];
            if (sum >= need)
                return j + 1;
        }
        return Math.Max(hi, 1);
    }

    /// <summary>Sorts by key descending, then index ascending (insertion sort when short, heapsort otherwise).</summary>
    public static void SortDescending(Span<int> indices, ReadOnlySpan<float> keys)
    {
        if (indices.Length <= 32)
        {
            for (int i = 1; i < indices.Length; i++)
            {
                int t = indices[i];
                int j = i - 1;
                while (j >= 0 && Before(t, indices[j], keys))
                {
                    indices[j + 1] = indices[j];
                    j--;
                }
                indices[j + 1] = t;
            }
            return;
        }
        // Heapsort with a heap whose root is the entry that sorts last, moved to the end each round.
        int n = indices.Length;
        for (int i = n / 2 - 1; i >= 0; i--)
            SiftDown(indices, keys, i, n);
        for (int end = n - 1; end > 0; end--)
        {
            (indices[0], indices[end]) = (indices[end], indices[0]);
            SiftDown(indices, keys, 0, end);
        }
    }

    /// <summary>Sum in double of the keyed values of <paramref name="indices"/>.</summary>
    public static double Sum(ReadOnlySpan<int> indices, ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (int t in indices)
            sum += values[t];
        return sum;
    }

    private static bool Before(int a, int b, ReadOnlySpan<float> keys)
    {
        float ka = keys[a], kb = keys[b];
        return ka > kb || (ka == kb && a < b);
    }

    private static void SiftDown(Span<int> heap, ReadOnlySpan<float> keys, int root, int n)
    {
        while (true)
        {
            int child = 2 * root + 1;
            if (child >= n)
                return;
            // Max-heap on "sorts later": the root is the entry that belongs at the end.
            if (child + 1 < n && Before(heap[child], heap[child + 1], keys))
                child++;
            if (!Before(heap[root], heap[child], keys))
                return;
            (heap[root], heap[child]) = (heap[child], heap[root]);
            root = child;
        }
    }

    private static float PivotOf(ReadOnlySpan<int> indices, ReadOnlySpan<float> keys, int lo, int hi)
    {
        float a = keys[indices[lo]], b = keys[indices[lo + (hi - lo) / 2]], c = keys[indices[hi - 1]];
        if (a > b)
            (a, b) = (b, a);
        if (b > c)
            b = c;
        return a > b ? a : b;
    }

    /// <summary>Dijkstra three-way partition of [lo, hi): keys &gt; pivot, then == pivot, then &lt; pivot.</summary>
    private static void Partition(Span<int> indices, ReadOnlySpan<float> keys, int lo, int hi, float pivot,
        out int greaterEnd, out int equalEnd)
    {
        int lt = lo, i = lo, gt = hi;
        while (i < gt)
        {
            int t = indices[i];
            float key = keys[t];
            if (key > pivot)
            {
                indices[i++] = indices[lt];
                indices[lt++] = t;
            }
            else if (key < pivot)
            {
                indices[i] = indices[--gt];
                indices[gt] = t;
            }
            else
            {
                i++;
            }
        }
        greaterEnd = lt;
        equalEnd = gt;
    }
}
