using OpenWeights.Onnx.Generation;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>
/// Chat templates that could take the process down (native stack overflow, unbounded time or memory) are refused
/// before the native engine sees them; real templates pass. Rendering limits are tested on a model in
/// <see cref="HostileProcessTests"/>.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class HostileTemplateTests
{
    [TestMethod]
    [DataRow("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "calls itself")]
    [DataRow("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", "calls itself")]
    [DataRow("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}", "calls itself")]
    [DataRow("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ c() }}{% endmacro %}{% macro c() %}{{ a() }}{% endmacro %}", "calls itself")]
    [DataRow("{%- macro f(n) -%}{{- f ( n ) -}}{%- endmacro -%}", "calls itself")]
    [DataRow("{% macro f() %}x{% endmacro %}{% set g = f %}{{ g() }}", "used as a value")]
    [DataRow("{% macro f(k) %}{{ k(k) }}{% endmacro %}{{ f(f) }}", "used as a value")]
    [DataRow("{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}", "recursive loop")]
    [DataRow("{% macro f() %}{{ caller() }}{% endmacro %}{% call f() %}{{ f() }}{% endcall %}", "call block")]
    [DataRow("{% for i in range(100000000) %}x{% endfor %}", "100000000")]
    [DataRow("{% for i in range(100000) %}x{% endfor %}", "100000")]
    [DataRow("{% for i in range(1e9) %}x{% endfor %}", "1e9")]
    [DataRow("{{ 'x' * 99999 * 99999 }}", "multiplies more than once")]
    [DataRow("{% for i in range(10 ** 9) %}x{% endfor %}", "'**'")]
    [DataRow("{% if true %", "not closed")]
    [DataRow("{{ messages[0]['content'] ", "not closed")]
    [DataRow("{# a comment that never ends", "not closed")]
    [DataRow("{% raw %} {{ x }}", "raw block")]
    [DataRow("{% macro %}{% endmacro %}", "no name")]
    public void DangerousTemplateIsRefused(string template, string fragment)
    {
        string? problem = TemplateGuard.Problem(template);
        Assert.IsNotNull(problem, template);
        StringAssert.Contains(problem, fragment);
    }

    [TestMethod]
    public void DeepNestingIsRefused()
    {
        string template = string.Concat(Enumerable.Repeat("{% if true %}", 65)) + "x" + string.Concat(Enumerable.Repeat("{% endif %}", 65));
        StringAssert.Contains(TemplateGuard.Problem(template), "nest more than 64");
    }

    [TestMethod]
    public void OversizedTemplateIsRefused() =>
        StringAssert.Contains(TemplateGuard.Problem(new string('x', TemplateGuard.MaxSourceChars + 1)), "characters long");

    [TestMethod]
    [DataRow("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")]
    [DataRow("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}")]
    [DataRow("{%- macro render(m) -%}{{ m['role'] }}: {{ m['content'] | trim }}{%- endmacro -%}{%- for m in messages -%}{{ render(m) }}\n{%- endfor -%}")]
    [DataRow("{% set ns = namespace(system='') %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.system = m.content %}{% endif %}{% endfor %}{{ ns.system }} {{ '%}' }} {{ \"f(\" }}")]
    [DataRow("{% raw %}{% macro f() %}{{ f() }}{% endmacro %}{% endraw %}{{ messages | length }}")]
    [DataRow("{{ '  ' * 2 }}{{ messages[-1]['content'] }}{% for i in range(3) %}.{% endfor %}{{ 2024 }}")]
    public void OrdinaryTemplatesPass(string template) => Assert.IsNull(TemplateGuard.Problem(template), template);
}
