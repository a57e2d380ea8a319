package com.example.dropin.javaxmail;

import com.example.dropin.Checks;
import com.example.dropin.Demo;
import com.example.dropin.GuideProperties;
import com.microsoft.aad.msal4j.DeviceCode;
import com.microsoft.aad.msal4j.DeviceCodeFlowParameters;
import com.microsoft.aad.msal4j.IAuthenticationResult;
import com.microsoft.aad.msal4j.PublicClientApplication;
import com.microsoft.aad.msal4j.SilentParameters;
import com.microsoft.aad.msal4j.UserNamePasswordParameters;
import java.net.CookieManager;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Beyond the guide: msal4j's public-client flows for a user's own mailbox (app 08, Desktop
 * Mail Client), with msal4j's usual authorities, then javax.mail with the guide's
 * properties and the delegated token.
 */
public final class DelegatedImap {
    private DelegatedImap() {}

    static final String DESKTOP = "00000000-0000-4000-8000-00000000a008";
    static final String PASSWORD = "Passw0rd!";
    static final Set<String> IMAP = Set.of("https://outlook.office.com/IMAP.AccessAsUser.All");

    static String userToken(IAuthenticationResult r) {
        Demo.assertClaim(r.accessToken(), "upn", Demo.USER);
        Demo.assertClaim(r.accessToken(), "aud", "https://outlook.office.com");
        return r.accessToken();
    }

    /** A person on the verification page msal4j printed (Microsoft's own URL), signing in. */
    static void approve(DeviceCode code, AtomicReference<Exception> failure) {
        try {
            HttpClient http = HttpClient.newBuilder().cookieHandler(new CookieManager()).build();
            String otc = "otc=" + URLEncoder.encode(code.userCode(), StandardCharsets.UTF_8);
            String signIn = otc + "&login=" + URLEncoder.encode(Demo.USER, StandardCharsets.UTF_8)
                    + "&passwd=" + URLEncoder.encode(PASSWORD, StandardCharsets.UTF_8) + "&action=accept";
            String page = "";
            for (String form : new String[] {otc, signIn}) {
                page = http.send(HttpRequest.newBuilder(URI.create(code.verificationUri()))
                                .header("Content-Type", "application/x-www-form-urlencoded")
                                .POST(HttpRequest.BodyPublishers.ofString(form))
                                .build(),
                        HttpResponse.BodyHandlers.ofString()).body();
            }
            if (!page.contains("You have signed in")) {
                throw new IllegalStateException("the verification page did not sign the person in: " + page);
            }
        } catch (Exception e) {
            failure.set(e);
        }
    }

    /**
     * msal4j deprecates the password grant (ROPC), as Microsoft discourages it; existing
     * code still calls it, and Entra still answers it for accounts without MFA.
     */
    @SuppressWarnings("deprecation")
    static IAuthenticationResult passwordGrant(PublicClientApplication app) throws Exception {
        return app.acquireToken(UserNamePasswordParameters.builder(IMAP, Demo.USER, PASSWORD.toCharArray()).build()).get();
    }

    public static void main(String[] args) {
        Checks checks = new Checks("javax.mail: ");
        checks.check("msal4j password grant (PublicClientApplication, authority https://login.microsoftonline.com/"
                + Demo.TENANT_DOMAIN + "/), then the guide's properties: INBOX", () -> {
                    PublicClientApplication app = PublicClientApplication.builder(DESKTOP)
                            .authority("https://login.microsoftonline.com/" + Demo.TENANT_DOMAIN + "/")
                            .build();
                    IAuthenticationResult r = passwordGrant(app);
                    String first = userToken(r);
                    IAuthenticationResult again = app.acquireTokenSilently(
                            SilentParameters.builder(IMAP, r.account()).forceRefresh(true).build()).get();
                    if (userToken(again).equals(first)) {
                        throw new AssertionError("acquireTokenSilently(forceRefresh) returned the cached token");
                    }
                    return "refreshed silently; " + GuideImap.inboxAsExpected(GuideProperties.microsoft(), again.accessToken());
                });
        checks.check("msal4j device code flow on https://login.microsoftonline.com/organizations/, approved on the page it printed",
                () -> {
                    PublicClientApplication app = PublicClientApplication.builder(DESKTOP)
                            .authority("https://login.microsoftonline.com/organizations/")
                            .build();
                    AtomicReference<Exception> failure = new AtomicReference<>();
                    Thread[] person = new Thread[1];
                    IAuthenticationResult r = app.acquireToken(DeviceCodeFlowParameters.builder(IMAP, code -> {
                        System.out.println(code.message());
                        person[0] = new Thread(() -> approve(code, failure));
                        person[0].start();
                    }).build()).get();
                    person[0].join(30_000);
                    if (failure.get() != null) {
                        throw failure.get();
                    }
                    return "token for " + r.account().username() + "; "
                            + GuideImap.inboxAsExpected(GuideProperties.microsoft(), userToken(r));
                });
        System.exit(checks.finish());
    }
}
