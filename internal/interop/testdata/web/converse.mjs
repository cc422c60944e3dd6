// Drives Converse.js (a real browser XMPP client) in Debian's Chromium
// against xmppd over WebSocket.
//
// usage: node converse.mjs PAGE_URL PEER_JID
//
// Opens the page (which logs in with Converse's own settings), waits until
// Converse is connected, then waits for a chat message from PEER_JID to be
// shown, answers it through Converse's message box, and prints one line per
// step. Exits 0 only if every step happened.
import { chromium } from "playwright-core";

const [pageURL, peer] = process.argv.slice(2);
const timeout = 20000;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // The test server's certificate is self-signed.
    "--ignore-certificate-errors",
  ],
});
let ok = false;
try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  // Nothing leaves this machine: requests for anything but the test's
  // own loopback servers (Converse asks for avatars and emoji elsewhere)
  // are refused before they are made.
  await ctx.route((url) => !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname), (route) => {
    if (process.env.CONVERSE_DEBUG) console.log("blocked:", route.request().url());
    return route.abort();
  });
  const page = await ctx.newPage();
  page.on("console", (m) => { if (m.type() === "error" || process.env.CONVERSE_DEBUG) console.log("console:", m.text()); });
  page.on("pageerror", (e) => console.log("pageerror:", e.message));
  await page.goto(pageURL);
  // Converse shows the user's own status once the session is established.
  await page.waitForSelector("converse-user-profile, .controlbox-pane", { timeout });
  await page.waitForFunction(() => document.querySelector("#conversejs") &&
    !document.querySelector("converse-login-form, .login-form"), null, { timeout });
  console.log("OK converse logged in");

  // The message shows up as unread in the contacts list; open the chat.
  await page.locator("a.open-chat", { hasText: peer.split("@")[0] }).first().click({ timeout });
  const msg = page.locator(".chat-msg__text", { hasText: "hello converse" });
  await msg.first().waitFor({ timeout });
  console.log("OK converse shows the message from", peer);

  const box = page.locator("textarea.chat-textarea").first();
  await box.fill("hello from converse");
  await box.press("Enter");
  await page.locator(".chat-msg__text", { hasText: "hello from converse" }).first().waitFor({ timeout });
  console.log("OK converse sent its answer");
  // Give the stanza time to leave before the browser goes.
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
