// Drives xmppd's admin pages (/admin/) in Debian's Chromium: logs in as
// the host's admin through the login form, finds a connected user's
// session on the sessions page and ends it with its button.
//
// usage: node adminweb.mjs BASE_URL ADMIN_JID PASSWORD SESSION_JID
//
// Prints one line per step; exits 0 only if every step happened.
import { chromium } from "playwright-core";

const [base, admin, password, session] = process.argv.slice(2);
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
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false });
  await ctx.route((url) => !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname), (route) => route.abort());
  const page = await ctx.newPage();
  page.on("console", (m) => console.log("console:", m.text()));

  await page.goto(base + "/admin/sessions");
  // Not logged in: the login form.
  await page.waitForURL(/\/admin\/login$/, { timeout });
  await page.fill("input[name=jid]", admin);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/admin\/$/, { timeout });
  await page.locator("header .who", { hasText: admin }).waitFor({ timeout });
  console.log("OK logged in as", admin);

  const cookies = await ctx.cookies();
  const c = cookies.find((c) => c.name === "xmppd_admin");
  if (!c || !c.httpOnly || c.sameSite !== "Strict" || !c.secure) throw new Error("session cookie " + JSON.stringify(c));
  console.log("OK session cookie HttpOnly, Secure, SameSite=Strict");

  await page.click("header a[href='/admin/sessions']");
  await page.waitForURL(/\/admin\/sessions$/, { timeout });
  const row = page.locator("#sessions tr", { hasText: session });
  await row.waitFor({ timeout });
  console.log("OK sees the session", session);

  await row.locator("button", { hasText: "End session" }).click({ timeout });
  await page.locator(".flash", { hasText: "Ended the session " + session }).waitFor({ timeout });
  console.log("OK ended the session", session);
  ok = true;
} catch (e) {
  console.log("FAIL", e.message.split("\n")[0]);
  if (process.env.ADMINWEB_SCREENSHOT) {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages.length) await pages[0].screenshot({ path: process.env.ADMINWEB_SCREENSHOT, fullPage: true });
  }
} finally {
  await browser.close();
}
if (ok) console.log("PASS");
process.exit(ok ? 0 : 1);
