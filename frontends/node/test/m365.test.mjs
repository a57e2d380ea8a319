// The m365-mock npm package as a user meets it: installed from its tarball into a temp
// project (frontends/node/run-tests), with msal-node and imapflow from npm.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { ConfidentialClientApplication } from "@azure/msal-node";
import { ImapFlow } from "imapflow";
import { AdminError, demo, MockServerError, start } from "m365-mock";

function pollerApp(s) {
  return new ConfidentialClientApplication({
    auth: {
      clientId: demo.poller.clientId,
      clientSecret: demo.poller.secret,
      authority: s.authority,
      knownAuthorities: s.knownAuthorities,
    },
    system: { networkClient: s.networkClient },
  });
}

async function appToken(s) {
  const result = await pollerApp(s).acquireTokenByClientCredential({ scopes: [demo.scope] });
  assert.ok(result?.accessToken, "msal-node returned a token");
  return result.accessToken;
}

async function inboxSubjects(s, accessToken) {
  const client = new ImapFlow({
    host: s.imaps.host,
    port: s.imaps.port,
    secure: true,
    auth: { user: demo.testUser, accessToken },
    tls: { ca: s.ca },
    logger: false,
  });
  client.on("error", () => {}); // connect() rejects with the same error
  await client.connect();
  try {
    const lock = await client.getMailboxLock("INBOX");
    try {
      const subjects = [];
      for await (const m of client.fetch("1:*", { envelope: true })) subjects.push(m.envelope.subject);
      return subjects;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
}

test("msal-node token, then imapflow reads the INBOX over XOAUTH2", async (t) => {
  const s = await start();
  t.after(() => s.stop());
  assert.ok(s.authority.startsWith(`${s.httpsUrl}/`));
  const token = await appToken(s);
  assert.deepEqual(await inboxSubjects(s, token), [...demo.testUserSubjects]);
  const outcomes = (await s.journal()).map((e) => `${e.protocol}:${e.outcome}`);
  assert.ok(outcomes.includes("imap:authenticated"), outcomes.join(" "));
});

test("a permission removed through s.admin is refused, and the journal says why and how to fix it", async (t) => {
  const s = await start();
  t.after(() => s.stop());
  await s.admin("remove-mailbox-permission", {
    identity: demo.testUser,
    user: demo.poller.servicePrincipalId,
    accessRights: "FullAccess",
  });
  const token = await appToken(s);
  await assert.rejects(inboxSubjects(s, token));
  const imap = (await s.journal()).filter((e) => e.protocol === "imap");
  const last = imap.at(-1);
  assert.ok(last, "an IMAP entry was journaled");
  assert.ok(["refused", "not_connected"].includes(last.outcome), last.outcome);
  assert.ok(last.reason, "a reason");
  assert.match(last.fix ?? "", /Add-MailboxPermission/);
});

test("admin refusals reject with AdminError", async (t) => {
  const s = await start();
  t.after(() => s.stop());
  await assert.rejects(
    s.admin("remove-mailbox-permission", { identity: "nobody@contoso.com", user: "x" }),
    (e) => e instanceof AdminError && e.status >= 400,
  );
});

test("the clock moves: a token issued before is refused over IMAP", async (t) => {
  const s = await start();
  t.after(() => s.stop());
  const token = await appToken(s);
  await s.advanceClock(2 * 3600);
  await assert.rejects(inboxSubjects(s, token));
  const last = (await s.journal()).filter((e) => e.protocol === "imap").at(-1);
  assert.equal(last.outcome, "refused");
  assert.ok(last.reason);
});

test("an armed fault fires once and is journaled", async (t) => {
  const s = await start();
  t.after(() => s.stop());
  await s.armFault("token", "throttled", { retryAfter: 30, times: 1 });
  await assert.rejects(appToken(s));
  assert.equal((await s.journal()).filter((e) => e.outcome === "fault").length, 1);
  assert.ok(await appToken(s));
});

test("the CA trusted through NODE_EXTRA_CA_CERTS in a child process (msal-node without networkClient)", async (t) => {
  const s = await start();
  t.after(() => s.stop());
  // The values go through the environment, not argv, so a failure message never shows the secret.
  const script = `
    import { ConfidentialClientApplication } from "@azure/msal-node";
    const e = process.env;
    const app = new ConfidentialClientApplication({
      auth: { clientId: e.M365_CLIENT_ID, clientSecret: e.M365_SECRET, authority: e.M365_AUTHORITY, knownAuthorities: [e.M365_HOST] },
    });
    const r = await app.acquireTokenByClientCredential({ scopes: [e.M365_SCOPE] });
    console.log(r.accessToken.split(".").length);`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: s.caFile,
      M365_AUTHORITY: s.authority,
      M365_HOST: s.knownAuthorities[0],
      M365_CLIENT_ID: demo.poller.clientId,
      M365_SECRET: demo.poller.secret,
      M365_SCOPE: demo.scope,
    },
  });
  assert.equal(stdout.trim(), "3", "a JWT (three parts) came back");
});

let dir;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "m365-mock-test-"));
});
after(() => rm(dir, { recursive: true, force: true }));

test("a missing binary is a clear error", async () => {
  await assert.rejects(
    start({ binary: join(dir, "no-such-mock-server"), timeoutMs: 5000 }),
    (e) => e instanceof MockServerError && /not found/.test(e.message),
  );
});

test("a binary that exits before it is ready is reported with its output", async () => {
  const broken = join(dir, "mock-server");
  await writeFile(broken, "#!/bin/sh\necho 'cannot start: broken on purpose' >&2\nexit 3\n");
  await chmod(broken, 0o755);
  await assert.rejects(
    start({ binary: broken, timeoutMs: 5000 }),
    (e) => e instanceof MockServerError && /broken on purpose/.test(e.message) && /exited with 3/.test(e.message),
  );
});

test("a binary that never gets ready rejects after timeoutMs with its output", async () => {
  const hanging = join(dir, "hanging-mock-server");
  await writeFile(hanging, "#!/bin/sh\necho 'stuck on purpose' >&2\nexec sleep 600\n");
  await chmod(hanging, 0o755);
  await assert.rejects(
    start({ binary: hanging, timeoutMs: 1000 }),
    (e) => e instanceof MockServerError && /no ready file within 1000 ms/.test(e.message) && /stuck on purpose/.test(e.message),
  );
});
