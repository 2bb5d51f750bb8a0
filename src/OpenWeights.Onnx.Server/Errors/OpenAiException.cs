namespace OpenWeights.Onnx.Server.Errors;

/// <summary>
/// A request the server answers with OpenAI's error object, <c>{"error": {"message", "type", "param", "code"}}</c>, and
/// an HTTP status. Thrown anywhere in request handling; <see cref="ErrorMiddleware"/> writes it.
/// </summary>
public sealed class OpenAiException(int statusCode, string message, string type, string? param = null, string? code = null)
    : Exception(message)
{
    public int StatusCode { get; } = statusCode;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Seconds for a <c>Retry-After</c> header (429, 503), or null.</summary>
    public int? RetryAfterSeconds { get; init; }

    public const string InvalidRequest = "invalid_request_error";
    public const string ServerError = "server_error";

    public static OpenAiException BadRequest(string message, string? param = null, string? code = null) =>
        new(400, message, InvalidRequest, param, code);

    public static OpenAiException InvalidType(string param, string expected, string got) =>
        BadRequest($"Invalid type for '{param}': expected {expected}, but got {got} instead.", param, "invalid_type");

    public static OpenAiException InvalidValue(string param, string message) =>
        BadRequest($"Invalid '{param}': {message}", param, "invalid_value");

    public static OpenAiException Unsupported(string param, string message) =>
        BadRequest(message, param, "unsupported_parameter");

    public static OpenAiException ModelNotFound(string model) =>
        new(404, $"The model '{model}' does not exist or you do not have access to it.", InvalidRequest, "model", "model_not_found");

    public static OpenAiException InvalidUrl(string method, string path) =>
        new(404, $"Invalid URL ({method} {path})", InvalidRequest, null, "unknown_url");

    public static OpenAiException MethodNotAllowed(string method, string path) =>
        new(405, $"Method {method} is not allowed for {path}.", InvalidRequest, null, "method_not_allowed");

    public static OpenAiException MissingApiKey() =>
        new(401, "You didn't provide an API key. Provide it in the Authorization header as 'Bearer YOUR_KEY'.",
            InvalidRequest, null, "invalid_api_key");

    public static OpenAiException WrongApiKey() =>
        new(401, "Incorrect API key provided.", InvalidRequest, null, "invalid_api_key");

    public static OpenAiException TooLarge(long limit) =>
        new(413, $"The request body is larger than this server accepts ({limit} bytes).", InvalidRequest, null, "request_too_large");

    public static OpenAiException QueueFull(int retryAfterSeconds) =>
        new(429, "The server is at capacity (every batch slot is busy and the queue is full); retry later.",
            "requests", null, "rate_limit_exceeded") { RetryAfterSeconds = retryAfterSeconds };

    public static OpenAiException Unavailable(string message, int? retryAfterSeconds = null) =>
        new(503, message, ServerError, null, "service_unavailable") { RetryAfterSeconds = retryAfterSeconds };

    public static OpenAiException Internal() =>
        new(500, "The server had an error while processing your request.", ServerError, null, null);
}
