package dev.m365mock.junit5;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs the {@code mock-server} binary (a fake Microsoft identity platform and fake
 * Exchange Online IMAP, SMTP and POP3 servers) for JUnit 5 tests.
 *
 * <pre>{@code
 * @RegisterExtension
 * static M365MockExtension m365 = new M365MockExtension();   // one server for the class
 *
 * @RegisterExtension
 * M365MockExtension m365 = new M365MockExtension();          // a fresh server per test
 * }</pre>
 *
 * <p>Every port is chosen by the system (port 0 on 127.0.0.1), and each server keeps its
 * own CA in a private temporary directory, deleted when it stops. The binary is the one
 * given to {@link #withBinary(Path)}, else the system property {@value #BINARY_PROPERTY},
 * else the environment variable {@value #BINARY_ENV}, else {@code mock-server} on the
 * {@code PATH}.
 *
 * <p>It can also be used without JUnit: {@link #start()} and {@link #close()}.
 */
public final class M365MockExtension
        implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback, AutoCloseable {

    /** System property naming the binary. */
    public static final String BINARY_PROPERTY = "m365mock.bin";
    /** Environment variable naming the binary. */
    public static final String BINARY_ENV = "M365_MOCK_BIN";
    /** The binary's name looked up on the PATH. */
    public static final String BINARY_NAME = "mock-server";

    private Path binary;
    private final List<String> extraArgs = new ArrayList<>();
    private Duration startTimeout = Duration.ofSeconds(30);
    private UnaryOperator<String> environment = System::getenv;

    private Process process;
    private Path workDir;
    private Map<String, Object> ready;
    private SSLContext sslContext;
    private HttpClient http;
    private boolean perClass;

    /** An extension with the default binary lookup and the demo tenant. */
    public M365MockExtension() {}

    /** Use this binary rather than looking for one. */
    public M365MockExtension withBinary(Path binary) {
        this.binary = Objects.requireNonNull(binary);
        return this;
    }

    /** More command-line arguments, e.g. {@code "--fixture", "tenant.json"} or {@code "--test-controls"}. */
    public M365MockExtension withArgs(String... args) {
        extraArgs.addAll(List.of(args));
        return this;
    }

    /** How long to wait for the server's ready file (default 30 s). */
    public M365MockExtension withStartTimeout(Duration timeout) {
        this.startTimeout = Objects.requireNonNull(timeout);
        return this;
    }

    /** For tests of the lookup itself: where environment variables (M365_MOCK_BIN, PATH) come from. */
    M365MockExtension withEnvironment(UnaryOperator<String> environment) {
        this.environment = Objects.requireNonNull(environment);
        return this;
    }

    // ---- JUnit callbacks -------------------------------------------------------------

    @Override
    public void beforeAll(ExtensionContext context) {
        // Only called for a static field: one server for the whole class.
        perClass = true;
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (perClass) {
            close();
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        if (!perClass) {
            start();
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        if (!perClass) {
            close();
        }
    }

    // ---- life cycle --------------------------------------------------------------------

    /** Starts the server and waits for its ready file; {@link M365MockException} says why not. */
    public synchronized void start() {
        if (process != null) {
            throw new IllegalStateException("mock-server is already running");
        }
        Path bin = binary != null ? checkExecutable(binary, "withBinary(...)") : locateBinary();
        try {
            workDir = Files.createTempDirectory("m365mock-");
        } catch (IOException e) {
            throw new M365MockException("cannot create a temporary directory for mock-server", e);
        }
        Path readyFile = workDir.resolve("ready.json");
        Path log = workDir.resolve("server.log");
        List<String> command = new ArrayList<>(List.of(
                bin.toString(),
                "--https-port", "0", "--imaps-port", "0", "--imap-port", "0",
                "--smtp-port", "0", "--pop3s-port", "0", "--pop3-port", "0",
                "--ca-dir", workDir.resolve("ca").toString(),
                "--ready-file", readyFile.toString()));
        command.addAll(extraArgs);
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.PIPE);
        try {
            process = pb.start();
        } catch (IOException e) {
            cleanUp();
            throw new M365MockException("cannot run " + bin + ": " + e.getMessage(), e);
        }
        try {
            ready = awaitReady(readyFile, log, bin);
            sslContext = buildSslContext(caFile());
            http = HttpClient.newBuilder()
                    .sslContext(sslContext)
                    .connectTimeout(Duration.ofSeconds(10))
                    .build();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private Map<String, Object> awaitReady(Path readyFile, Path log, Path bin) {
        long deadline = System.nanoTime() + startTimeout.toNanos();
        while (true) {
            if (Files.exists(readyFile)) {
                try {
                    return Json.parseObject(Files.readString(readyFile));
                } catch (IOException | IllegalArgumentException e) {
                    // The server writes it atomically (rename); a failure here is worth a retry.
                }
            }
            if (!process.isAlive()) {
                throw new M365MockException(bin + " exited with status " + process.exitValue()
                        + " before writing its ready file; its output:\n" + tail(log));
            }
            if (System.nanoTime() > deadline) {
                throw new M365MockException(bin + " wrote no ready file within " + startTimeout.toMillis()
                        + " ms; its output so far:\n" + tail(log));
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new M365MockException("interrupted while waiting for mock-server", e);
            }
        }
    }

    private static String tail(Path log) {
        try {
            String s = Files.readString(log);
            if (s.isBlank()) {
                return "(no output)";
            }
            return s.length() > 4000 ? "…" + s.substring(s.length() - 4000) : s;
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** Stops the server (SIGTERM, then SIGKILL after 10 s) and deletes its directory. */
    @Override
    public synchronized void close() {
        if (process != null) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
            process = null;
        }
        cleanUp();
        ready = null;
        sslContext = null;
        http = null;
    }

    private void cleanUp() {
        if (workDir == null) {
            return;
        }
        try (Stream<Path> paths = Files.walk(workDir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // Best effort: a temporary directory left behind is not worth failing a test.
        }
        workDir = null;
    }

    // ---- finding the binary ------------------------------------------------------------

    Path locateBinary() {
        List<String> looked = new ArrayList<>();
        String prop = System.getProperty(BINARY_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return checkExecutable(Paths.get(prop), "system property " + BINARY_PROPERTY);
        }
        looked.add("system property " + BINARY_PROPERTY + " (not set)");
        String env = environment.apply(BINARY_ENV);
        if (env != null && !env.isBlank()) {
            return checkExecutable(Paths.get(env), "environment variable " + BINARY_ENV);
        }
        looked.add("environment variable " + BINARY_ENV + " (not set)");
        String path = environment.apply("PATH");
        if (path != null) {
            for (String dir : path.split(File.pathSeparator)) {
                if (dir.isEmpty()) {
                    continue;
                }
                Path candidate = Paths.get(dir, BINARY_NAME);
                if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                    return candidate;
                }
            }
        }
        looked.add(BINARY_NAME + " on the PATH (" + (path == null ? "PATH not set" : path) + ")");
        throw new M365MockException("mock-server binary not found; looked at: " + String.join("; ", looked)
                + ". Build it with `cargo build -p mock-server` and pass -D" + BINARY_PROPERTY
                + "=/path/to/target/debug/mock-server (or set " + BINARY_ENV + ").");
    }

    private static Path checkExecutable(Path p, String source) {
        if (!Files.isRegularFile(p)) {
            throw new M365MockException("mock-server binary not found: " + source + " names " + p
                    + ", which does not exist (or is not a file)");
        }
        if (!Files.isExecutable(p)) {
            throw new M365MockException("mock-server binary not executable: " + source + " names " + p);
        }
        return p;
    }

    // ---- what the ready file says --------------------------------------------------------

    private Map<String, Object> ready() {
        if (ready == null) {
            throw new IllegalStateException("mock-server is not running (was the extension registered with @RegisterExtension?)");
        }
        return ready;
    }

    private String readyString(String key) {
        Object v = ready().get(key);
        if (v == null) {
            throw new M365MockException("the ready file has no " + key + ": " + ready().keySet());
        }
        return v.toString();
    }

    /** The whole ready file, as parsed JSON. */
    public Map<String, Object> readyInfo() {
        return java.util.Collections.unmodifiableMap(ready());
    }

    /** {@code https://127.0.0.1:PORT}: the identity platform and the admin API. */
    public String httpsUrl() {
        return readyString("https_url");
    }

    /** The PEM file of the server's CA (it signed every TLS certificate the server shows). */
    public Path caFile() {
        return Paths.get(readyString("ca_file"));
    }

    /**
     * The first tenant's authority as the ready file gives it (Contoso in the demo tenant):
     * {@code https://127.0.0.1:PORT/<tenant id>}.
     */
    public String authority() {
        List<Map<String, Object>> tenants = tenants();
        if (tenants.isEmpty() || tenants.get(0).get("authority") == null) {
            throw new M365MockException("the ready file lists no tenant with an authority");
        }
        return tenants.get(0).get("authority").toString();
    }

    /**
     * The authority of a tenant named by one of its domains or its id, in that form, e.g.
     * {@code authority("contoso.onmicrosoft.com")} is {@code https://127.0.0.1:PORT/contoso.onmicrosoft.com}.
     * {@link M365MockException} when the server has no such tenant.
     */
    public String authority(String tenant) {
        for (Map<String, Object> t : tenants()) {
            Object domains = t.get("domains");
            if (tenant.equals(t.get("id"))
                    || (domains instanceof Collection && ((Collection<?>) domains).contains(tenant))) {
                return httpsUrl() + "/" + tenant;
            }
        }
        throw new M365MockException("no tenant " + tenant + " in the ready file (tenants: " + ready().get("tenants") + ")");
    }

    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> tenants() {
        Object t = ready().get("tenants");
        if (!(t instanceof List)) {
            return List.of();
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : (List<Object>) t) {
            if (o instanceof Map) {
                out.add((Map<String, Object>) o);
            }
        }
        return out;
    }

    private String host(String key) {
        String addr = readyString(key);
        return addr.substring(0, addr.lastIndexOf(':'));
    }

    private int port(String key) {
        String addr = readyString(key);
        return Integer.parseInt(addr.substring(addr.lastIndexOf(':') + 1));
    }

    /** IMAP over implicit TLS (as outlook.office365.com:993). */
    public String imapsHost() {
        return host("imaps_addr");
    }

    public int imapsPort() {
        return port("imaps_addr");
    }

    /** IMAP with STARTTLS (as outlook.office365.com:143). */
    public String imapHost() {
        return host("imap_addr");
    }

    public int imapPort() {
        return port("imap_addr");
    }

    /** SMTP submission with STARTTLS (as smtp.office365.com:587). */
    public String smtpHost() {
        return host("smtp_addr");
    }

    public int smtpPort() {
        return port("smtp_addr");
    }

    /** POP3 over implicit TLS (as outlook.office365.com:995). */
    public String pop3sHost() {
        return host("pop3s_addr");
    }

    public int pop3sPort() {
        return port("pop3s_addr");
    }

    /** POP3 with STLS (as outlook.office365.com:110). */
    public String pop3Host() {
        return host("pop3_addr");
    }

    public int pop3Port() {
        return port("pop3_addr");
    }

    // ---- trust -------------------------------------------------------------------------

    /** A TLS context that trusts the server's CA (and nothing else). */
    public SSLContext sslContext() {
        ready();
        return sslContext;
    }

    /** {@code sslContext().getSocketFactory()}: for msal4j's {@code sslSocketFactory} and Jakarta Mail's {@code mail.imaps.ssl.socketFactory}. */
    public SSLSocketFactory sslSocketFactory() {
        return sslContext().getSocketFactory();
    }

    /** An in-memory PKCS#12 trust store holding the server's CA. */
    public KeyStore trustStore() {
        return loadTrustStore(caFile());
    }

    private static KeyStore loadTrustStore(Path ca) {
        try (InputStream in = Files.newInputStream(ca)) {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            int i = 0;
            for (Certificate cert : cf.generateCertificates(in)) {
                ks.setCertificateEntry("m365mock-ca-" + i++, cert);
            }
            if (i == 0) {
                throw new M365MockException("no certificate in " + ca);
            }
            return ks;
        } catch (IOException | GeneralSecurityException e) {
            throw new M365MockException("cannot read the CA " + ca + ": " + e.getMessage(), e);
        }
    }

    private static SSLContext buildSslContext(Path ca) {
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(loadTrustStore(ca));
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new M365MockException("cannot build a TLS context for " + ca + ": " + e.getMessage(), e);
        }
    }

    // ---- admin API ---------------------------------------------------------------------

    /**
     * Calls an admin verb ({@code mock-server admin --help} lists them; parameters in
     * snake_case, as in docs/runtime-control.md) and returns the server's JSON answer.
     * {@code get-*} verbs are sent as {@code GET ?name=value}, others as a JSON {@code POST}.
     * A refusal throws {@link M365MockException} with the server's message and status.
     */
    public Map<String, Object> admin(String verb, Map<String, ?> params) {
        Map<String, ?> p = params == null ? Map.of() : params;
        String base = httpsUrl() + "/_mock/admin/" + verb;
        HttpRequest.Builder rb;
        if (verb.startsWith("get-")) {
            StringBuilder q = new StringBuilder();
            for (Map.Entry<String, ?> e : p.entrySet()) {
                q.append(q.length() == 0 ? '?' : '&')
                        .append(URLEncoder.encode(e.getKey(), StandardCharsets.UTF_8))
                        .append('=')
                        .append(URLEncoder.encode(String.valueOf(e.getValue()), StandardCharsets.UTF_8));
            }
            rb = HttpRequest.newBuilder(URI.create(base + q)).GET();
        } else {
            rb = HttpRequest.newBuilder(URI.create(base))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(Json.write(p)));
        }
        HttpResponse<String> response;
        try {
            response = http.send(rb.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new M365MockException("admin " + verb + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new M365MockException("admin " + verb + ": interrupted", e);
        }
        String body = response.body();
        Map<String, Object> answer;
        try {
            answer = body == null || body.isBlank() ? new LinkedHashMap<>() : Json.parseObject(body);
        } catch (IllegalArgumentException e) {
            answer = new LinkedHashMap<>(Map.of("message", body));
        }
        if (response.statusCode() / 100 != 2) {
            Object message = answer.getOrDefault("message", body);
            Object error = answer.getOrDefault("error", "error");
            throw new M365MockException("admin " + verb + " refused (HTTP " + response.statusCode() + ", "
                    + error + "): " + message, response.statusCode(), null);
        }
        return answer;
    }

    /** {@code Add-MailboxPermission -Identity identity -User user -AccessRights rights}. */
    public Map<String, Object> addMailboxPermission(String identity, String user, String rights) {
        return admin("add-mailbox-permission", Map.of("identity", identity, "user", user, "access_rights", rights));
    }

    /** {@code Remove-MailboxPermission -Identity identity -User user -AccessRights rights}. */
    public Map<String, Object> removeMailboxPermission(String identity, String user, String rights) {
        return admin("remove-mailbox-permission", Map.of("identity", identity, "user", user, "access_rights", rights));
    }

    /** {@code Set-CASMailbox -Identity identity -ImapEnabled enabled}. */
    public Map<String, Object> setImapEnabled(String identity, boolean enabled) {
        return admin("set-cas-mailbox", Map.of("identity", identity, "imap_enabled", enabled));
    }

    /** Delivers an RFC 5322 message to a mailbox's INBOX; returns the server's answer (with the new uid). */
    public Map<String, Object> deliver(String mailbox, String eml) {
        return admin("deliver", Map.of("mailbox", mailbox, "eml", eml));
    }

    /** Moves the server's clock forward, so tokens expire without sleeping. */
    public Map<String, Object> advanceClock(long seconds) {
        return admin("advance-clock", Map.of("seconds", seconds));
    }

    /** Back to the fixture: directory, mail, signing keys, sign-ins and faults (clock and journal kept). */
    public Map<String, Object> reset() {
        return admin("reset", Map.of());
    }

    /** Empties the journal. */
    public Map<String, Object> clearJournal() {
        return admin("clear-journal", Map.of());
    }

    /** Every journal entry, oldest first (all pages). */
    @SuppressWarnings("unchecked")
    public List<JournalEntry> journal() {
        List<JournalEntry> out = new ArrayList<>();
        long after = 0;
        while (true) {
            Map<String, Object> page = admin("get-journal", after == 0 ? Map.of() : Map.of("after", after));
            Object entries = page.get("entries");
            if (!(entries instanceof List) || ((List<Object>) entries).isEmpty()) {
                return out;
            }
            for (Object e : (List<Object>) entries) {
                JournalEntry entry = JournalEntry.from((Map<String, Object>) e);
                out.add(entry);
                after = Math.max(after, entry.seq());
            }
        }
    }

    @Override
    public String toString() {
        return ready == null ? "M365MockExtension(not running)" : "M365MockExtension(" + httpsUrl() + ")";
    }
}
