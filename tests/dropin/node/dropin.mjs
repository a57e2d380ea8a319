// Unmodified Node clients against mock-server --real-hosts: the only difference from
// production is the hosts file and NODE_EXTRA_CA_CERTS (tests/dropin/run.sh sets both up).
import assert from "node:assert/strict";
import { ConfidentialClientApplication, PublicClientApplication } from "@azure/msal-node";
import { ClientSecretCredential, ClientCertificateCredential } from "@azure/identity";
import { ImapFlow } from "imapflow";
import { readFileSync } from "node:fs";

const TENANT = "contoso.onmicrosoft.com";
const AUTHORITY = `https://login.microsoftonline.com/${TENANT}`; // MSAL's default cloud
const POLLER = "00000000-0000-4000-8000-00000000a001";
const DESKTOP = "00000000-0000-4000-8000-00000000a008";
const SECRET = "poller-secret-value";
const USER = "test.user@contoso.com";
const SCOPE = "https://outlook.office365.com/.default";
const certs = new URL("../../../fixtures/certs/", import.meta.url);

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const results = [];
async function check(name, f) {
  try {
    await f();
    results.push(`ok   ${name}`);
  } catch (e) {
    results.push(`FAIL ${name}: ${e.stack || e}`);
  }
}

let appToken;
await check("msal-node client credentials, default authority", async () => {
  const app = new ConfidentialClientApplication({ auth: { clientId: POLLER, authority: AUTHORITY, clientSecret: SECRET } });
  const r = await app.acquireTokenByClientCredential({ scopes: [SCOPE] });
  assert.equal(claims(r.accessToken).aud, "https://outlook.office365.com");
  appToken = r.accessToken;
});

await check("msal-node password grant, default authority", async () => {
  const app = new PublicClientApplication({ auth: { clientId: DESKTOP, authority: AUTHORITY } });
  const r = await app.acquireTokenByUsernamePassword({
    scopes: ["https://outlook.office.com/IMAP.AccessAsUser.All"], username: USER, password: "Passw0rd!",
  });
  assert.equal(claims(r.accessToken).upn, USER);
});

await check("@azure/identity ClientSecretCredential", async () => {
  const t = await new ClientSecretCredential(TENANT, POLLER, SECRET).getToken(SCOPE);
  assert.equal(claims(t.token).appid, POLLER);
});

await check("@azure/identity ClientCertificateCredential", async () => {
  const pem = readFileSync(new URL("mail-poller.key", certs), "utf8") + readFileSync(new URL("mail-poller.crt", certs), "utf8");
  const t = await new ClientCertificateCredential(TENANT, POLLER, { certificate: pem }).getToken(SCOPE);
  assert.equal(claims(t.token).appid, POLLER);
});

await check("imapflow to outlook.office365.com:993 with XOAUTH2", async () => {
  assert.ok(appToken, "no token from the first check");
  const client = new ImapFlow({ host: "outlook.office365.com", port: 993, secure: true, logger: false,
    auth: { user: USER, accessToken: appToken } });
  await client.connect();
  const box = await client.mailboxOpen("INBOX");
  assert.ok(box.exists >= 1, `INBOX has ${box.exists} messages`);
  await client.logout();
});

console.log(results.join("\n"));
process.exit(results.some((r) => r.startsWith("FAIL")) ? 1 : 0);
