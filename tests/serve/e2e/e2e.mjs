// Browser test of the chat UI: headless Debian chromium driven by playwright-core against the real
// server (serve_for_e2e). Sends a message and watches the reply stream in, regenerates it, runs a
// slash command, edits a message, starts a new conversation, and saves screenshots into --out.
// Usage: node e2e.mjs --server <serve_for_e2e> --out <dir> [--chromium /usr/bin/chromium]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const out = args.out ?? '.';
let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures += 1;
}

function startServer(binary) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', chunk => {
      text += chunk;
      const m = /listening on (\d+)/.exec(text);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', code => reject(new Error(`server exited with ${code}`)));
    setTimeout(() => reject(new Error('server did not start in 10 s')), 10000);
  });
}

const { child, port } = await startServer(args.server);
const profile = mkdtempSync(join(tmpdir(), 'nanochat-e2e-'));
// A fresh, empty profile directory (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: args.chromium ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 900, height: 700 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', e => pageErrors.push(String(e)));
  await page.goto(`http://127.0.0.1:${port}/`);
  check(await page.title() === 'NanoChat', 'page loads with title NanoChat');
  const idle = () => page.waitForFunction(() => document.body.dataset.generating === 'false', null, { timeout: 20000 });
  const assistantText = () => page.locator('.message.assistant').last().textContent();

  // Send with Enter; the reply streams in piece by piece.
  await page.fill('#input', 'Hello there, who are you?');
  await page.press('#input', 'Enter');
  await page.waitForFunction(() => document.body.dataset.generating === 'true');
  await page.waitForFunction(() => {
    const el = document.querySelector('.message.assistant');
    return el && el.textContent.startsWith('Reply') && !el.textContent.endsWith('byte.');
  }, null, { timeout: 10000 });
  check(true, 'a partial reply is visible while streaming');
  await idle();
  const first = await assistantText();
  check(/^Reply \d+ to a prompt of \d+ tokens: café 🙂, streamed byte by byte\.$/u.test(first),
        `the whole reply arrived, multi-byte characters intact: "${first}"`);
  check(await page.locator('.message.user').count() === 1, 'one user message');
  await page.screenshot({ path: join(out, 'chat_reply.png') });

  // Regenerate: click the reply; a new seed gives a different reply in the same place.
  await page.locator('.message.assistant').last().click();
  await idle();
  const second = await assistantText();
  check(await page.locator('.message.assistant').count() === 1 && second !== first && second.startsWith('Reply'),
        `regenerate replaced the reply: "${second}"`);

  // A second turn, then a slash command (shown, not sent), then edit the first message.
  await page.fill('#input', 'And a follow-up?');
  await page.press('#input', 'Enter');
  await idle();
  check(await page.locator('.message.assistant').count() === 2, 'multi-turn: two replies');
  const promptTokens = Number(/prompt of (\d+) tokens/.exec(await assistantText())[1]);
  check(promptTokens > 40, `the second request carried the whole conversation (${promptTokens} tokens)`);
  await page.fill('#input', '/temperature 0.5');
  await page.press('#input', 'Enter');
  check((await page.locator('.message.console').last().textContent()) === 'Temperature set to 0.5', '/temperature sets it');
  await page.fill('#input', '/topk 0');
  await page.press('#input', 'Enter');
  check((await page.locator('.message.console').last().textContent()) === 'Top-k set to 0', '/topk 0 is allowed');
  await page.screenshot({ path: join(out, 'chat_ui.png') });
  await page.locator('.message.user').first().click();
  check(await page.inputValue('#input') === 'Hello there, who are you?', 'clicking a user message puts it back to edit');
  check(await page.locator('.message').count() === 0, 'editing removed that message and everything after it');

  // Server-side refusals show the server's reason; the failed turn goes back into the input.
  await page.fill('#input', '/maxtokens 4096');
  await page.press('#input', 'Enter');
  await page.fill('#input', 'x'.repeat(8001));
  await page.press('#input', 'Enter');
  await idle();
  const error = await page.locator('.message.error').last().textContent();
  check(error.includes('Message 0 is too long') && error.includes('HTTP 400'), `refusal shows the detail: "${error}"`);
  check(await page.locator('.message.user').count() === 0 && (await page.inputValue('#input')).length === 8001,
        'the refused message is back in the input, not in the conversation');

  // New conversation while a reply streams: it is aborted and nothing leaks into the new one.
  await page.fill('#input', 'Start something long');
  await page.press('#input', 'Enter');
  await page.waitForFunction(() => document.body.dataset.generating === 'true');
  await page.click('#new-chat');
  await page.waitForTimeout(700);
  check(await page.locator('.message').count() === 0, 'new conversation clears the screen, even mid-reply');
  const health = await (await page.request.get(`http://127.0.0.1:${port}/health`)).json();
  check(health.available_workers === 1, 'the aborted reply freed the worker');
  check(pageErrors.length === 0, `no page errors ${pageErrors.join('; ')}`);
} finally {
  await browser.close();
  child.stdin.end();
  rmSync(profile, { recursive: true, force: true });
}
console.log(failures === 0 ? `PASS (screenshots in ${out})` : `${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
