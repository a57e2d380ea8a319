// The CommonJS entry and the camelCase → snake_case admin parameters.
const assert = require("node:assert/strict");
const { test } = require("node:test");
const { start, demo } = require("m365-mock");

test("require() works: addresses, clock, camelCase admin parameters", async (t) => {
  const s = await start();
  t.after(() => s.stop());
  for (const ep of [s.imaps, s.imap, s.smtp, s.pop3s, s.pop3]) {
    assert.equal(ep.host, "127.0.0.1");
    assert.ok(ep.port > 0);
  }
  assert.match(s.ca, /BEGIN CERTIFICATE/);
  const res = await s.admin("set-cas-mailbox", { identity: demo.testUser, imapEnabled: false });
  assert.ok(res !== undefined);
  const entry = (await s.journal()).filter((e) => e.outcome === "admin").at(-1);
  assert.match(JSON.stringify(entry), /ImapEnabled/i);
});
