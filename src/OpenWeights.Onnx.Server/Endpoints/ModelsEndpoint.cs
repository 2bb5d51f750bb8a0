using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenWeights.Onnx.Server.Errors;
using OpenWeights.Onnx.Server.Hosting;
using OpenWeights.Onnx.Server.Responses;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>GET /v1/models (the served model and each of its adapters) and GET /v1/models/{id}.</summary>
internal static class ModelsEndpoint
{
    public static Task ListAsync(HttpContext http)
    {
        var model = http.RequestServices.GetRequiredService<ModelHost>().RequireReady();
        return http.Response.WriteAsJsonAsync(new ModelList(model.Ids.Select(id => Card(model, id)).ToList()), ServerJson.Options, http.RequestAborted);
    }

    public static Task GetAsync(HttpContext http)
    {
        var model = http.RequestServices.GetRequiredService<ModelHost>().RequireReady();
        string id = http.Request.RouteValues["id"] as string ?? "";
        model.Resolve(id); // 404 unless the base or one of its adapters
        return http.Response.WriteAsJsonAsync(Card(model, id), ServerJson.Options, http.RequestAborted);
    }

    private static ModelCard Card(ServedModel model, string id) => new(id, model.Created, "owonnx", model.MaxLength);
}
