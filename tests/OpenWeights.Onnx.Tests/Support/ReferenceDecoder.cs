namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// The forward pass of Phi-3 (with LongRoPE and partial rotary), Gemma 2 and Llama/Qwen2/Qwen3/Mixtral/Qwen2-MoE/Qwen3-MoE as
/// transformers computes it (modeling_phi3 / modeling_gemma2 / modeling_llama, _qwen2, _qwen3, _mixtral, _qwen2_moe, _qwen3_moe;
/// eager attention, float32, one sequence, no cache), in plain C# over the checkpoint's own tensor names. It shares no code with the converter,
/// so a test comparing the two checks the converter against transformers' semantics rather than against itself.
/// </summary>
public static class ReferenceDecoder
{
    /// <summary>
    /// Greedy decoding by full recomputation with a reference forward: the ids up to <paramref name="total"/> and,
    /// per step, the last position's logits (what each incremental step of a converted model must reproduce).
    /// </summary>
    public static (long[] Ids, List<float[]> Steps) Greedy(Func<long[], float[]> forward, long[] prompt, int total, int vocab)
    {
        var ids = prompt.ToList();
        var steps = new List<float[]>();
        while (true)
        {
            var logits = forward(ids.ToArray());
            steps.Add(logits.AsSpan(logits.Length - vocab).ToArray());
            if (ids.Count == total) break;
            ids.Add(Logits.ArgMax(steps[^1]));
        }
        return (ids.ToArray(), steps);
    }

    /// <summary>
    /// Runs <paramref name="session"/> on the prompt, then one cached step per reference token: every step's logits
    /// within <paramref name="tolerance"/> of <paramref name="steps"/> and every greedy id equal to
    /// <paramref name="ids"/> (from <see cref="Greedy"/>). Returns the worst difference.
    /// </summary>
    public static float AssertIncrementalDecode(OrtDecoderSession session, long[] prompt, long[] ids, List<float[]> steps,
        float tolerance, string label)
    {
        var logits = session.Forward(prompt);
        var step = logits.AsSpan(logits.Length - session.Vocab).ToArray();
        float worst = 0;
        for (int i = 0; i < steps.Count; i++)
        {
            float diff = Logits.MaxAbsDiff(step, steps[i]);
            worst = Math.Max(worst, diff);
            Assert.IsLessThanOrEqualTo(tolerance, diff, $"{label}: decode step {i} differs by {diff}");
            if (prompt.Length + i < ids.Length)
            {
                Assert.AreEqual(ids[prompt.Length + i], Logits.ArgMax(step), $"{label}: greedy id at step {i}");
                step = session.Forward([ids[prompt.Length + i]]);
            }
        }
        Console.WriteLine($"{label}: decode max |Δlogit| = {worst:E2} over {steps.Count} steps");
        return worst;
    }

