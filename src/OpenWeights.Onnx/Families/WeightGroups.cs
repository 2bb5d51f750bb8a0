using System.Collections;
using System.Reflection;

namespace OpenWeights.Onnx.Families;

/// <summary>Enumerates the weights of a group from its shape, so that no list of fields can fall out of date.</summary>
public static class WeightGroups
{
    /// <summary>
    /// Every <see cref="WeightRef"/> reachable from <paramref name="group"/> through public properties: directly,
    /// in a nested <see cref="IWeightGroup"/>, or in a list of either, in declaration order. A property of any
    /// other kind (a dictionary, a struct holding weights) is refused, so a new kind of field cannot be skipped silently.
    /// </summary>
    public static IEnumerable<WeightRef> All(this IWeightGroup group)
    {
        foreach (var property in group.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            foreach (var w in Walk(property.GetValue(group), group.GetType(), property))
                yield return w;
    }

    /// <summary>Every group of type <typeparamref name="T"/> nested in <paramref name="group"/> (every linear layer, say), in declaration order.</summary>
    public static IEnumerable<T> Groups<T>(this IWeightGroup group) where T : IWeightGroup
    {
        foreach (var property in group.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            foreach (var g in Nested(property.GetValue(group)))
            {
                if (g is T match)
                    yield return match;
                foreach (var inner in g.Groups<T>())
                    yield return inner;
            }
    }

    private static IEnumerable<IWeightGroup> Nested(object? value) => value switch
    {
        IWeightGroup g => [g],
        string => [],
        IEnumerable items => items.OfType<IWeightGroup>(),
        _ => [],
    };

    private static IEnumerable<WeightRef> Walk(object? value, Type owner, PropertyInfo property) => value switch
    {
        null => [],
        WeightRef w => [w],
        IWeightGroup g => g.All(),
        string or Enum or decimal => [],
        _ when value.GetType().IsPrimitive => [],
        IEnumerable items => items.Cast<object?>().SelectMany(item => Walk(item, owner, property)),
        _ => throw new InvalidOperationException(
            $"{owner.Name}.{property.Name} is a {value.GetType().Name}: a weight group holds weights (WeightRef), " +
            "groups (IWeightGroup), lists of those, or plain values."),
    };
}
