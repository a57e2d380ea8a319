package dev.m365mock.junit5;

import com.microsoft.aad.msal4j.ClientCredentialFactory;
import com.microsoft.aad.msal4j.ClientCredentialParameters;
import com.microsoft.aad.msal4j.ConfidentialClientApplication;
import jakarta.mail.Folder;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.Store;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.Set;

/** The demo tenant's ids (README.md) and the two real clients the tests drive. */
final class Demo {
    static final String POLLER_CLIENT_ID = "00000000-0000-4000-8000-00000000a001";
    static final String POLLER_SECRET = "poller-secret-value";
    /** App 01's enterprise application (service principal) object id. */
    static final String POLLER_SP_OBJECT_ID = "00000000-0000-4000-8000-00000000c001";
    static final String WRONG_OID_CLIENT_ID = "00000000-0000-4000-8000-00000000a002";
    static final String WRONG_OID_SECRET = "wrong-oid-secret";
    static final String MAILBOX = "test.user@contoso.com";
    static final String SCOPE = "https://outlook.office365.com/.default";

    private Demo() {}

    /** A client-credentials token from msal4j, trusting only the mock's CA. */
    static String token(M365MockExtension m365, String clientId, String secret) throws Exception {
        ConfidentialClientApplication app = ConfidentialClientApplication
                .builder(clientId, ClientCredentialFactory.createFromSecret(secret))
                .authority(m365.authority("contoso.onmicrosoft.com") + "/")
                // No validateAuthority(false): the mock answers msal4j's instance discovery itself.
                .sslSocketFactory(m365.sslSocketFactory())
                .build();
        return app.acquireToken(ClientCredentialParameters.builder(Set.of(SCOPE)).build()).get().accessToken();
    }

    /**
     * A client-credentials token by a plain form POST with java.net.http (trusting the CA
     * through {@link M365MockExtension#sslContext()}), as curl would ask for it.
     */
    static String tokenOverHttp(M365MockExtension m365, String clientId, String secret) throws Exception {
        String form = "grant_type=client_credentials"
                + "&client_id=" + URLEncoder.encode(clientId, StandardCharsets.UTF_8)
                + "&client_secret=" + URLEncoder.encode(secret, StandardCharsets.UTF_8)
                + "&scope=" + URLEncoder.encode(SCOPE, StandardCharsets.UTF_8);
        HttpClient http = HttpClient.newBuilder().sslContext(m365.sslContext()).build();
        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(URI.create(m365.authority("contoso.onmicrosoft.com") + "/oauth2/v2.0/token"))
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .POST(HttpRequest.BodyPublishers.ofString(form))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new AssertionError("token request refused: HTTP " + r.statusCode() + " " + r.body());
        }
        Object token = Json.parseObject(r.body()).get("access_token");
        if (token == null) {
            throw new AssertionError("no access_token in the token response");
        }
        return token.toString();
    }

    /** An IMAPS store signed in with XOAUTH2 (connect() throws on refusal). */
    static Store imapStore(M365MockExtension m365, String user, String token) throws MessagingException {
        Properties props = new Properties();
        props.put("mail.imaps.auth.mechanisms", "XOAUTH2");
        props.put("mail.imaps.ssl.socketFactory", m365.sslSocketFactory());
        props.put("mail.imaps.ssl.checkserveridentity", "true");
        props.put("mail.imaps.connectiontimeout", "10000");
        props.put("mail.imaps.timeout", "30000");
        Store store = Session.getInstance(props).getStore("imaps");
        store.connect(m365.imapsHost(), m365.imapsPort(), user, token);
        return store;
    }

    /** How many messages the INBOX holds, read over IMAP. */
    static int inboxCount(M365MockExtension m365, String user, String token) throws MessagingException {
        Store store = imapStore(m365, user, token);
        try {
            Folder inbox = store.getFolder("INBOX");
            inbox.open(Folder.READ_ONLY);
            try {
                return inbox.getMessageCount();
            } finally {
                inbox.close(false);
            }
        } finally {
            store.close();
        }
    }
}
