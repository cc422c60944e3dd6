// Drives Converse.js in Debian's Chromium as a room moderator: it enters
// the room the page names at login, waits for a message containing TEXT,
// retracts it through the message's Retract action and the reason prompt
// (XEP-0425), and waits until Converse shows the message as retracted.
//
// usage: node converse_moderate.mjs PAGE_URL TEXT REASON
//
// Prints one line per step; exits 0 only if every step happened.
import { chromium } from "playwright-core";

const [pageURL, text, reason] = process.argv.slice(2);
const timeout = 30000;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--ignore-certificate-errors",
  ],
});
let ok = false;
try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  await ctx.route((url) => !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname), (route) => route.abort());
  const page = await ctx.newPage();
  page.on("console", (m) => { if (m.type() === "error" || process.env.CONVERSE_DEBUG) console.log("console:", m.text()); });
  page.on("pageerror", (e) => console.log("pageerror:", e.message));
  await page.goto(pageURL);
  await page.waitForSelector("converse-muc", { state: "attached", timeout });
  console.log("OK converse entered the room");

  const msg = page.locator(".chat-msg", { hasText: text }).first();
  await msg.waitFor({ timeout });
  console.log("OK converse shows the message to moderate");

  // The Retract action sits in the message's actions dropdown; Converse
  // renders it only for a moderator in a room that announces
  // urn:xmpp:message-moderate:1. A click on the element itself runs its
  // handler whether or not the dropdown is open.
  const retract = msg.locator(".chat-msg__action-retract").first();
  await retract.waitFor({ state: "attached", timeout });
  await retract.evaluate((el) => el.click());
  const input = page.locator('#converse-modals .modal input[name="reason"]').first();
  await input.waitFor({ timeout });
  await input.fill(reason);
  await page.locator('#converse-modals .modal button[type="submit"]').first().click({ timeout });
  console.log("OK converse asked the room to retract it");

  await page.locator(".chat-msg--retracted").first().waitFor({ timeout });
  console.log("OK converse shows the message as retracted");
  await page.waitForTimeout(500);
  ok = true;
} catch (e) {
  console.log("FAIL", e.message.split("\n")[0]);
  if (process.env.CONVERSE_SCREENSHOT) {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages.length) await pages[0].screenshot({ path: process.env.CONVERSE_SCREENSHOT });
  }
} finally {
  await browser.close();
}
if (ok) console.log("PASS");
process.exit(ok ? 0 : 1);