    /// <summary>Logits [ids.Length, vocab] of Phi3ForCausalLM.</summary>
    public static float[] Phi3(TinyCheckpoint c, long[] ids)
    {
        var t = c.Tensors;
        int n = ids.Length, hidden = c.Int("hidden_size"), heads = c.Int("num_attention_heads");
        int kvHeads = c.Int("num_key_value_heads"), inter = c.Int("intermediate_size"), vocab = c.Int("vocab_size");
        int headDim = hidden / heads;
        float eps = (float)Num(c.Config["rms_norm_eps"])!.Value;
        int rotaryDim = (int)(headDim * (Num(c.Config["partial_rotary_factor"]) ?? 1.0));
        int? window = c.Config["sliding_window"]?.GetValue<int>();
        var (cos, sin) = Phi3Rotary(c, n, rotaryDim);

        var x = Embed(t["model.embed_tokens.weight"], ids, hidden, 1f);
        for (int l = 0; l < c.Int("num_hidden_layers"); l++)
        {
            string p = $"model.layers.{l}";
            var h = RmsNorm(x, t[$"{p}.input_layernorm.weight"], hidden, eps, plusOne: false);
            var qkv = Linear(h, t[$"{p}.self_attn.qkv_proj.weight"], hidden, (heads + 2 * kvHeads) * headDim);
            var (q, k, v) = SplitColumns(qkv, n, heads * headDim, kvHeads * headDim, kvHeads * headDim);
            Rope(q, n, heads, headDim, rotaryDim, cos, sin);
            Rope(k, n, kvHeads, headDim, rotaryDim, cos, sin);
            var a = Attend(q, k, v, n, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim), null, window);
            Add(x, Linear(a, t[$"{p}.self_attn.o_proj.weight"], heads * headDim, hidden));

            h = RmsNorm(x, t[$"{p}.post_attention_layernorm.weight"], hidden, eps, plusOne: false);
            var gateUp = Linear(h, t[$"{p}.mlp.gate_up_proj.weight"], hidden, 2 * inter);
            var (gate, up, _) = SplitColumns(gateUp, n, inter, inter, 0);
            for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
            Add(x, Linear(gate, t[$"{p}.mlp.down_proj.weight"], inter, hidden));
        }
        var final = RmsNorm(x, t["model.norm.weight"], hidden, eps, plusOne: false);
        var head = t.TryGetValue("lm_head.weight", out var lm) ? lm : t["model.embed_tokens.weight"];
        return Linear(final, head, hidden, vocab);
    }

    /// <summary>
    /// Phi3LongRoPEScaledRotaryEmbedding: one factor set for the whole forward, long when max(position) + 1 exceeds
    /// original_max_position_embeddings; inv_freq = 1 / (factor · θ^(2i/d)); cos and sin times
    /// √(1 + ln(max/original) / ln(original)). Without rope_scaling: plain RoPE.
    /// </summary>
    public static (float[] Cos, float[] Sin) Phi3Rotary(TinyCheckpoint c, int n, int rotaryDim)
    {
        float theta = (float)(Num(c.Config["rope_theta"]) ?? 10000.0);
        int half = rotaryDim / 2;
        var factors = Enumerable.Repeat(1f, half).ToArray();
        float scaling = 1f;
        if (c.Config["rope_scaling"] is { } scalingNode)
        {
            int original = c.Int("original_max_position_embeddings"), max = c.Int("max_position_embeddings");
            string set = n > original ? "long_factor" : "short_factor";
            factors = scalingNode[set]!.AsArray().Select(f => (float)Num(f)!.Value).ToArray();
            double scale = (double)max / original;
            scaling = scale <= 1 ? 1f : (float)Math.Sqrt(1 + Math.Log(scale) / Math.Log(original));
        }
        var inv = new float[half];
        for (int i = 0; i < half; i++)
            inv[i] = 1f / (factors[i] * MathF.Pow(theta, 2 * i / (float)rotaryDim));
        return Tables(inv, n, scaling);
    }

    /// <summary>
    /// Logits [ids.Length, vocab] of Gemma2ForCausalLM; of GemmaForCausalLM for a checkpoint without
    /// <c>pre_feedforward_layernorm</c> (Gemma's single post_attention_layernorm is the pre-MLP norm, no
    /// soft-capping, no window, scores scaled by head_dim^-½).
    /// </summary>
    public static float[] Gemma2(TinyCheckpoint c, long[] ids)
    {
        var t = c.Tensors;
        int n = ids.Length, hidden = c.Int("hidden_size"), heads = c.Int("num_attention_heads");
        int kvHeads = c.Int("num_key_value_heads"), inter = c.Int("intermediate_size"), vocab = c.Int("vocab_size");
        int headDim = c.Int("head_dim");
        float eps = (float)Num(c.Config["rms_norm_eps"])!.Value;
        bool gemma2 = t.ContainsKey("model.layers.0.pre_feedforward_layernorm.weight");
        float scaling = (float)Math.Pow(Num(c.Config["query_pre_attn_scalar"]) ?? headDim, -0.5);
        float? attnCap = (float?)Num(c.Config["attn_logit_softcapping"]);
        float? finalCap = (float?)Num(c.Config["final_logit_softcapping"]);
        int? window = gemma2 ? c.Config["sliding_window"]?.GetValue<int>() : null;

        float theta = (float)Num(c.Config["rope_theta"])!.Value;
        var inv = new float[headDim / 2];
        for (int i = 0; i < inv.Length; i++) inv[i] = 1f / MathF.Pow(theta, 2 * i / (float)headDim);
        var (cos, sin) = Tables(inv, n, 1f);

        // normalizer = torch.tensor(hidden_size ** 0.5, dtype=float32)
        var x = Embed(t["model.embed_tokens.weight"], ids, hidden, (float)Math.Sqrt(hidden));
        for (int l = 0; l < c.Int("num_hidden_layers"); l++)
        {
            string p = $"model.layers.{l}";
            bool sliding = l % 2 == 0; // Gemma2Attention: sliding_window if not bool(layer_idx % 2)
            var h = RmsNorm(x, t[$"{p}.input_layernorm.weight"], hidden, eps, plusOne: true);
            var q = Linear(h, t[$"{p}.self_attn.q_proj.weight"], hidden, heads * headDim);
            var k = Linear(h, t[$"{p}.self_attn.k_proj.weight"], hidden, kvHeads * headDim);
            var v = Linear(h, t[$"{p}.self_attn.v_proj.weight"], hidden, kvHeads * headDim);
            Rope(q, n, heads, headDim, headDim, cos, sin);
            Rope(k, n, kvHeads, headDim, headDim, cos, sin);
            var a = Attend(q, k, v, n, heads, kvHeads, headDim, scaling, attnCap, sliding ? window : null);
            var o = Linear(a, t[$"{p}.self_attn.o_proj.weight"], heads * headDim, hidden);
            if (!gemma2)
            {
                Add(x, o);
                h = RmsNorm(x, t[$"{p}.post_attention_layernorm.weight"], hidden, eps, plusOne: true);
            }
            else
            {
                Add(x, RmsNorm(o, t[$"{p}.post_attention_layernorm.weight"], hidden, eps, plusOne: true));
                h = RmsNorm(x, t[$"{p}.pre_feedforward_layernorm.weight"], hidden, eps, plusOne: true);
            }
            var gate = Linear(h, t[$"{p}.mlp.gate_proj.weight"], hidden, inter);
            var up = Linear(h, t[$"{p}.mlp.up_proj.weight"], hidden, inter);
            for (int i = 0; i < gate.Length; i++) gate[i] = GeluTanh(gate[i]) * up[i];
            var m = Linear(gate, t[$"{p}.mlp.down_proj.weight"], inter, hidden);
            Add(x, gemma2 ? RmsNorm(m, t[$"{p}.post_feedforward_layernorm.weight"], hidden, eps, plusOne: true) : m);
        }
        var final = RmsNorm(x, t["model.norm.weight"], hidden, eps, plusOne: true);
        var logits = Linear(final, t["model.embed_tokens.weight"], hidden, vocab);
        if (finalCap is { } cap)
            for (int i = 0; i < logits.Length; i++) logits[i] = MathF.Tanh(logits[i] / cap) * cap;
        return logits;
    }

    /// <summary>
    /// Logits [ids.Length, vocab] of LlamaForCausalLM, Qwen2ForCausalLM or Qwen3ForCausalLM (modeling_llama /
    /// modeling_qwen2 / modeling_qwen3, eager attention, float32, one sequence, no cache) with the rotary
    /// embedding given by the caller: <paramref name="invFreq"/> [rotary_dim/2] and the attention scaling that
    /// multiplies cos and sin (see <see cref="RopeReference"/>). q/k/v and o biases apply where the checkpoint
    /// has them (Qwen2: q/k/v). Qwen3: where <c>self_attn.q_norm</c>/<c>k_norm</c> exist, each head's query and
    /// key vector is RMS-normalised over head_dim (eps = rms_norm_eps) BEFORE rotary, as Qwen3Attention does;
    /// <paramref name="skipQNorm"/>/<paramref name="skipKNorm"/> leave one out (a mutation for tests).
    /// head_dim is the config's, else hidden_size / num_attention_heads; scores are scaled by head_dim^-½.
    /// </summary>
    public static float[] LlamaStyle(TinyCheckpoint c, long[] ids, float[] invFreq, float attentionScaling = 1f,
        bool skipQNorm = false, bool skipKNorm = false)
    {
        var t = c.Tensors;
        int n = ids.Length, hidden = c.Int("hidden_size"), heads = c.Int("num_attention_heads");
        int kvHeads = c.Config["num_key_value_heads"] is null ? heads : c.Int("num_key_value_heads");
        int inter = c.Int("intermediate_size"), vocab = c.Int("vocab_size");
        int headDim = c.Config["head_dim"] is null ? hidden / heads : c.Int("head_dim");
        int rotaryDim = 2 * invFreq.Length;
        float eps = (float)Num(c.Config["rms_norm_eps"])!.Value;
        var (cos, sin) = Tables(invFreq, n, attentionScaling);
        float[]? Bias(string name) => t.TryGetValue(name, out var b) ? b : null;

        var x = Embed(t["model.embed_tokens.weight"], ids, hidden, 1f);
        for (int l = 0; l < c.Int("num_hidden_layers"); l++)
        {
            string p = $"model.layers.{l}";
            var h = RmsNorm(x, t[$"{p}.input_layernorm.weight"], hidden, eps, plusOne: false);
            var q = Linear(h, t[$"{p}.self_attn.q_proj.weight"], hidden, heads * headDim, Bias($"{p}.self_attn.q_proj.bias"));
            var k = Linear(h, t[$"{p}.self_attn.k_proj.weight"], hidden, kvHeads * headDim, Bias($"{p}.self_attn.k_proj.bias"));
            var v = Linear(h, t[$"{p}.self_attn.v_proj.weight"], hidden, kvHeads * headDim, Bias($"{p}.self_attn.v_proj.bias"));
            // q_norm(q_proj(x).view(..., -1, head_dim)): RMSNorm over each head's head_dim values.
            if (t.TryGetValue($"{p}.self_attn.q_norm.weight", out var qNorm) && !skipQNorm)
                q = RmsNorm(q, qNorm, headDim, eps, plusOne: false);
            if (t.TryGetValue($"{p}.self_attn.k_norm.weight", out var kNorm) && !skipKNorm)
                k = RmsNorm(k, kNorm, headDim, eps, plusOne: false);
            Rope(q, n, heads, headDim, rotaryDim, cos, sin);
            Rope(k, n, kvHeads, headDim, rotaryDim, cos, sin);
            var a = Attend(q, k, v, n, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim), null, null);
            Add(x, Linear(a, t[$"{p}.self_attn.o_proj.weight"], heads * headDim, hidden, Bias($"{p}.self_attn.o_proj.bias")));

            h = RmsNorm(x, t[$"{p}.post_attention_layernorm.weight"], hidden, eps, plusOne: false);
            if (t.ContainsKey($"{p}.block_sparse_moe.gate.weight"))
                Add(x, MixtralMoe(c, h, $"{p}.block_sparse_moe", hidden));
            else if (t.ContainsKey($"{p}.mlp.gate.weight"))
                Add(x, Qwen2Moe(c, h, $"{p}.mlp", hidden));
            else
                Add(x, SwiGlu(t, h, $"{p}.mlp", "gate_proj", "up_proj", "down_proj", hidden, inter));
        }
        var final = RmsNorm(x, t["model.norm.weight"], hidden, eps, plusOne: false);
        var head = t.TryGetValue("lm_head.weight", out var lm) ? lm : t["model.embed_tokens.weight"];
        return Linear(final, head, hidden, vocab);
    }

    /// <summary>down(silu(gate·x) ⊙ up·x) with the three projections under <paramref name="prefix"/>.</summary>
    private static float[] SwiGlu(Dictionary<string, float[]> t, float[] h, string prefix, string gateName, string upName,
        string downName, int hidden, int inter)
    {
        var gate = Linear(h, t[$"{prefix}.{gateName}.weight"], hidden, inter);
        var up = Linear(h, t[$"{prefix}.{upName}.weight"], hidden, inter);
        for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
        return Linear(gate, t[$"{prefix}.{downName}.weight"], inter, hidden);
    }

    /// <summary>MixtralSparseMoeBlock: softmax over the router's logits, top-k renormalised, Σ w·expert(x) with w1/w3/w2.</summary>
    private static float[] MixtralMoe(TinyCheckpoint c, float[] h, string prefix, int hidden) =>
        RoutedExperts(c.Tensors, h, prefix, hidden, c.Int("num_local_experts"), c.Int("num_experts_per_tok"), normalize: true,
            c.Int("intermediate_size"), "w1", "w3", "w2");

    /// <summary>
    /// Qwen2MoeSparseMoeBlock / Qwen3MoeSparseMoeBlock: softmax top-k (renormalised only with norm_topk_prob) over
    /// mlp.experts.{e}, plus, where the checkpoint has one (Qwen2-MoE), sigmoid(shared_expert_gate·x) · shared_expert(x).
    /// </summary>
    public static float[] Qwen2Moe(TinyCheckpoint c, float[] h, string prefix, int hidden)
    {
        var t = c.Tensors;
        var y = RoutedExperts(t, h, prefix, hidden, c.Int("num_experts"), c.Int("num_experts_per_tok"),
            c.Config["norm_topk_prob"]!.GetValue<bool>(), c.Int("moe_intermediate_size"), "gate_proj", "up_proj", "down_proj");
        if (!t.ContainsKey($"{prefix}.shared_expert_gate.weight"))
            return y;
        var shared = SwiGlu(t, h, $"{prefix}.shared_expert", "gate_proj", "up_proj", "down_proj", hidden, c.Int("shared_expert_intermediate_size"));
        var gate = Linear(h, t[$"{prefix}.shared_expert_gate.weight"], hidden, 1);
        for (int s = 0; s < gate.Length; s++)
        {
            float scale = 1f / (1f + MathF.Exp(-gate[s]));
            for (int j = 0; j < hidden; j++) y[s * hidden + j] += scale * shared[s * hidden + j];
        }
        return y;
    }

    /// <summary>Per token: p = softmax(router·x) in float32, the k largest (renormalised to sum 1 when asked), Σ pₑ·expertₑ(x).</summary>
    private static float[] RoutedExperts(Dictionary<string, float[]> t, float[] h, string prefix, int hidden, int experts, int k,
        bool normalize, int inter, string gateName, string upName, string downName)
    {
        int n = h.Length / hidden;
        var logits = Linear(h, t[$"{prefix}.gate.weight"], hidden, experts);
        var y = new float[h.Length];
        for (int s = 0; s < n; s++)
        {
            var row = logits.AsSpan(s * experts, experts).ToArray();
            float max = row.Max();
            var p = row.Select(v => MathF.Exp(v - max)).ToArray();
            float sum = p.Sum();
            for (int e = 0; e < experts; e++) p[e] /= sum;
            var top = Enumerable.Range(0, experts).OrderByDescending(e => p[e]).ThenBy(e => e).Take(k).ToArray();
            float topSum = top.Sum(e => p[e]);
            var token = h.AsSpan(s * hidden, hidden).ToArray();
            foreach (int e in top)
            {
                float weight = normalize ? p[e] / topSum : p[e];
                var output = SwiGlu(t, token, $"{prefix}.experts.{e}", gateName, upName, downName, hidden, inter);
                for (int j = 0; j < hidden; j++) y[s * hidden + j] += weight * output[j];
            }
        }
        return y;
    }

    /// <summary>A JSON number as double, whether parsed (1e-5) or built in memory (an int 24).</summary>
    private static double? Num(System.Text.Json.Nodes.JsonNode? node) =>
        node is null ? null : double.Parse(node.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);

    private static float[] Embed(float[] table, long[] ids, int hidden, float multiplier)
    {
        var x = new float[ids.Length * hidden];
        for (int s = 0; s < ids.Length; s++)
            for (int j = 0; j < hidden; j++)
                x[s * hidden + j] = table[ids[s] * hidden + j] * multiplier;
        return x;
    }

    /// <summary>y = x·Wᵀ with W [out, in] as nn.Linear stores it.</summary>
    private static float[] Linear(float[] x, float[] w, int inFeatures, int outFeatures, float[]? bias = null)
    {
        int n = x.Length / inFeatures;
        var y = new float[n * outFeatures];
        for (int s = 0; s < n; s++)
            for (int o = 0; o < outFeatures; o++)
            {
                double sum = bias?[o] ?? 0;
                for (int i = 0; i < inFeatures; i++) sum += (double)x[s * inFeatures + i] * w[o * inFeatures + i];
                y[s * outFeatures + o] = (float)sum;
            }
        return y;
    }

    /// <summary>x̂·w, or x̂·(1 + w) for Gemma, with x̂ = x / √(mean(x²) + ε), in float32.</summary>
    private static float[] RmsNorm(float[] x, float[] w, int width, float eps, bool plusOne)
    {
        var y = new float[x.Length];
        for (int s = 0; s < x.Length / width; s++)
        {
            double sum = 0;
            for (int j = 0; j < width; j++) sum += (double)x[s * width + j] * x[s * width + j];
            float r = 1f / MathF.Sqrt((float)(sum / width) + eps);
            for (int j = 0; j < width; j++) y[s * width + j] = x[s * width + j] * r * (plusOne ? 1f + w[j] : w[j]);
        }
        return y;
    }

    private static (float[], float[], float[]) SplitColumns(float[] x, int n, int a, int b, int c)
    {
        int width = a + b + c;
        float[] A = new float[n * a], B = new float[n * b], C = new float[n * c];
        for (int s = 0; s < n; s++)
        {
            Array.Copy(x, s * width, A, s * a, a);
            Array.Copy(x, s * width + a, B, s * b, b);
            Array.Copy(x, s * width + a + b, C, s * c, c);
        }
        return (A, B, C);
    }

    /// <summary>cos/sin [n, d/2] of position·inv_freq (float32 product), times the attention scaling.</summary>
    private static (float[], float[]) Tables(float[] inv, int n, float scaling)
    {
        int half = inv.Length;
        var cos = new float[n * half];
        var sin = new float[n * half];
        for (int p = 0; p < n; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * inv[i];
                cos[p * half + i] = MathF.Cos(angle) * scaling;
                sin[p * half + i] = MathF.Sin(angle) * scaling;
            }
        return (cos, sin);
    }

    /// <summary>x·cos + rotate_half(x)·sin on the first <paramref name="rotaryDim"/> dims of every head (the rest pass through).</summary>
    private static void Rope(float[] x, int n, int heads, int headDim, int rotaryDim, float[] cos, float[] sin)
    {
        int half = rotaryDim / 2;
        for (int s = 0; s < n; s++)
            for (int h = 0; h < heads; h++)
            {
                int b = (s * heads + h) * headDim;
                for (int i = 0; i < half; i++)
                {
                    float x1 = x[b + i], x2 = x[b + i + half];
                    float c = cos[s * half + i], si = sin[s * half + i];
                    x[b + i] = x1 * c - x2 * si;
                    x[b + i + half] = x2 * c + x1 * si;
                }
            }
    }

    /// <summary>
    /// Causal attention; query i sees key j when j ≤ i and, with a window, i − j &lt; window (transformers'
    /// sliding mask); optional soft-capping c·tanh(s/c) of the scaled scores before the softmax.
    /// </summary>
    private static float[] Attend(float[] q, float[] k, float[] v, int n, int heads, int kvHeads, int headDim,
        float scale, float? softcap, int? window)
    {
        var output = new float[n * heads * headDim];
        var scores = new double[n];
        for (int h = 0; h < heads; h++)
        {
            int kv = h / (heads / kvHeads);
            for (int i = 0; i < n; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j < n; j++)
                {
                    bool visible = j <= i && (window is null || i - j < window);
                    if (!visible) { scores[j] = double.NegativeInfinity; continue; }
                    double dot = 0;
                    for (int d = 0; d < headDim; d++)
                        dot += (double)q[(i * heads + h) * headDim + d] * k[(j * kvHeads + kv) * headDim + d];
                    double s = dot * scale;
                    if (softcap is { } cap) s = Math.Tanh(s / cap) * cap;
                    scores[j] = s;
                    max = Math.Max(max, s);
                }
                double total = 0;
                for (int j = 0; j < n; j++) { scores[j] = Math.Exp(scores[j] - max); total += scores[j]; }
                for (int d = 0; d < headDim; d++)
                {
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += scores[j] / total * v[(j * kvHeads + kv) * headDim + d];
                    output[(i * heads + h) * headDim + d] = (float)sum;
                }
            }
        }
        return output;
    }

    private static void Add(float[] x, float[] y)
    {
        for (int i = 0; i < x.Length; i++) x[i] += y[i];
    }

    /// <summary>gelu_pytorch_tanh: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
    private static float GeluTanh(float x) =>
        0.5f * x * (1f + MathF.Tanh(MathF.Sqrt(2f / MathF.PI) * (x + 0.044715f * x * x * x)));
}
