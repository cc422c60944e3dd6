// Drives xmppd's built-in web client (the Converse.js it bundles) in
// Debian's Chromium as a person would: opens the server's landing page,
// follows its link to the web client, logs in through the login form,
// waits for a chat message from PEER_JID, answers it, and waits for the
// peer's reply to show.
//
// usage: node webclient.mjs SERVER_URL USER PASSWORD PEER_JID
//
// Prints one line per step; exits 0 only if every step happened.
import { drive } from "./browser.mjs";

const [serverURL, user, password, peer] = process.argv.slice(2);
const timeout = 20000;

// Everything the client needs comes from xmppd: a request anywhere else
// is refused and reported (the bundle must not need a CDN).
const offsite = [];
await drive(async (page) => {
  const failed = [];
  page.on("response", (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });

  await page.goto(serverURL);
  await page.locator("#web-client").click({ timeout });
  await page.waitForURL(/\/web\/$/, { timeout });
  console.log("OK landing page links the web client");

  await page.locator("#converse-login-jid").first().fill(user, { timeout });
  await page.locator("#converse-login-password").first().fill(password, { timeout });
  await page.locator("converse-login-form [type=submit]").first().click({ timeout });
  await page.waitForSelector("converse-user-profile, .controlbox-pane", { timeout });
  await page.waitForFunction(() => document.querySelector("#conversejs") &&
    !document.querySelector("converse-login-form, .login-form"), null, { timeout });
  console.log("OK logged in through the login form");

  // The message shows up as unread in the contacts list; open the chat.
  await page.locator("a.open-chat", { hasText: peer.split("@")[0] }).first().click({ timeout });
  await page.locator(".chat-msg__text", { hasText: "hello web client" }).first().waitFor({ timeout });
  console.log("OK shows the message from", peer);

  const box = page.locator("textarea.chat-textarea").first();
  await box.fill("hello from the web client");
  await box.press("Enter");
  await page.locator(".chat-msg__text", { hasText: "hello from the web client" }).first().waitFor({ timeout });
  console.log("OK sent its answer");

  await page.locator(".chat-msg__text", { hasText: "got it, web client" }).first().waitFor({ timeout });
  console.log("OK shows the reply");

  if (failed.length) throw new Error("failed requests: " + failed.join(", "));
  if (offsite.length) throw new Error("requests off the server: " + offsite.join(", "));
  console.log("OK everything loaded from the server");
}, { offsite: (url) => { offsite.push(url); console.log("blocked:", url); } });
