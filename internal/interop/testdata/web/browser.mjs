// What the browser scripts here share: Debian's Chromium, headless, for a
// test server whose certificate is self-signed; no request leaves this
// machine; the page's errors printed; and the verdict the Go tests read
// (one "FAIL <reason>" line or "PASS", and the exit code).
//
// Environment: CONVERSE_DEBUG=1 prints every console message and refused
// request; CONVERSE_SCREENSHOT=FILE saves the page as FILE on a failure.
import { chromium } from "playwright-core";

const loopback = ["127.0.0.1", "localhost", "[::1]"];

// drive runs steps(page, ctx) in a fresh browser and exits: 0 after
// "PASS" if the steps returned, 1 after "FAIL" and the error's first line
// if one threw. context adds browser context options; offsite(url), if
// given, hears of each request refused for leaving this machine.
export async function drive(steps, { context = {}, offsite } = {}) {
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
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, ...context });
    // Converse asks for avatars and emoji elsewhere: refused before they
    // are made.
    await ctx.route((url) => !loopback.includes(url.hostname), (route) => {
      const url = route.request().url();
      if (offsite) offsite(url);
      else if (process.env.CONVERSE_DEBUG) console.log("blocked:", url);
      return route.abort();
    });
    const page = await ctx.newPage();
    page.on("console", (m) => { if (m.type() === "error" || process.env.CONVERSE_DEBUG) console.log("console:", m.text()); });
    page.on("pageerror", (e) => console.log("pageerror:", e.message));
    await steps(page, ctx);
    ok = true;
  } catch (e) {
    console.log("FAIL", e.message.split("\n")[0]);
    if (process.env.CONVERSE_SCREENSHOT) {
      const pages = browser.contexts().flatMap((c) => c.pages());
      if (pages.length) await pages[0].screenshot({ path: process.env.CONVERSE_SCREENSHOT, fullPage: true });
    }
  } finally {
    await browser.close();
  }
  if (ok) console.log("PASS");
  process.exit(ok ? 0 : 1);
}
