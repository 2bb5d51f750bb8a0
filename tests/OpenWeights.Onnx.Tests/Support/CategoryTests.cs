using System.Reflection;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>Every test class states its cost, so filtering by category never silently drops a class.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class CategoryTests
{
    [TestMethod]
    public void EveryTestClassHasExactlyOneKnownCategory()
    {
        string[] known = [Category.Unit, Category.Parity, Category.Process];
        var wrong = typeof(CategoryTests).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<TestClassAttribute>() is not null)
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttribute<TestMethodAttribute>() is not null))
            .Select(t => (Type: t, Categories: t.GetCustomAttributes<TestCategoryAttribute>().SelectMany(c => c.TestCategories).ToArray()))
            .Where(c => c.Categories.Length != 1 || !known.Contains(c.Categories[0]))
            .Select(c => $"{c.Type.FullName}: [{string.Join(", ", c.Categories)}]")
            .ToArray();
        Assert.IsEmpty(wrong, "test classes need exactly one [TestCategory(Category.Unit|Parity|Process)]:\n" + string.Join("\n", wrong));
        // Categories on methods would make a class straddle two costs.
        var onMethods = typeof(CategoryTests).Assembly.GetTypes().SelectMany(t => t.GetMethods())
            .Where(m => m.GetCustomAttribute<TestCategoryAttribute>() is not null)
            .Select(m => $"{m.DeclaringType!.FullName}.{m.Name}").ToArray();
        Assert.IsEmpty(onMethods, "put the category on the class, not the method:\n" + string.Join("\n", onMethods));
    }
}
