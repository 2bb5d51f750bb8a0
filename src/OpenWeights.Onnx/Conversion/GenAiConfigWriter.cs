using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Conversion;

/// <summary>
/// Writes <c>genai_config.json</c>, which onnxruntime-genai parses strictly (an unknown key is an error),
/// so only fields it reads for a decoder appear. Our own runtime reads the same file.
/// </summary>
public static class GenAiConfigWriter
{
    public const string FileName = "genai_config.json";

    public static JsonObject Build(ModelDescription m, GenerationConfig generation, ExecutionTarget target, string modelFile)
    {
        var providers = new JsonArray();
        // onnxruntime-genai 0.18 knows "cuda" and "NvTensorRtRtx" (TensorRT for RTX, a separate plugin EP that
        // is not ONNX Runtime's classic TensorRT EP) and has no entry for the classic one: a name it does not know
        // goes to ORT's generic AppendExecutionProvider, which refuses "TensorRT". So a TensorRT-form folder
        // names CUDA for genai (every node of that form has a CUDA kernel); owonnx itself runs it on TensorRT + CUDA.
        if (target is ExecutionTarget.Cuda or ExecutionTarget.TensorRt)
            providers.Add(new JsonObject { ["cuda"] = new JsonObject() });

        int eos = m.EosTokenIds.FirstOrDefault();
        JsonNode EosNode() => m.EosTokenIds.Length == 1
            ? JsonValue.Create(eos)
            : new JsonArray(m.EosTokenIds.Select(id => (JsonNode)JsonValue.Create(id)).ToArray());

        return new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["bos_token_id"] = m.BosTokenIds.FirstOrDefault(),
                ["context_length"] = m.ContextLength,
                ["decoder"] = new JsonObject
                {
                    ["session_options"] = new JsonObject
                    {
                        ["log_id"] = "onnxruntime-genai",
                        ["provider_options"] = providers,
                    },
                    ["filename"] = modelFile,
                    ["head_size"] = m.HeadDim,
                    ["hidden_size"] = m.HiddenSize,
                    ["inputs"] = new JsonObject
                    {
                        ["input_ids"] = DecoderIo.InputIds,
                        ["attention_mask"] = DecoderIo.AttentionMask,
                        ["past_key_names"] = DecoderIo.PastKeyFormat,
                        ["past_value_names"] = DecoderIo.PastValueFormat,
                    },
                    ["outputs"] = new JsonObject
                    {
                        ["logits"] = DecoderIo.Logits,
                        ["present_key_names"] = DecoderIo.PresentKeyFormat,
                        ["present_value_names"] = DecoderIo.PresentValueFormat,
                    },
                    ["num_attention_heads"] = m.NumHeads,
                    ["num_hidden_layers"] = m.NumLayers,
                    ["num_key_value_heads"] = m.NumKvHeads,
                },
                ["eos_token_id"] = EosNode(),
                ["pad_token_id"] = m.PadTokenId ?? eos,
                ["type"] = m.GenAiType,
                ["vocab_size"] = m.VocabSize,
            },
            ["search"] = new JsonObject
            {
                ["diversity_penalty"] = 0.0,
                ["do_sample"] = generation.DoSample,
                ["early_stopping"] = true,
                ["length_penalty"] = 1.0,
                ["max_length"] = Math.Min(m.ContextLength, generation.MaxLength ?? m.ContextLength),
                ["min_length"] = 0,
                ["no_repeat_ngram_size"] = 0,
                ["num_beams"] = 1,
                ["num_return_sequences"] = 1,
                ["past_present_share_buffer"] = true,
                ["repetition_penalty"] = generation.RepetitionPenalty,
                ["temperature"] = generation.Temperature,
                ["top_k"] = generation.DoSample ? generation.TopK : 1,
                ["top_p"] = generation.TopP,
            },
        };
    }

    public static void Write(string path, JsonObject config) =>
        File.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
}
