"use strict";
// m365-mock for Node: start the packaged mock-server on free ports, stop it, and drive it
// through its admin API. CommonJS implementation; index.mjs re-exports it for ESM.

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const fsp = require("node:fs/promises");
const https = require("node:https");
const os = require("node:os");
const path = require("node:path");

/** The demo tenant (fixtures/demo-tenant.json, mock-server/src/demo.rs). */
const demo = Object.freeze({
  tenantId: "c0ffee00-1111-4222-8333-444455556666",
  tenantDomain: "contoso.onmicrosoft.com",
  fabrikamTenantId: "fab00000-1111-4222-8333-444455556666",
  scope: "https://outlook.office365.com/.default",
  testUser: "test.user@contoso.com",
  sharedInbox: "shared.inbox@contoso.com",
  testUserSubjects: Object.freeze(["Test Mail", "Test 2 Process", "How are you?", "My Mail"]),
  poller: Object.freeze({
    displayName: "Mail Poller",
    clientId: "00000000-0000-4000-8000-00000000a001",
    objectId: "00000000-0000-4000-8000-00000000b001",
    servicePrincipalId: "00000000-0000-4000-8000-00000000c001",
    secret: "poller-secret-value",
  }),
});

const DEFAULT_TIMEOUT_MS = 30000;
const PORT_FLAGS = ["--https-port", "--imaps-port", "--imap-port", "--smtp-port", "--pop3s-port", "--pop3-port"];

/** The server could not start, or the admin API refused a request. */
class MockServerError extends Error {
  constructor(message, details) {
    super(message);
    this.name = "MockServerError";
    if (details) Object.assign(this, details);
  }
}

/** The admin API answered with an error: `status`, `error`, `message`. */
class AdminError extends MockServerError {
  constructor(verb, status, body) {
    const b = body && typeof body === "object" ? body : {};
    super(`${verb}: HTTP ${status} ${b.error ?? ""}: ${b.message ?? ""}`, {
      verb,
      status,
      error: b.error,
      serverMessage: b.message,
    });
    this.name = "AdminError";
  }
}

/** The mock-server to run: `explicit`, else $M365_MOCK_BIN, else the one in this package. */
function findBinary(explicit) {
  const exe = process.platform === "win32" ? "mock-server.exe" : "mock-server";
  const candidate =
    explicit ?? process.env.M365_MOCK_BIN ?? path.join(__dirname, "bin", `${process.platform}-${process.arch}`, exe);
  try {
    fs.accessSync(candidate, fs.constants.X_OK);
    if (fs.statSync(candidate).isFile()) return candidate;
  } catch {
    // reported below
  }
  throw new MockServerError(
    `mock-server binary not found at ${candidate}; this package ships bin/${process.platform}-${process.arch}/, ` +
      "or set M365_MOCK_BIN (or the `binary` option)",
    { binary: candidate },
  );
}

function snakeCase(key) {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/-/g, "_");
}

function toSnake(params) {
  const out = {};
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== undefined) out[snakeCase(k)] = v;
  }
  return out;
}

