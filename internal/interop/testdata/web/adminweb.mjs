// Drives xmppd's admin pages (/admin/) in Debian's Chromium: logs in as
// the host's admin through the login form, finds a connected user's
// session on the sessions page and ends it with its button.
//
// usage: node adminweb.mjs BASE_URL ADMIN_JID PASSWORD SESSION_JID
//
// Prints one line per step; exits 0 only if every step happened.
import { drive } from "./browser.mjs";

const [base, admin, password, session] = process.argv.slice(2);
const timeout = 20000;

// The pages need no script: they run with none.
await drive(async (page, ctx) => {
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
}, { context: { javaScriptEnabled: false } });
