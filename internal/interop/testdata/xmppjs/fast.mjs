// xmpp.js (@xmpp/client 0.14.0) against xmppd's XEP-0484 FAST, driven by
// internal/interop/xmppjs_test.go:
//   node fast.mjs HOST PORT USER PASSWORD
// 1. logs in with the password (SCRAM-SHA-1 over SASL2): xmpp.js asks for a
//    token, which it gets in <success/>;
// 2. logs in with that token and a wrong password, as the same client
//    (same <user-agent id/>): only FAST can succeed, and a rotated token
//    comes back;
// 3. logs in with the rotated token.
// Prints one "ok ..." line per step; exits non-zero on the first failure.
import { client, xml } from "@xmpp/client";

const [host, port, user, password] = process.argv.slice(2);
const agentId = "5b0f5f9e-2d8f-4a0e-9c57-3c1e3a6f0d11";
let saved = null;
const tokens = [];

function connect(pass) {
  const xmpp = client({
    service: `xmpp://${host}:${port}`,
    domain: "localhost",
    username: user,
    password: pass,
    resource: "xmppjs",
    userAgent: xml("user-agent", { id: agentId }, xml("software", {}, "xmpp.js")),
  });
  xmpp.reconnect.stop();
  xmpp.fast.fetchToken = async () => saved;
  xmpp.fast.saveToken = async (t) => {
    saved = t;
    tokens.push(t.token);
  };
  xmpp.fast.deleteToken = async () => {
    saved = null;
  };
  return xmpp;
}

async function login(step, pass) {
  const xmpp = connect(pass);
  const errors = [];
  xmpp.on("error", (err) => errors.push(String(err)));
  const timer = setTimeout(() => {
    console.log(`FAIL ${step}: timeout; errors: ${errors.join("; ")}`);
    process.exit(1);
  }, 15000);
  const address = await xmpp.start().catch((err) => {
    console.log(`FAIL ${step}: ${err}; errors: ${errors.join("; ")}`);
    process.exit(1);
  });
  clearTimeout(timer);
  console.log(`ok ${step} ${address} token=${saved ? saved.mechanism : "none"} tokens=${tokens.length}`);
  await xmpp.stop();
}

await login("password", password);
if (!saved) {
  console.log("FAIL no token after the password login");
  process.exit(1);
}
const first = saved.token;
await login("token", "wrong-password");
if (!saved || saved.token === first) {
  console.log("FAIL the FAST login brought no new token");
  process.exit(1);
}
await login("rotated", "wrong-password");
process.exit(0);
