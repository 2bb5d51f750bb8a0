// The openai npm package against a running `owonnx serve` (OWONNX_BASE_URL, OWONNX_MODEL), serving the sample
// with a tools-aware template: a forced tool call, the tool's result sent back, a final text answer — whole and
// streamed — and a json_schema answer that parses and follows its schema. Exits non-zero with the reason on the first check that fails; prints "OK" and a summary otherwise.
// Run by OpenAiNodeClientTests (tests/OpenWeights.Onnx.Tests/Server).
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.OWONNX_BASE_URL, apiKey: 'unused', timeout: 120_000, maxRetries: 0 });
const model = process.env.OWONNX_MODEL;

const tools = [{
  type: 'function',
  function: {
    name: 'get_forecast',
    description: 'Forecast for a city.',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', enum: ['Paris', 'Oslo'] },
        days: { type: 'integer', enum: [1, 3] },
        metric: { type: 'boolean' },
      },
      required: ['city', 'days', 'metric'],
      additionalProperties: false,
    },
  },
}];
const forced = { type: 'function', function: { name: 'get_forecast' } };

function check(condition, message) {
  if (!condition) throw new Error(message);
}

function checkForecast(text) {
  const args = JSON.parse(text);
  check(args && typeof args === 'object' && !Array.isArray(args), `arguments are not an object: ${text}`);
  check(JSON.stringify(Object.keys(args).sort()) === '["city","days","metric"]', `arguments have other members: ${text}`);
  check(['Paris', 'Oslo'].includes(args.city), `city outside the enum: ${text}`);
  check([1, 3].includes(args.days), `days outside the enum: ${text}`);
  check(typeof args.metric === 'boolean', `metric not a boolean: ${text}`);
}

const question = [{ role: 'user', content: 'What is the forecast in Paris?' }];

// Whole: call, result, answer.
const call = await client.chat.completions.create({ model, messages: question, tools, tool_choice: forced, temperature: 0, max_tokens: 150 });
const choice = call.choices[0];
check(choice.finish_reason === 'tool_calls', `finish_reason ${choice.finish_reason}`);
check(choice.message.content === null, `content ${JSON.stringify(choice.message.content)}`);
check(choice.message.tool_calls?.length === 1, `tool_calls ${JSON.stringify(choice.message.tool_calls)}`);
const toolCall = choice.message.tool_calls[0];
check(toolCall.type === 'function' && toolCall.function.name === 'get_forecast', JSON.stringify(toolCall));
check(toolCall.id.startsWith('call_'), `id ${toolCall.id}`);
checkForecast(toolCall.function.arguments);

const history = [...question, choice.message, { role: 'tool', tool_call_id: toolCall.id, content: '{"forecast": "sunny", "high": 24}' }];
const answer = await client.chat.completions.create({ model, messages: history, tools, temperature: 0, max_tokens: 30 });
check(!answer.choices[0].message.tool_calls, `unexpected calls ${JSON.stringify(answer.choices[0].message.tool_calls)}`);
check(answer.choices[0].message.content?.trim().length > 0, `empty answer ${JSON.stringify(answer.choices[0].message)}`);
check(answer.usage.prompt_tokens > call.usage.prompt_tokens + 20, 'the call and its result are not in the prompt');

// Streamed: the call's deltas joined as the SDK's users join them, then the answer.
const stream = await client.chat.completions.create({ model, messages: question, tools, tool_choice: forced, temperature: 0, max_tokens: 150, stream: true });
const streamed = { id: null, name: null, arguments: '' };
let fragments = 0, finish = null, content = '';
for await (const chunk of stream) {
  const c = chunk.choices[0];
  if (!c) continue;
  content += c.delta?.content ?? '';
  for (const t of c.delta?.tool_calls ?? []) {
    check(t.index === 0, `index ${t.index}`);
    if (t.id) streamed.id = t.id;
    if (t.function?.name) streamed.name = t.function.name;
    if (t.function?.arguments) { streamed.arguments += t.function.arguments; fragments++; }
  }
  finish = c.finish_reason ?? finish;
}
check(finish === 'tool_calls', `streamed finish_reason ${finish}`);
check(content === '', `call text leaked as content: ${JSON.stringify(content)}`);
check(streamed.name === 'get_forecast' && streamed.id?.startsWith('call_'), JSON.stringify(streamed));
check(streamed.arguments === toolCall.function.arguments, `streamed arguments ${streamed.arguments} != ${toolCall.function.arguments}`);
check(fragments > 1, `arguments in ${fragments} fragment(s)`);

const streamedHistory = [...question,
  { role: 'assistant', content: null, tool_calls: [{ id: streamed.id, type: 'function', function: { name: streamed.name, arguments: streamed.arguments } }] },
  { role: 'tool', tool_call_id: streamed.id, content: '{"forecast": "sunny", "high": 24}' }];
let answerText = '';
for await (const chunk of await client.chat.completions.create({ model, messages: streamedHistory, tools, temperature: 0, max_tokens: 30, stream: true })) {
  answerText += chunk.choices[0]?.delta?.content ?? '';
  check(!chunk.choices[0]?.delta?.tool_calls, 'unexpected streamed call');
}
check(answerText === answer.choices[0].message.content, `streamed answer ${JSON.stringify(answerText)} != ${JSON.stringify(answer.choices[0].message.content)}`);

// Structured output: a json_schema answer parses and follows the schema.
const fortuneSchema = {
  type: 'object',
  properties: {
    mood: { type: 'string', enum: ['happy', 'calm', 'bold'] },
    lucky_number: { type: 'integer' },
    omens: { type: 'array', items: { type: 'boolean' }, maxItems: 2 },
  },
  required: ['mood', 'lucky_number', 'omens'],
  additionalProperties: false,
};
const structured = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Tell me a fortune as JSON.' }], temperature: 0, max_tokens: 120,
  response_format: { type: 'json_schema', json_schema: { name: 'fortune', schema: fortuneSchema, strict: true } },
});
check(structured.choices[0].finish_reason === 'stop', `json_schema finish_reason ${structured.choices[0].finish_reason}`);
const fortuneText = structured.choices[0].message.content;
const fortune = JSON.parse(fortuneText);
check(JSON.stringify(Object.keys(fortune).sort()) === '["lucky_number","mood","omens"]', `members: ${fortuneText}`);
check(['happy', 'calm', 'bold'].includes(fortune.mood), `mood: ${fortuneText}`);
check(Number.isInteger(fortune.lucky_number), `lucky_number: ${fortuneText}`);
check(Array.isArray(fortune.omens) && fortune.omens.length <= 2 && fortune.omens.every(o => typeof o === 'boolean'), `omens: ${fortuneText}`);

console.log('OK ' + JSON.stringify({ call: toolCall.function.arguments, fragments, answer: answerText, fortune: fortuneText }));
