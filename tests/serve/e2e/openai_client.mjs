// The OpenAI-compatible API driven by OpenAI's official Node client library (npm "openai"), as a user's
// application would: list models, a non-streaming and a streaming completion (usage included) and a
// refused request. Usage: node openai_client.mjs --server <serve_for_e2e> [--golden <safetensors>]
import OpenAI from 'openai';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

const child = spawn(args.server, args.golden ? ['--golden', args.golden] : [], { stdio: ['pipe', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
  let out = '';
  child.stdout.on('data', d => {
    out += d;
    const m = out.match(/listening on (\d+)/);
    if (m) resolve(Number(m[1]));
  });
  child.on('exit', code => reject(new Error(`server exited with ${code}`)));
  setTimeout(() => reject(new Error('server did not start in 10 s')), 10000).unref();  // must not keep node alive
});

let passed = 0;
try {
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'not-needed', maxRetries: 0 });
  const models = await client.models.list();
  const ids = models.data.map(m => m.id);
  assert.ok(ids.length >= 1, 'at least one model is listed');
  passed++;

  const request = { model: ids[0], messages: [{ role: 'user', content: 'Hello there!' }], max_tokens: 12, temperature: 0 };
  const full = await client.chat.completions.create(request);
  assert.equal(full.object, 'chat.completion');
  assert.equal(full.choices[0].message.role, 'assistant');
  assert.equal(typeof full.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(full.choices[0].finish_reason));
  assert.ok(full.usage.prompt_tokens > 0 && full.usage.completion_tokens > 0);
  assert.equal(full.usage.total_tokens, full.usage.prompt_tokens + full.usage.completion_tokens);
  passed++;

  const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta?.content ?? '';
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.equal(text, full.choices[0].message.content, 'greedy stream equals the non-streamed reply');
  assert.equal(finish, full.choices[0].finish_reason);
  assert.deepEqual(usage, full.usage);
  passed++;

  await assert.rejects(client.chat.completions.create({ ...request, temperature: 7 }), err => {
    assert.equal(err.status, 400);
    assert.ok(String(err.message).length > 0);
    return true;
  });
  passed++;
  console.log(`openai client: ${passed} passed, 0 failed`);
} catch (err) {
  console.error(err);
  console.log(`openai client: ${passed} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  child.stdin.end();
  child.kill();
}
