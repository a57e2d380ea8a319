// nodemailer with an OAuth2 accessToken (AUTH XOAUTH2) through mock-server's SMTP
// submission (STARTTLS on a plain port, the CA trusted), then the message read back over
// POP3; and two of Exchange's refusals as nodemailer reports them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodemailer from 'nodemailer';
import { appToken, hostPort, pop3, startServer, xoauth2 } from './mock_server.mjs';

const POLLER = '00000000-0000-4000-8000-00000000a001';
const NO_PERMISSION = '00000000-0000-4000-8000-00000000a004';
const USER = 'test.user@contoso.com';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

function transport(user, accessToken) {
  const { host, port } = hostPort(server.smtp_addr);
  return nodemailer.createTransport({
    host,
    port,
    secure: false,
    requireTLS: true,
    tls: { ca: [server.caPem], servername: 'localhost' },
    auth: { type: 'OAuth2', user, accessToken },
    connectionTimeout: 15000,
    greetingTimeout: 15000,
    socketTimeout: 15000,
  });
}

test('nodemailer sends with an access token and POP3 reads the message back', { timeout: 60000 }, async () => {
  const token = await appToken(server, POLLER, 'poller-secret-value');
  const subject = `nodemailer interop ${Date.now()}`;
  const info = await transport(USER, token).sendMail({
    from: USER,
    to: USER,
    subject,
    text: 'Sent by nodemailer with AUTH XOAUTH2.\n.a line that starts with a dot\n',
  });
  assert.deepEqual(info.accepted, [USER]);
  assert.match(info.response, /^250 2\.6\.0 .* Queued mail for delivery$/);

  const pop = await pop3(server);
  assert.match(pop.greeting, /^\+OK /);
  assert.match(await pop.cmd('AUTH XOAUTH2'), /^\+/);
  assert.equal(await pop.cmd(xoauth2(USER, token), '<xoauth2>'), '+OK User successfully authenticated.');
  const stat = await pop.cmd('STAT');
  const count = Number(stat.split(' ')[1]);
  assert.ok(count >= 5, stat); // the demo INBOX's 4 messages and this one
  assert.equal(await pop.cmd(`RETR ${count}`), '+OK');
  const message = await pop.multiline('RETR');
  assert.ok(message.includes(`Subject: ${subject}`), message.join('\n'));
  assert.ok(message.includes(`Message-ID: ${info.messageId}`), message.join('\n'));
  assert.ok(message.includes('.a line that starts with a dot'), message.join('\n'));
  await pop.cmd('QUIT');
  pop.close();
});

test('no FullAccess: AUTH succeeds, DATA is refused with 430 4.2.0 STOREDRV', { timeout: 60000 }, async () => {
  const token = await appToken(server, NO_PERMISSION, 'no-permission-secret');
  await assert.rejects(
    transport(USER, token).sendMail({ from: USER, to: USER, subject: 'refused', text: 'x' }),
    (err) => {
      assert.equal(err.responseCode, 430, err.message);
      assert.match(err.response, /^430 4\.2\.0 STOREDRV; mailbox logon failure; Cannot open mailbox test\.user@contoso\.com\./);
      return true;
    },
  );
});

test('SMTP AUTH disabled for the mailbox: 535 5.7.139 as an EAUTH error', { timeout: 60000 }, async () => {
  const token = await appToken(server, POLLER, 'poller-secret-value');
  await assert.rejects(
    transport('smtp.disabled@contoso.com', token).sendMail({
      from: 'smtp.disabled@contoso.com', to: USER, subject: 'refused', text: 'x',
    }),
    (err) => {
      assert.equal(err.code, 'EAUTH', err.message);
      assert.equal(err.responseCode, 535);
      assert.match(err.response, /SmtpClientAuthentication is disabled for the Mailbox/);
      return true;
    },
  );
});
