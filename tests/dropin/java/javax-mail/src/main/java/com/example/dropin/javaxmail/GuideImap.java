package com.example.dropin.javaxmail;

import com.example.dropin.Checks;
import com.example.dropin.Demo;
import com.example.dropin.GuideProperties;
import com.example.dropin.GuideToken;
import com.microsoft.aad.msal4j.IAuthenticationResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import javax.mail.AuthenticationFailedException;
import javax.mail.Folder;
import javax.mail.Message;
import javax.mail.Session;
import javax.mail.Store;

/**
 * The guide's steps 2 and 3 with javax.mail 1.6.2, the API the guide's code uses: a token
 * from msal4j, then {@code store.connect(host, user, access_token)} to
 * outlook.office365.com with the guide's properties, and nothing else (default SSL:
 * the JDK's cacerts).
 */
public final class GuideImap {
    private GuideImap() {}

    /** The INBOX's subjects, read the way the Flowable post lists them. */
    static List<String> listInbox(Properties props, String token) throws Exception {
        Session session = Session.getInstance(props);
        Store store = session.getStore("imaps");
        store.connect(Demo.HOST, Demo.USER, token);
        try {
            Folder inbox = store.getFolder("INBOX");
            inbox.open(Folder.READ_ONLY);
            List<String> subjects = new ArrayList<>();
            for (Message m : inbox.getMessages()) {
                System.out.println("Mail Received: " + m.getFrom()[0] + " -[" + m.getSentDate() + "] " + m.getSubject());
                subjects.add(m.getSubject());
            }
            inbox.close(false);
            return subjects;
        } finally {
            store.close();
        }
    }

    static String inboxAsExpected(Properties props, String token) throws Exception {
        if (token == null) {
            throw new AssertionError("no token: its msal4j check failed");
        }
        List<String> subjects = listInbox(props, token);
        if (!subjects.equals(Demo.INBOX_SUBJECTS)) {
            throw new AssertionError("INBOX subjects " + subjects + ", expected " + Demo.INBOX_SUBJECTS);
        }
        return subjects.size() + " messages: " + String.join(", ", subjects);
    }

    static String token(IAuthenticationResult result, String clientId) {
        if (result == null) {
            throw new AssertionError("the guide's acquireToken() returned null (its stack trace is above)");
        }
        Demo.assertClaim(result.accessToken(), "aud", "https://outlook.office365.com");
        Demo.assertClaim(result.accessToken(), "appid", clientId);
        return result.accessToken();
    }

    public static void main(String[] args) {
        Checks checks = new Checks("javax.mail: ");
        String[] secretToken = new String[1];
        String[] certToken = new String[1];
        checks.check("msal4j (the guide's code, client secret), authority https://login.microsoftonline.com/"
                + Demo.TENANT_ID + "/v2.0", () -> {
                    secretToken[0] = token(GuideToken.acquireToken(Demo.POLLER, Demo.POLLER_SECRET, Demo.TENANT_ID), Demo.POLLER);
                    return null;
                });
        checks.check("msal4j with a certificate (mail-poller.pfx), authority https://login.microsoftonline.com/"
                + Demo.TENANT_DOMAIN + "/v2.0", () -> {
                    certToken[0] = token(GuideToken.acquireTokenWithCertificate(
                            Demo.POLLER, Demo.pollerPfx(), Demo.POLLER_PFX_PASSWORD, Demo.TENANT_DOMAIN), Demo.POLLER);
                    return null;
                });
        checks.check("the guide's properties, store.connect(\"outlook.office365.com\", user, token), INBOX",
                () -> inboxAsExpected(GuideProperties.microsoft(), secretToken[0]));
        checks.check("Flowable's properties, the certificate's token, INBOX",
                () -> inboxAsExpected(GuideProperties.flowable(Demo.USER), certToken[0]));
        checks.check("app 03 (no Exchange service principal): AuthenticationFailedException \"AUTHENTICATE failed.\"", () -> {
            String token = token(GuideToken.acquireToken(Demo.NOT_REGISTERED, Demo.NOT_REGISTERED_SECRET, Demo.TENANT_ID),
                    Demo.NOT_REGISTERED);
            try {
                listInbox(GuideProperties.microsoft(), token);
            } catch (AuthenticationFailedException e) {
                if (!"AUTHENTICATE failed.".equals(e.getMessage())) {
                    throw new AssertionError("message " + e.getMessage(), e);
                }
                return e.getClass().getName() + ": " + e.getMessage();
            }
            throw new AssertionError("store.connect() signed in");
        });
        System.exit(checks.finish());
    }
}
