using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenWeights.Onnx.Server.Errors;
using OpenWeights.Onnx.Server.Hosting;
using OpenWeights.Onnx.Server.Responses;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>GET /v1/models (the one served model) and GET /v1/models/{id}.</summary>
internal static class ModelsEndpoint
{
    public static Task ListAsync(HttpContext http)
    {
        var model = http.RequestServices.GetRequiredService<ModelHost>().RequireReady();
        return http.Response.WriteAsJsonAsync(new ModelList([Card(model)]), ServerJson.Options, http.RequestAborted);
    }

    public static Task GetAsync(HttpContext http)
    {
        var model = http.RequestServices.GetRequiredService<ModelHost>().RequireReady();
        string id = http.Request.RouteValues["id"] as string ?? "";
        if (id != model.Id)
            throw OpenAiException.ModelNotFound(id);
        return http.Response.WriteAsJsonAsync(Card(model), ServerJson.Options, http.RequestAborted);
    }

    private static ModelCard Card(ServedModel model) => new(model.Id, model.Created, "owonnx", model.MaxLength);
}
