using System.Text.Json.Nodes;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>
/// Broken config.json and generation_config.json values, family by family: each is refused before anything is written,
/// with the file and the field named. Every row is one distinct hostile input.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class HostileConfigTests
{
    /// <summary>Merges <paramref name="merge"/> (a JSON object; a null value removes the field) into the fixture's config.json.</summary>
    [TestMethod]
    // Llama: sizes
    [DataRow("llama", """{"num_hidden_layers": 0}""", "num_hidden_layers")]
    [DataRow("llama", """{"num_hidden_layers": -3}""", "num_hidden_layers")]
    [DataRow("llama", """{"num_hidden_layers": "2"}""", "num_hidden_layers")]
    [DataRow("llama", """{"num_hidden_layers": 2.5}""", "num_hidden_layers")]
    [DataRow("llama", """{"num_hidden_layers": 1}""", "num_hidden_layers")]
    [DataRow("llama", """{"num_hidden_layers": 3}""", "num_hidden_layers")]
    [DataRow("llama", """{"num_hidden_layers": null}""", "num_hidden_layers")]
    [DataRow("llama", """{"hidden_size": 0}""", "hidden_size")]
    [DataRow("llama", """{"hidden_size": 1e40}""", "hidden_size")]
    [DataRow("llama", """{"num_attention_heads": 0}""", "num_attention_heads")]
    [DataRow("llama", """{"num_key_value_heads": 3}""", "num_key_value_heads")]
    [DataRow("llama", """{"num_key_value_heads": 0}""", "num_key_value_heads")]
    [DataRow("llama", """{"head_dim": 0}""", "head_dim")]
    [DataRow("llama", """{"head_dim": null, "hidden_size": 66}""", "num_attention_heads")]
    [DataRow("llama", """{"intermediate_size": 0}""", "intermediate_size")]
    [DataRow("llama", """{"vocab_size": 0}""", "vocab_size")]
    [DataRow("llama", """{"vocab_size": [512]}""", "vocab_size")]
    [DataRow("llama", """{"max_position_embeddings": 0}""", "max_position_embeddings")]
    [DataRow("llama", """{"max_position_embeddings": -1}""", "max_position_embeddings")]
    // Llama: numbers
    [DataRow("llama", """{"rope_theta": 0}""", "rope_theta")]
    [DataRow("llama", """{"rope_theta": -10000}""", "rope_theta")]
    [DataRow("llama", """{"rope_theta": "big"}""", "rope_theta")]
    [DataRow("llama", """{"rms_norm_eps": 0}""", "rms_norm_eps")]
    [DataRow("llama", """{"rms_norm_eps": -1e-5}""", "rms_norm_eps")]
    [DataRow("llama", """{"rms_norm_eps": "tiny"}""", "rms_norm_eps")]
    [DataRow("llama", """{"partial_rotary_factor": 1.5}""", "partial_rotary_factor")]
    [DataRow("llama", """{"partial_rotary_factor": 0}""", "partial_rotary_factor")]
    [DataRow("llama", """{"partial_rotary_factor": 0.01}""", "partial_rotary_factor")]
    [DataRow("llama", """{"tie_word_embeddings": "yes"}""", "tie_word_embeddings")]
    [DataRow("llama", """{"hidden_act": "gelu"}""", "hidden_act")]
    [DataRow("llama", """{"hidden_act": 7}""", "hidden_act")]
    [DataRow("llama", """{"architectures": "LlamaForCausalLM"}""", "architectures")]
    [DataRow("llama", """{"architectures": []}""", "architectures")]
    [DataRow("llama", """{"architectures": [42]}""", "architectures")]
    // Llama: rope_scaling
    [DataRow("llama", """{"rope_scaling": "linear"}""", "rope_scaling")]
    [DataRow("llama", """{"rope_scaling": [1, 2]}""", "rope_scaling")]
    [DataRow("llama", """{"rope_scaling": {}}""", "rope_scaling.rope_type")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": 5}}""", "rope_scaling.rope_type")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "linear"}}""", "rope_scaling.factor")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "linear", "factor": 0}}""", "rope_scaling.factor")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "linear", "factor": -2}}""", "rope_scaling.factor")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "linear", "factor": "2"}}""", "rope_scaling.factor")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 64}}""", "rope_scaling.high_freq_factor")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "llama3", "factor": 8, "high_freq_factor": 4, "original_max_position_embeddings": 64}}""", "rope_scaling.low_freq_factor")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 0}}""", "rope_scaling.original_max_position_embeddings")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "yarn", "factor": 4, "beta_fast": 0}}""", "rope_scaling.beta_fast")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "yarn", "factor": 4, "attention_factor": -1}}""", "rope_scaling.attention_factor")]
    [DataRow("llama", """{"rope_scaling": {"rope_type": "longrope", "factor": 4}}""", "rope_scaling")]
    // Mistral, Qwen2: windows
    [DataRow("mistral", """{"sliding_window": 0}""", "sliding_window")]
    [DataRow("mistral", """{"sliding_window": -4096}""", "sliding_window")]
    [DataRow("mistral", """{"sliding_window": "64"}""", "sliding_window")]
    [DataRow("mistral", """{"rms_norm_eps": null, "rope_theta": 0}""", "rope_theta")]
    [DataRow("qwen2", """{"use_sliding_window": true, "sliding_window": 0}""", "sliding_window")]
    [DataRow("qwen2", """{"use_sliding_window": "yes"}""", "use_sliding_window")]
    [DataRow("qwen2", """{"num_hidden_layers": 1}""", "model.layers.1.")]
    // Phi-3: LongRoPE and window
    [DataRow("phi3", """{"rope_scaling": {"type": "longrope", "short_factor": [1], "long_factor": [1]}}""", "rope_scaling.short_factor")]
    [DataRow("phi3", """{"rope_scaling": {"type": "longrope", "short_factor": [1,1,1,1,1,1,1,0], "long_factor": [1,1,1,1,1,1,1,1]}}""", "rope_scaling.short_factor")]
    [DataRow("phi3", """{"rope_scaling": {"type": "longrope", "short_factor": [1,1,1,1,1,1,1,1], "long_factor": "x"}}""", "rope_scaling.long_factor")]
    [DataRow("phi3", """{"rope_scaling": {"type": "longrope"}}""", "rope_scaling.short_factor")]
    [DataRow("phi3", """{"rope_scaling": {"type": "dynamic"}}""", "rope_scaling")]
    [DataRow("phi3", """{"sliding_window": 0}""", "sliding_window")]
    [DataRow("phi3", """{"original_max_position_embeddings": 0, "rope_scaling": {"type": "longrope", "short_factor": [1,1,1,1,1,1,1,1], "long_factor": [1,1,1,1,1,1,1,1]}}""", "original_max_position_embeddings")]
    [DataRow("phi3", """{"partial_rotary_factor": 2}""", "partial_rotary_factor")]
    // Gemma
    [DataRow("gemma", """{"hidden_activation": "relu"}""", "hidden_activation")]
    [DataRow("gemma", """{"rms_norm_eps": 0}""", "rms_norm_eps")]
    [DataRow("gemma", """{"head_dim": -16}""", "head_dim")]
    [DataRow("gemma", """{"rope_theta": -1}""", "rope_theta")]
    // GPT-2
    [DataRow("gpt2", """{"n_head": 3}""", "n_head")]
    [DataRow("gpt2", """{"n_head": 0}""", "n_head")]
    [DataRow("gpt2", """{"layer_norm_epsilon": -1}""", "layer_norm_epsilon")]
    [DataRow("gpt2", """{"activation_function": "relu"}""", "activation_function")]
    [DataRow("gpt2", """{"n_positions": 0}""", "n_positions")]
    [DataRow("gpt2", """{"n_layer": 0}""", "n_layer")]
    [DataRow("gpt2", """{"n_layer": 1}""", "n_layer")]
    [DataRow("gpt2", """{"n_inner": -5}""", "n_inner")]
    [DataRow("gpt2", """{"scale_attn_by_inverse_layer_idx": true}""", "scale_attn_by_inverse_layer_idx")]
    [DataRow("gpt2", """{"add_cross_attention": true}""", "add_cross_attention")]
    public void BrokenConfigFieldIsRefusedByName(string fixture, string merge, string field)
    {
        string dir = HostileInput.CopyFixture(fixture);
        string config = Path.Combine(dir, "config.json");
        var root = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        foreach (var (key, value) in JsonNode.Parse(merge)!.AsObject())
            root[key] = value?.DeepClone();
        File.WriteAllText(config, root.ToJsonString());
        // Missing and extra layers are named by tensor; everything else by the config file and field.
        HostileInput.Refused(dir, field, field.StartsWith("model.", StringComparison.Ordinal) ? dir : config);
    }

    [TestMethod]
    [DataRow("""{"eos_token_id": 512}""", "eos_token_id 512")]
    [DataRow("""{"eos_token_id": -1}""", "eos_token_id -1")]
    [DataRow("""{"eos_token_id": [2, 9999]}""", "eos_token_id 9999")]
    [DataRow("""{"bos_token_id": 600}""", "bos_token_id 600")]
    [DataRow("""{"pad_token_id": 512}""", "pad_token_id 512")]
    [DataRow("""{"eos_token_id": "two"}""", "eos_token_id")]
    [DataRow("""{"eos_token_id": [null]}""", "eos_token_id")]
    [DataRow("""{"eos_token_id": {"id": 2}}""", "eos_token_id")]
    [DataRow("""{"do_sample": "maybe"}""", "do_sample")]
    [DataRow("""{"temperature": "hot"}""", "temperature")]
    [DataRow("""{"temperature": -1}""", "temperature")]
    [DataRow("""{"top_k": 2.5}""", "top_k")]
    [DataRow("""{"top_k": -1}""", "top_k")]
    [DataRow("""{"top_p": 2}""", "top_p")]
    [DataRow("""{"top_p": 0}""", "top_p")]
    [DataRow("""{"repetition_penalty": 0}""", "repetition_penalty")]
    [DataRow("""{"max_length": -1}""", "max_length")]
    public void BrokenGenerationConfigIsRefusedByName(string merge, string fragment)
    {
        string dir = HostileInput.CopyFixture("llama");
        string file = Path.Combine(dir, "generation_config.json");
        var root = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        foreach (var (key, value) in JsonNode.Parse(merge)!.AsObject())
            root[key] = value?.DeepClone();
        File.WriteAllText(file, root.ToJsonString());
        HostileInput.Refused(dir, fragment, "generation_config.json");
    }

    [TestMethod]
    [DataRow("config.json", "{not json", "not valid JSON")]
    [DataRow("config.json", "[1, 2]", "must be a JSON object")]
    [DataRow("config.json", "", "not valid JSON")]
    [DataRow("generation_config.json", "{\"eos_token_id\": 2,", "not valid JSON")]
    [DataRow("generation_config.json", "[]", "must be a JSON object")]
    public void UnparsableConfigFileIsNamed(string name, string text, string fragment)
    {
        string dir = HostileInput.CopyFixture("llama");
        File.WriteAllText(Path.Combine(dir, name), text);
        HostileInput.Refused(dir, Path.Combine(dir, name), fragment);
    }

    [TestMethod]
    public void MissingConfigIsNamed()
    {
        string dir = HostileInput.CopyFixture("llama");
        File.Delete(Path.Combine(dir, "config.json"));
        HostileInput.Refused(dir, "config.json not found");
    }

    [TestMethod]
    public void NoEosAnywhereIsRefused()
    {
        string dir = HostileInput.CopyFixture("llama");
        File.Delete(Path.Combine(dir, "generation_config.json"));
        HostileInput.SetField(Path.Combine(dir, "config.json"), "eos_token_id", null);
        HostileInput.Refused(dir, "no eos_token_id");
    }

    [TestMethod]
    public void ConfigEosOutsideVocabularyIsRefusedWithoutGenerationConfig()
    {
        string dir = HostileInput.CopyFixture("llama");
        File.Delete(Path.Combine(dir, "generation_config.json"));
        HostileInput.SetField(Path.Combine(dir, "config.json"), "eos_token_id", "100000");
        HostileInput.Refused(dir, "eos_token_id 100000", "vocabulary");
    }
}
