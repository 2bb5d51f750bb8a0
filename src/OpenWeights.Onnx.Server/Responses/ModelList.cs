namespace OpenWeights.Onnx.Server.Responses;

/// <summary>GET /v1/models: <c>{"object": "list", "data": [model…]}</c>.</summary>
public sealed record ModelList(IReadOnlyList<ModelCard> Data)
{
    public string Object => "list";
}

/// <summary>One model (<c>object</c>: "model"); <c>max_model_len</c> is the cache length per sequence, as vLLM reports it.</summary>
public sealed record ModelCard(string Id, long Created, string OwnedBy, int MaxModelLen)
{
    public string Object => "model";
}
