/// <reference types="node" />

export interface StartOptions {
  /** The mock-server binary (default: $M365_MOCK_BIN, else the one in this package). */
  binary?: string;
  /** Extra mock-server flags, e.g. `["--token-lifetime", "600"]`. */
  args?: string[];
  /** Where the CA is kept (default: a private temp folder removed by `stop()`). */
  caDir?: string;
  /** How long to wait for the ready file (default 30000). */
  timeoutMs?: number;
  /** Extra environment for the server process. */
  env?: Record<string, string>;
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface Tenant {
  id: string;
  domains: string[];
  authority: string;
  [key: string]: unknown;
}

/** A journal entry: one token request, mail authentication, fault or admin change. */
export interface JournalEntry {
  seq: number;
  outcome: "issued" | "refused" | "authenticated" | "not_connected" | "ended" | "fault" | "admin" | "delivered" | string;
  protocol?: string;
  reason?: string | null;
  fix?: string | null;
  [key: string]: unknown;
}

export interface DemoApp {
  displayName: string;
  clientId: string;
  objectId: string;
  servicePrincipalId: string;
  secret: string;
}

export declare const demo: {
  readonly tenantId: string;
  readonly tenantDomain: string;
  readonly fabrikamTenantId: string;
  readonly scope: string;
  readonly testUser: string;
  readonly sharedInbox: string;
  readonly testUserSubjects: readonly string[];
  readonly poller: DemoApp;
};

/** msal-node's INetworkModule shape. */
export interface NetworkClient {
  sendGetRequestAsync<T>(url: string, options?: { headers?: Record<string, string>; body?: string }, timeout?: number): Promise<{ headers: Record<string, string>; body: T; status: number }>;
  sendPostRequestAsync<T>(url: string, options?: { headers?: Record<string, string>; body?: string }): Promise<{ headers: Record<string, string>; body: T; status: number }>;
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export declare class M365Mock {
  readonly ready: Record<string, unknown>;
  readonly workdir: string;
  readonly httpsUrl: string;
  readonly caFile: string;
  /** The CA certificate (PEM). */
  readonly ca: string;
  readonly tenants: Tenant[];
  readonly imaps: Endpoint;
  readonly imap: Endpoint;
  readonly smtp: Endpoint;
  readonly pop3s: Endpoint;
  readonly pop3: Endpoint;
  readonly demo: typeof demo;
  /** An msal-node `system.networkClient` trusting only this server's CA. */
  readonly networkClient: NetworkClient;
  /** Contoso's authority. */
  readonly authority: string;
  /** `["127.0.0.1:PORT"]`, for msal-node's `knownAuthorities`. */
  readonly knownAuthorities: string[];
  readonly tokenEndpoint: string;
  authorityFor(tenant?: string): string;
  request(method: string, url: string, init?: { headers?: Record<string, string | number>; body?: string | Buffer }): Promise<HttpReply>;
  /** An admin verb; camelCase parameters are sent in snake_case. */
  admin<T = any>(verb: string, params?: Record<string, unknown>): Promise<T>;
  journal(): Promise<JournalEntry[]>;
  refusals(): Promise<JournalEntry[]>;
  clearJournal(): Promise<unknown>;
  advanceClock(seconds: number): Promise<unknown>;
  freezeClock(): Promise<unknown>;
  resumeClock(): Promise<unknown>;
  clock(): Promise<unknown>;
  armFault(hook: string, kind: string, fields?: Record<string, unknown>): Promise<unknown>;
  faults(): Promise<unknown>;
  clearFaults(): Promise<unknown>;
  deliver(mailbox: string, eml: string | Uint8Array, folder?: string): Promise<unknown>;
  reset(): Promise<unknown>;
  log(): string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export declare class MockServerError extends Error {
  binary?: string;
}

export declare class AdminError extends MockServerError {
  verb: string;
  status: number;
  error?: string;
  serverMessage?: string;
}

export declare function start(options?: StartOptions): Promise<M365Mock>;
export declare function findBinary(explicit?: string): string;
