// Drives Converse.js (a real browser XMPP client) in Debian's Chromium
// against xmppd over WebSocket.
//
// usage: node converse.mjs PAGE_URL PEER_JID
//
// Opens the page (which logs in with Converse's own settings), waits until
// Converse is connected, then waits for a chat message from PEER_JID to be
// shown, answers it through Converse's message box, and prints one line per
// step. Exits 0 only if every step happened.
import { drive } from "./browser.mjs";

const [pageURL, peer] = process.argv.slice(2);
const timeout = 20000;

await drive(async (page) => {
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
});
