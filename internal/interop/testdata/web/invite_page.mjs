// Opens an invitation link (modules/invites) in Debian's Chromium and
// creates the account through the page's form, as an invitee would: the
// page names the host and offers the xmpp: link; two different passwords
// are refused on the page; then the account is created.
//
// usage: node invite_page.mjs LINK USERNAME PASSWORD
//
// Prints one line per step; exits 0 only if every step happened.
import { chromium } from "playwright-core";

const [link, username, password] = process.argv.slice(2);
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
  page.on("pageerror", (e) => console.log("pageerror:", e.message));
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
  ok = true;
} catch (e) {
  console.log("FAIL", e.message);
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
