package com.example.m365mock.interop;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The real mock-server binary on port 0 everywhere, read from its ready file, and a TLS
 * context that trusts its CA through a truststore (as an application configures Java).
 */
final class MockServerProcess implements AutoCloseable {
    private static final Duration STEP = Duration.ofSeconds(15);

    private final Process process;
    private final Path dir;
    private final String ready;
    final SSLContext tls;

    private MockServerProcess(Process process, Path dir, String ready, SSLContext tls) {
        this.process = process;
        this.dir = dir;
        this.ready = ready;
        this.tls = tls;
    }

    static MockServerProcess start() throws IOException, InterruptedException, GeneralSecurityException {
        String bin = System.getenv().getOrDefault("MOCK_SERVER_BIN", System.getProperty("m365mock.bin"));
        Path dir = Files.createTempDirectory("mock-server-java-");
        Path readyFile = dir.resolve("ready.json");
        Process p = new ProcessBuilder(bin, "--https-port", "0", "--imaps-port", "0", "--imap-port", "0",
                "--pop3s-port", "0", "--pop3-port", "0", "--smtp-port", "0", "--ca-dir", dir.resolve("ca").toString(),
                "--ready-file", readyFile.toString())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("server.log").toFile())
                .start();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        String ready = null;
        while (ready == null) {
            if (!p.isAlive()) {
                throw new IOException("mock-server exited with " + p.exitValue() + "; see " + dir.resolve("server.log"));
            }
            if (System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new IOException("mock-server wrote no ready file within 30 s");
            }
            // The file may be seen before it is complete: wait for its closing brace.
            if (Files.exists(readyFile)) {
                String text = Files.readString(readyFile).trim();
                if (text.endsWith("}")) {
                    ready = text;
                }
            }
            if (ready == null) {
                Thread.sleep(20);
            }
        }
        SSLContext tls = trusting(Path.of(field(ready, "ca_file")));
        return new MockServerProcess(p, dir, ready, tls);
    }

    /** A string field of the ready file (flat JSON, no escapes in these values). */
    private static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
        if (!m.find()) {
            throw new IllegalStateException("ready file has no " + name + ": " + json);
        }
        return m.group(1);
    }

    String field(String name) {
        return field(ready, name);
    }

    String host(String addrField) {
        String a = field(addrField);
        return a.substring(0, a.lastIndexOf(':'));
    }

    int port(String addrField) {
        String a = field(addrField);
        return Integer.parseInt(a.substring(a.lastIndexOf(':') + 1));
    }

    /** A truststore holding only the mock's CA. */
    private static SSLContext trusting(Path caFile) throws IOException, GeneralSecurityException {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        int i = 0;
        for (var c : cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(caFile)))) {
            trust.setCertificateEntry("mock-ca-" + i++, (X509Certificate) c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    /** A client-credentials token of a demo app for https://outlook.office365.com/.default. */
    String appToken(String clientId, String secret) throws IOException, InterruptedException {
        Map<String, String> form = Map.of(
                "grant_type", "client_credentials",
                "client_id", clientId,
                "client_secret", secret,
                "scope", "https://outlook.office365.com/.default");
        String body = form.entrySet().stream()
                .map(e -> e.getKey() + "=" + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8))
                .collect(Collectors.joining("&"));
        HttpClient http = HttpClient.newBuilder().sslContext(tls).connectTimeout(STEP).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create(field("https_url") + "/contoso.onmicrosoft.com/oauth2/v2.0/token"))
                .timeout(STEP)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
        return field(r.body(), "access_token");
    }

    @Override
    public void close() throws IOException {
        process.destroy();
        try {
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            // Still remove the folder below; keep the interrupt for the caller.
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(f);
            }
        }
    }
}
