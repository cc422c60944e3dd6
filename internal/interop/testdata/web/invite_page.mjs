// Opens an invitation link (modules/invites) in Debian's Chromium and
// creates the account through the page's form, as an invitee would: the
// page names the host and offers the xmpp: link; two different passwords
// are refused on the page; then the account is created.
//
// usage: node invite_page.mjs LINK USERNAME PASSWORD
//
// Prints one line per step; exits 0 only if every step happened.
import { drive } from "./browser.mjs";

const [link, username, password] = process.argv.slice(2);
const timeout = 30000;

await drive(async (page) => {
  const resp = await page.goto(link);
  console.log("OK page status", resp.status());
  const h1 = await page.locator("h1").textContent({ timeout });
  console.log("OK heading", h1.trim());
  const href = await page.locator("#open-app").getAttribute("href", { timeout });
  console.log("OK app link", href.split("preauth=")[0]);

  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.fill("#password2", password + "!");
  await Promise.all([page.waitForNavigation({ timeout }), page.click("#create")]);
  console.log("OK mismatch refused:", (await page.locator("#error").textContent({ timeout })).trim());

  // The form comes back with the username kept and the passwords empty.
  console.log("OK username kept", await page.inputValue("#username"));
  await page.fill("#password", password);
  await page.fill("#password2", password);
  await Promise.all([page.waitForNavigation({ timeout }), page.click("#create")]);
  console.log("OK done:", (await page.locator("#done").textContent({ timeout })).replace(/\s+/g, " ").trim());
});
