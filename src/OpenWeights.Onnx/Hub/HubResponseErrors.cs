using System.Net;

namespace OpenWeights.Onnx.Hub;

/// <summary>
/// Turns the Hub's error answers into messages that say what to do. The Hub names the cause in
/// <c>X-Error-Code</c> (<c>GatedRepo</c>, <c>RepoNotFound</c>, <c>RevisionNotFound</c>, <c>EntryNotFound</c>)
/// and details it in <c>X-Error-Message</c>.
/// </summary>
public static class HubResponseErrors
{
    public static void ThrowIfFailed(HttpResponseMessage response, HubRepoId repo, HubSettings settings, string? file = null)
    {
        int status = (int)response.StatusCode;
        if (status is >= 200 and < 400)
            return;
        string? code = Header(response, "X-Error-Code");
        string? detail = Header(response, "X-Error-Message");
        string said = detail is null ? $"{status}" : $"{status}: {detail}";
        string page = $"{settings.Endpoint.AbsoluteUri.TrimEnd('/')}/{repo.Id}";
        string what = file is null ? repo.ToString() : $"{repo}: {file}";

        throw new HubException(status switch
        {
            401 or 403 when code == "GatedRepo" =>
                $"{what}: access denied ({said}). {repo.Id} is a gated model: accept its licence on {page} while logged in, " +
                $"then set HF_TOKEN to an access token of that account. {TokenSent(settings)}",
            401 =>
                $"{what}: the Hub answered {said}: the repository is private or gated, or does not exist. If it exists, " +
                $"open {page} while logged in (accept its licence if asked) and set HF_TOKEN to an access token. {TokenSent(settings)}",
            403 =>
                $"{what}: forbidden ({said}). The token from {settings.TokenSource} has no read access to {repo.Id}; " +
                $"check its permissions, or accept the model's licence on {page}.",
            404 when code == "RevisionNotFound" =>
                $"{repo.Id}: revision '{repo.Revision}' not found on {settings.Endpoint.Host} (404). Use a branch, tag or commit of the repository.",
            404 when code == "EntryNotFound" =>
                $"{what}: file not found at revision '{repo.Revision}' (404).",
            404 =>
                $"{repo.Id}: repository not found on {settings.Endpoint.Host} (404). Check the model id (org/name) on {settings.Endpoint.AbsoluteUri.TrimEnd('/')}.",
            429 =>
                $"{what}: the Hub is rate limiting requests (429{(detail is null ? "" : ": " + detail)}); try again later, or log in with HF_TOKEN for a higher limit.",
            _ =>
                $"{what}: {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {said} ({response.ReasonPhrase}).",
        });
    }

    private static string TokenSent(HubSettings settings) => settings.Token is null
        ? "No token was sent (HF_TOKEN is not set and there is no token file)."
        : $"The token from {settings.TokenSource} was sent.";

    internal static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
