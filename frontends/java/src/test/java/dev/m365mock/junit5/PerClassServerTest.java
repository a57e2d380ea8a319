package dev.m365mock.junit5;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** One server for the class (static field): msal4j's token, then Jakarta Mail over IMAPS. */
class PerClassServerTest {

    @RegisterExtension
    static M365MockExtension m365 = new M365MockExtension();

    @Test
    void readyFileIsExposed() throws Exception {
        assertTrue(m365.httpsUrl().startsWith("https://127.0.0.1:"), m365.httpsUrl());
        assertTrue(m365.authority().startsWith(m365.httpsUrl() + "/"), m365.authority());
        assertEquals(m365.httpsUrl() + "/c0ffee00-1111-4222-8333-444455556666", m365.authority());
        assertEquals(m365.httpsUrl() + "/contoso.onmicrosoft.com", m365.authority("contoso.onmicrosoft.com"));
        assertEquals(m365.httpsUrl() + "/fabrikam.onmicrosoft.com", m365.authority("fabrikam.onmicrosoft.com"));
        assertThrows(M365MockException.class, () -> m365.authority("nowhere.example"));
        assertTrue(Files.isRegularFile(m365.caFile()), m365.caFile().toString());
        assertEquals("127.0.0.1", m365.imapsHost());
        assertTrue(m365.imapsPort() > 0);
        assertTrue(m365.imapPort() > 0);
        assertTrue(m365.smtpPort() > 0);
        assertTrue(m365.pop3sPort() > 0);
        assertTrue(m365.pop3Port() > 0);
        assertTrue(m365.trustStore().size() >= 1, "the trust store holds the CA");
    }

    @Test
    void msal4jTokenThenImapListsTheInbox() throws Exception {
        String token = Demo.token(m365, Demo.POLLER_CLIENT_ID, Demo.POLLER_SECRET);
        assertEquals(3, token.split("\\.").length, "a JWT has three parts");

        assertEquals(4, Demo.inboxCount(m365, Demo.MAILBOX, token));

        List<JournalEntry> journal = m365.journal();
        assertTrue(journal.stream().anyMatch(e -> "issued".equals(e.outcome())
                        && Demo.POLLER_CLIENT_ID.equals(e.clientId())),
                () -> "no issued token for the poller in " + journal);
        assertTrue(journal.stream().anyMatch(e -> "imap".equals(e.protocol()) && "authenticated".equals(e.outcome())),
                () -> "no authenticated IMAP session in " + journal);
        assertFalse(journal.stream().anyMatch(e -> e.toString().contains(Demo.POLLER_SECRET)),
                "the journal never holds the secret");
    }
}