function splitAddr(addr) {
  const i = addr.lastIndexOf(":");
  return Object.freeze({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
}

const running = new Set();
let exitHookInstalled = false;
function killAllOnExit() {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

class M365Mock {
  constructor(ready, child, workdir, ca) {
    this.ready = ready;
    this.workdir = workdir;
    this.httpsUrl = ready.https_url;
    this.caFile = ready.ca_file;
    /** The CA certificate (PEM), for `tls: { ca }` of imapflow, nodemailer, https. */
    this.ca = ca;
    this.tenants = ready.tenants ?? [];
    this.imaps = splitAddr(ready.imaps_addr);
    this.imap = splitAddr(ready.imap_addr);
    this.smtp = splitAddr(ready.smtp_addr);
    this.pop3s = splitAddr(ready.pop3s_addr);
    this.pop3 = splitAddr(ready.pop3_addr);
    this.demo = demo;
    this._child = child;
    this._agent = new https.Agent({ ca, keepAlive: false });
    this._stopped = null;
    const self = this;
    /** An msal-node INetworkModule trusting only this server's CA (`system.networkClient`). */
    this.networkClient = {
      async sendGetRequestAsync(url, options) {
        return self._msalRequest("GET", url, options);
      },
      async sendPostRequestAsync(url, options) {
        return self._msalRequest("POST", url, options);
      },
    };
  }

  /** The authority of a tenant (id or domain); the demo tenant's by default. */
  authorityFor(tenant = demo.tenantId) {
    const t = this.tenants.find((x) => x.id === tenant || (x.domains ?? []).includes(tenant));
    return t ? t.authority : `${this.httpsUrl}/${tenant}`;
  }

  /** Contoso's authority, for msal-node's `auth.authority`. */
  get authority() {
    return this.authorityFor(demo.tenantId);
  }

  /** `host:port` of the HTTPS endpoint, for msal-node's `auth.knownAuthorities`. */
  get knownAuthorities() {
    return [new URL(this.httpsUrl).host];
  }

  get tokenEndpoint() {
    return `${this.authority}/oauth2/v2.0/token`;
  }

  /** One HTTPS request trusting only the mock's CA: `{ status, headers, body }` (body as text). */
  request(method, url, { headers = {}, body } = {}) {
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, agent: this._agent, headers, timeout: 30000 }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new MockServerError(`${method} ${url}: no answer within 30 s`)));
      req.on("error", reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async _msalRequest(method, url, options = {}) {
    const headers = { ...(options.headers ?? {}) };
    let body;
    if (method === "POST" && options.body !== undefined) {
      body = options.body;
      headers["content-length"] = Buffer.byteLength(body);
    }
    const r = await this.request(method, url, { headers, body });
    let parsed;
    try {
      parsed = JSON.parse(r.body);
    } catch {
      parsed = r.body;
    }
    const flat = {};
    for (const [k, v] of Object.entries(r.headers)) flat[k] = Array.isArray(v) ? v.join(", ") : String(v);
    return { status: r.status, headers: flat, body: parsed };
  }

  /**
   * Run one admin verb (`add-mailbox-permission`, `get-clock`, …). Parameters in camelCase
   * (or snake_case) are sent in snake_case; `get-*` verbs go as GET with a query string.
   */
  async admin(verb, params = {}) {
    const snake = toSnake(params);
    let r;
    if (verb.startsWith("get-")) {
      const qs = new URLSearchParams(Object.entries(snake).map(([k, v]) => [k, String(v)])).toString();
      r = await this.request("GET", `${this.httpsUrl}/_mock/admin/${verb}${qs ? `?${qs}` : ""}`);
    } else {
      const body = JSON.stringify(snake);
      r = await this.request("POST", `${this.httpsUrl}/_mock/admin/${verb}`, {
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        body,
      });
    }
    let parsed = null;
    if (r.body) {
      try {
        parsed = JSON.parse(r.body);
      } catch {
        parsed = { error: "not_json", message: r.body.slice(0, 500) };
      }
    }
    if (r.status >= 400) throw new AdminError(verb, r.status, parsed);
    return parsed;
  }

  /** Every journal entry so far, oldest first: `outcome`, `reason`, `fix`, `protocol`, … */
  async journal() {
    const entries = [];
    let after = 0;
    for (;;) {
      const page = await this.admin("get-journal", { after });
      const batch = page?.entries ?? [];
      entries.push(...batch);
      const last = batch.at(-1);
      if (batch.length < 1000 || typeof last?.seq !== "number") return entries;
      after = last.seq;
    }
  }

  /** The entries that say something went wrong: refused, not_connected, ended, fault. */
  async refusals() {
    return (await this.journal()).filter((e) => ["refused", "not_connected", "ended", "fault"].includes(e.outcome));
  }

  clearJournal() {
    return this.admin("clear-journal");
  }

  /** Move the server's clock forward (tokens issued before expire without sleeping). */
  advanceClock(seconds) {
    return this.admin("advance-clock", { seconds });
  }

  freezeClock() {
    return this.admin("freeze-clock");
  }

  resumeClock() {
    return this.admin("resume-clock");
  }

  clock() {
    return this.admin("get-clock");
  }

  /** Arm a fault, e.g. `armFault("token", "throttled", { retryAfter: 30, times: 1 })`. */
  armFault(hook, kind, fields = {}) {
    return this.admin("add-fault", { ...fields, hook, kind });
  }

  faults() {
    return this.admin("get-faults");
  }

  clearFaults() {
    return this.admin("clear-faults");
  }

  /** Deliver a message (RFC 5322 text or bytes) to a mailbox folder. */
  deliver(mailbox, eml, folder = "INBOX") {
    return Buffer.isBuffer(eml) || eml instanceof Uint8Array
      ? this.admin("deliver", { mailbox, folder, emlBase64: Buffer.from(eml).toString("base64") })
      : this.admin("deliver", { mailbox, folder, eml });
  }

  reset() {
    return this.admin("reset");
  }

  /** What the server wrote to stdout/stderr so far. */
  log() {
    try {
      return fs.readFileSync(path.join(this.workdir, "server.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** Stop the server (SIGTERM, then SIGKILL after 10 s) and remove its temporary folder. */
  stop() {
    if (!this._stopped) {
      this._stopped = (async () => {
        await stopChild(this._child);
        this._agent.destroy();
        await fsp.rm(this.workdir, { recursive: true, force: true });
      })();
    }
    return this._stopped;
  }
}

if (typeof Symbol.asyncDispose === "symbol") {
  M365Mock.prototype[Symbol.asyncDispose] = function dispose() {
    return this.stop();
  };
}

function stopChild(child) {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

function tail(file, limit = 4000) {
  try {
    const text = fs.readFileSync(file, "utf8");
    return text.slice(-limit) || "(no output)";
  } catch {
    return "(no output)";
  }
}

/**
 * Start mock-server on free ports with its own CA folder and temp dir.
 * @param {import("./index.d.cts").StartOptions} [options]
 */
async function start(options = {}) {
  const binary = findBinary(options.binary);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const workdir = await fsp.mkdtemp(path.join(os.tmpdir(), "m365-mock-"));
  const readyFile = path.join(workdir, "ready.json");
  const logFile = path.join(workdir, "server.log");
  const args = [];
  for (const flag of PORT_FLAGS) args.push(flag, "0");
  args.push("--ca-dir", options.caDir ?? path.join(workdir, "ca"), "--ready-file", readyFile, ...(options.args ?? []));

  const fd = fs.openSync(logFile, "w");
  let child;
  try {
    child = spawn(binary, args, { stdio: ["ignore", fd, fd], env: { ...process.env, ...(options.env ?? {}) } });
  } finally {
    fs.closeSync(fd);
  }
  child.unref();
  running.add(child);
  if (!exitHookInstalled) {
    process.on("exit", killAllOnExit);
    exitHookInstalled = true;
  }
  let spawnError = null;
  child.on("error", (e) => {
    spawnError = e;
  });

  const fail = async (message) => {
    await stopChild(child);
    const err = new MockServerError(`${message}; its output:\n${tail(logFile)}`, { binary });
    await fsp.rm(workdir, { recursive: true, force: true });
    return err;
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) throw await fail(`could not run ${binary}: ${spawnError.message}`);
    if (fs.existsSync(readyFile)) {
      try {
        const ready = JSON.parse(fs.readFileSync(readyFile, "utf8"));
        const ca = fs.readFileSync(ready.ca_file, "utf8");
        return new M365Mock(ready, child, workdir, ca);
      } catch {
        // written atomically; retry once more on the next tick
      }
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw await fail(`mock-server exited with ${child.exitCode ?? child.signalCode} before it was ready`);
    }
    if (Date.now() > deadline) throw await fail(`mock-server wrote no ready file within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { start, findBinary, demo, M365Mock, MockServerError, AdminError };
