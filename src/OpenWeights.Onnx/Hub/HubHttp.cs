using System.Net;
using System.Net.Http.Headers;

namespace OpenWeights.Onnx.Hub;

/// <summary>
/// Sends requests to the Hub and to the storage it redirects to. Redirects are followed here, not by the
/// handler, so that the token goes only to the endpoint's own origin: a pre-signed storage address must never
/// receive it. Every failure to connect names the address that could not be reached.
/// </summary>
public sealed class HubHttp : IDisposable
{
    private const int MaxRedirects = 10;
    private readonly HttpClient _client;

    public HubHttp(HubSettings settings, HttpMessageHandler? handler = null)
    {
        Settings = settings;
        handler ??= new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = settings.RequestTimeout,
            MaxConnectionsPerServer = Math.Max(2, settings.ParallelDownloads + 1),
        };
        // Downloads take as long as they take; stalls are caught per request and per read instead.
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("owonnx", "0.1"));
    }

    public HubSettings Settings { get; }

    /// <summary>
    /// Sends one request and follows redirects. With <paramref name="stopAtOtherOrigin"/>, a redirect to
    /// another origin is returned as is (a HEAD on a LFS file answers with a redirect to storage that carries
    /// the file's metadata in its headers).
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri uri, bool stopAtOtherOrigin,
        long rangeFrom = 0, CancellationToken cancellationToken = default)
    {
        if (Settings.Offline)
            throw new HubException($"HF_HUB_OFFLINE is set: owonnx sends no request (wanted {method} {uri}).");
        for (int redirects = 0; ; redirects++)
        {
            using var request = new HttpRequestMessage(method, uri);
            // The real size and the exact bytes: no compressed transfer encodings.
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (Settings.Token is { } token && SameOrigin(uri, Settings.Endpoint))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (rangeFrom > 0)
                request.Headers.Range = new RangeHeaderValue(rangeFrom, null);

            var response = await SendOnceAsync(request, cancellationToken);
            if ((int)response.StatusCode is < 300 or > 399 || response.Headers.Location is null)
                return response;
            var target = new Uri(uri, response.Headers.Location);
            if (stopAtOtherOrigin && !SameOrigin(target, uri))
                return response;
            response.Dispose();
            if (redirects == MaxRedirects)
                throw new HubException($"{uri}: more than {MaxRedirects} redirects.");
            uri = target;
        }
    }

    private async Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Settings.RequestTimeout);
        try
        {
            return await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (HttpRequestException e)
        {
            throw new HubException($"cannot reach {Origin(request.RequestUri!)}: {e.Message.TrimEnd('.')}. " +
                                   $"Check the network{(SameOrigin(request.RequestUri!, Settings.Endpoint) ? " or HF_ENDPOINT" : "")}; " +
                                   "with HF_HUB_OFFLINE=1 owonnx uses only models already in the cache.", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HubException($"{Origin(request.RequestUri!)} did not answer within {Settings.RequestTimeout.TotalSeconds:F0} s " +
                                   $"({request.Method} {request.RequestUri}).", e);
        }
    }

    public static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    public static string Origin(Uri uri) => uri.GetLeftPart(UriPartial.Authority);

    public void Dispose() => _client.Dispose();
}
