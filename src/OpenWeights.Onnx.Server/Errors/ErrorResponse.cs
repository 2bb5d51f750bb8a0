using System.Text.Json.Serialization;

namespace OpenWeights.Onnx.Server.Errors;

/// <summary>OpenAI's error body: <c>{"error": {...}}</c>; <c>param</c> and <c>code</c> are written even when null.</summary>
public sealed record ErrorResponse(ErrorDetail Error)
{
    public static ErrorResponse From(OpenAiException e) => new(new ErrorDetail(e.Message, e.Type, e.Param, e.Code));
}

public sealed record ErrorDetail(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);
