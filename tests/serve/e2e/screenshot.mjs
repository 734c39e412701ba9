// Sends one message to a running chat-web and saves a screenshot once the reply has streamed:
//   node screenshot.mjs --url http://127.0.0.1:8000/ --message "Hello" --out shot.png [--chromium /usr/bin/chromium]
// (for README/notes screenshots against a real trained model; the ctest browser test is e2e.mjs).
// playwright's launch() gives the browser a fresh temporary profile of its own.
import { chromium } from "playwright-core";

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const browser = await chromium.launch({
  executablePath: args.chromium || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
await page.goto(args.url || "http://127.0.0.1:8000/");
await page.fill("textarea", args.message || "Hello");
await page.keyboard.press("Enter");
// Wait until the reply stops changing for a second (the stream has ended).
let last = "", stable = 0;
for (let i = 0; i < 240 && stable < 4; ++i) {
  await page.waitForTimeout(250);
  const text = await page.evaluate(() => document.body.innerText);
  stable = text === last ? stable + 1 : 0;
  last = text;
}
await page.screenshot({ path: args.out || "chat.png" });
await browser.close();
console.log(`saved ${args.out || "chat.png"}`);
