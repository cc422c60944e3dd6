// Drives Converse.js in Debian's Chromium as a room moderator: it enters
// the room the page names at login, waits for a message containing TEXT,
// retracts it through the message's Retract action and the reason prompt
// (XEP-0425), and waits until Converse shows the message as retracted.
//
// usage: node converse_moderate.mjs PAGE_URL TEXT REASON
//
// Prints one line per step; exits 0 only if every step happened.
import { drive } from "./browser.mjs";

const [pageURL, text, reason] = process.argv.slice(2);
const timeout = 30000;

await drive(async (page) => {
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
});
