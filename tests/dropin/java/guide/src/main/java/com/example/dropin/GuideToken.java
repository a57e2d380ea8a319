package com.example.dropin;

import com.microsoft.aad.msal4j.ClientCredentialFactory;
import com.microsoft.aad.msal4j.ClientCredentialParameters;
import com.microsoft.aad.msal4j.ConfidentialClientApplication;
import com.microsoft.aad.msal4j.IAuthenticationResult;
import com.microsoft.aad.msal4j.IClientCredential;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Step 2 of Microsoft's "Authenticate an IMAP connection using OAuth 2.0": the guide's
 * {@code acquireToken()} as printed there, its three string constants made parameters
 * (the guide's {@code final User _userClient = null;} names a type it never shows and
 * is unused, so it is left out). Nothing here knows of the mock: the authority is
 * Microsoft's, {@code https://login.microsoftonline.com/{tenant_id}/v2.0}.
 */
public final class GuideToken {
    private GuideToken() {}

    /** The guide's code, with a client secret. */
    public static IAuthenticationResult acquireToken(String clientId, String clientSecret, String tenantId) {

        IAuthenticationResult accessToken = null;

        try {

            String CLIENT_ID = clientId;

            String CLIENT_SECRET = clientSecret;

            String AUTHORITY = "https://login.microsoftonline.com/" + tenantId + "/v2.0";

            Set<String> SCOPE = new HashSet<String>();

            SCOPE.add("https://outlook.office365.com/.default");

            // This is the secret that is created in the Azure portal when registering the application

            IClientCredential credential = ClientCredentialFactory.createFromSecret(CLIENT_SECRET);

            ConfidentialClientApplication cca

                    = ConfidentialClientApplication

                            .builder(CLIENT_ID, credential)

                            .authority(AUTHORITY)

                            .build();

            ClientCredentialParameters parameters

                    = ClientCredentialParameters

                            .builder(SCOPE)

                            .build();

            accessToken = cca.acquireToken(parameters).join();

        } catch (Exception e) {

            System.out.println("Exception in acquiring token: " + e.getMessage());

            e.printStackTrace();

        }

        return accessToken;

    }

    /**
     * The same code with the guide's recommended credential, a certificate: only the
     * {@code credential} line differs ({@code createFromCertificate} with a PKCS#12 file,
     * as msal4j's own samples load it).
     */
    public static IAuthenticationResult acquireTokenWithCertificate(
            String clientId, Path pkcs12, String pkcs12Password, String tenantId) {

        IAuthenticationResult accessToken = null;

        try (InputStream pfx = Files.newInputStream(pkcs12)) {

            String CLIENT_ID = clientId;

            String AUTHORITY = "https://login.microsoftonline.com/" + tenantId + "/v2.0";

            Set<String> SCOPE = new HashSet<String>();

            SCOPE.add("https://outlook.office365.com/.default");

            IClientCredential credential = ClientCredentialFactory.createFromCertificate(pfx, pkcs12Password);

            ConfidentialClientApplication cca

                    = ConfidentialClientApplication

                            .builder(CLIENT_ID, credential)

                            .authority(AUTHORITY)

                            .build();

            ClientCredentialParameters parameters

                    = ClientCredentialParameters

                            .builder(SCOPE)

                            .build();

            accessToken = cca.acquireToken(parameters).join();

        } catch (Exception e) {

            System.out.println("Exception in acquiring token: " + e.getMessage());

            e.printStackTrace();

        }

        return accessToken;

    }
}
