using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>Reads a request body as JSON within the size limit: 413 when larger, 400 when it is not JSON.</summary>
internal static class RequestBody
{
    public static async Task<JsonDocument> ReadJsonAsync(HttpContext http, long maxBytes)
    {
        if (http.Request.ContentLength > maxBytes)
            throw OpenAiException.TooLarge(maxBytes);
        // Bodies without a length (chunked) are cut off by the server as they arrive.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = maxBytes;
        try
        {
            return await JsonDocument.ParseAsync(http.Request.Body, ServerJson.DocumentOptions, http.RequestAborted);
        }
        catch (JsonException e)
        {
            throw OpenAiException.BadRequest(
                $"We could not parse the JSON body of your request ({e.Message}). The body must be one JSON object.",
                null, "invalid_json");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw OpenAiException.TooLarge(maxBytes);
        }
        catch (BadHttpRequestException e)
        {
            throw OpenAiException.BadRequest($"The request body could not be read: {e.Message}", null, "invalid_body");
        }
    }
}
