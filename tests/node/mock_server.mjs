// Starts the real mock-server binary (MOCK_SERVER_BIN, or target/debug/mock-server) on
// port 0 everywhere, and the small clients the Node interop tests share: a token from
// the identity platform and a POP3 reader, every wait bounded and named.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STEP_MS = 15000;

/** Start mock-server; resolves to its ready file's content plus `stop()`. */
export async function startServer() {
  const bin = process.env.MOCK_SERVER_BIN || path.join(ROOT, 'target', 'debug', 'mock-server');
  const dir = mkdtempSync(path.join(tmpdir(), 'mock-server-node-'));
  const readyFile = path.join(dir, 'ready.json');
  const args = ['--https-port', '0', '--imaps-port', '0', '--imap-port', '0', '--pop3s-port', '0',
    '--pop3-port', '0', '--smtp-port', '0', '--ca-dir', path.join(dir, 'ca'), '--ready-file', readyFile];
  // The server's log goes to a file beside the ready file (kept out of the TAP output).
  const log = openSync(path.join(dir, 'server.log'), 'w');
  const proc = spawn(bin, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  let exited = null;
  const gone = new Promise((resolve) => {
    proc.on('exit', (code) => {
      exited = code;
      resolve();
    });
  });
  const deadline = Date.now() + 30000;
  while (!existsSync(readyFile)) {
    if (exited !== null) throw new Error(`mock-server exited with ${exited} before its ready file`);
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error('mock-server wrote no ready file within 30 s');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  // The file may be seen before it is complete: retry the parse until the deadline.
  let ready;
  for (;;) {
    try {
      ready = JSON.parse(readFileSync(readyFile, 'utf8'));
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  ready.caPem = readFileSync(ready.ca_file, 'utf8');
  /** Stop the server and wait (at most 10 s) for it to exit before removing its folder. */
  ready.stop = async () => {
    proc.kill();
    let timer;
    const late = new Promise((resolve) => { timer = setTimeout(resolve, 10000); });
    await Promise.race([gone, late]);
    clearTimeout(timer);
    if (exited === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  return ready;
}

export function hostPort(addr) {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

/** A client-credentials token for a demo app (scope https://outlook.office365.com/.default). */
export function appToken(server, clientId, secret) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: secret,
    scope: 'https://outlook.office365.com/.default',
  }).toString();
  const url = new URL(`${server.https_url}/contoso.onmicrosoft.com/oauth2/v2.0/token`);
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: 'POST',
      ca: server.caPem,
      timeout: STEP_MS,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        const json = JSON.parse(text);
        if (json.access_token) resolve(json.access_token);
        else reject(new Error(`no token for ${clientId}: HTTP ${res.statusCode} ${json.error}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error('token request: no answer within 15 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** A minimal POP3 client over implicit TLS: `cmd(line)` resolves to the answer's first line. */
export async function pop3(server) {
  const { host, port } = hostPort(server.pop3s_addr);
  const socket = tls.connect({ host, port, ca: server.caPem, servername: 'localhost' });
  let buf = '';
  const waiting = [];
  const lines = [];
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 2);
    }
    while (waiting.length && lines.length) waiting.shift()(lines.shift());
  });
  socket.on('error', () => {});
  const line = (step) => new Promise((resolve, reject) => {
    if (lines.length) {
      resolve(lines.shift());
      return;
    }
    const t = setTimeout(() => reject(new Error(`POP3 ${step}: no answer within 15 s`)), STEP_MS);
    waiting.push((l) => { clearTimeout(t); resolve(l); });
  });
  const cmd = async (text, shown = text) => {
    socket.write(`${text}\r\n`);
    return line(shown);
  };
  /** The lines of a multi-line answer up to `.`, dot-stuffing undone. */
  const multiline = async (step) => {
    const out = [];
    for (;;) {
      const l = await line(step);
      if (l === '.') return out;
      out.push(l.startsWith('..') ? l.slice(1) : l);
    }
  };
  const greeting = await line('greeting');
  return { greeting, cmd, multiline, close: () => socket.end() };
}

export function xoauth2(user, token) {
  return Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
}
