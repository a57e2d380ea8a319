package com.example.dropin;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

/** The demo tenant (README.md, docs: demo-tenant) as a user's configuration would name it. */
public final class Demo {
    private Demo() {}

    /** Contoso's tenant id: the guide's {tenant_id}. */
    public static final String TENANT_ID = "c0ffee00-1111-4222-8333-444455556666";
    public static final String TENANT_DOMAIN = "contoso.onmicrosoft.com";
    /** Microsoft's IMAP host, resolved to the mock only by the hosts file. */
    public static final String HOST = "outlook.office365.com";
    public static final String USER = "test.user@contoso.com";
    /** App 01, Mail Poller: everything set up. */
    public static final String POLLER = "00000000-0000-4000-8000-00000000a001";
    public static final String POLLER_SECRET = "poller-secret-value";
    /** App 01's certificate as PKCS#12 (fixtures/certs/mail-poller.pfx). */
    public static final String POLLER_PFX_PASSWORD = "mail-poller";
    /** App 03, Not Registered: a valid token, but no Exchange service principal. */
    public static final String NOT_REGISTERED = "00000000-0000-4000-8000-00000000a003";
    public static final String NOT_REGISTERED_SECRET = "not-registered-secret";
    /** test.user's INBOX, oldest first. */
    public static final List<String> INBOX_SUBJECTS = List.of("Test Mail", "Test 2 Process", "How are you?", "My Mail");

    /** fixtures/certs/mail-poller.pfx, from the repository root (or -Ddropin.certs=DIR). */
    public static Path pollerPfx() {
        return Path.of(System.getProperty("dropin.certs", "fixtures/certs"), "mail-poller.pfx");
    }

    /** The token's claims as JSON text (enough to look for one claim). */
    public static String claims(String jwt) {
        String[] parts = jwt.split("\\.");
        if (parts.length < 2) {
            throw new AssertionError("not a JWT: " + jwt);
        }
        return new String(Base64.getUrlDecoder().decode(parts[1]), StandardCharsets.UTF_8);
    }

    /** Fails unless the claims hold {@code "name":"value"}. */
    public static void assertClaim(String jwt, String name, String value) {
        String json = claims(jwt);
        if (!json.contains("\"" + name + "\":\"" + value + "\"")) {
            throw new AssertionError("claim " + name + " is not " + value + " in " + json);
        }
    }
}
