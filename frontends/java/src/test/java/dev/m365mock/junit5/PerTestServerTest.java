package dev.m365mock.junit5;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.AuthenticationFailedException;
import jakarta.mail.MessagingException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A fresh server per test (instance field): each test may break the tenant without
 * touching the others. The refusals are asserted twice: as the client sees them, and as
 * the journal explains them (reason and fix).
 */
class PerTestServerTest {

    private static final Set<String> URLS = ConcurrentHashMap.newKeySet();

    @RegisterExtension
    M365MockExtension m365 = new M365MockExtension();

    @AfterAll
    static void everyTestHadItsOwnServer() {
        assertEquals(4, URLS.size(), () -> "one server per test, got " + URLS);
    }

    @Test
    void removedMailboxPermissionIsAuthenticatedButNotConnected() throws Exception {
        URLS.add(m365.httpsUrl());
        String token = Demo.tokenOverHttp(m365, Demo.POLLER_CLIENT_ID, Demo.POLLER_SECRET);
        assertEquals(4, Demo.inboxCount(m365, Demo.MAILBOX, token), "works before the change");

        m365.removeMailboxPermission(Demo.MAILBOX, Demo.POLLER_SP_OBJECT_ID, "FullAccess");

        MessagingException e = assertThrows(MessagingException.class,
                () -> Demo.inboxCount(m365, Demo.MAILBOX, token));
        assertTrue(String.valueOf(e.getMessage()).contains("not connected"), () -> "client saw: " + e);

        JournalEntry refusal = last(m365.journal(), "not_connected");
        assertEquals("imap", refusal.protocol());
        assertNotNull(refusal.reason());
        assertTrue(refusal.fix().contains("Add-MailboxPermission"), refusal::fix);
    }

    @Test
    void wrongServicePrincipalObjectIdFailsAuthentication() throws Exception {
        URLS.add(m365.httpsUrl());
        String token = Demo.tokenOverHttp(m365, Demo.WRONG_OID_CLIENT_ID, Demo.WRONG_OID_SECRET);

        assertThrows(AuthenticationFailedException.class, () -> Demo.imapStore(m365, Demo.MAILBOX, token));

        JournalEntry refusal = last(m365.journal(), "refused");
        assertEquals("imap", refusal.protocol());
        assertTrue(refusal.reason().contains("00000000-0000-4000-8000-00000000b002"), refusal::reason);
        assertTrue(refusal.fix().contains("New-ServicePrincipal"), refusal::fix);
    }

    @Test
    void adminRefusalCarriesTheServersMessage() {
        URLS.add(m365.httpsUrl());
        M365MockException e = assertThrows(M365MockException.class,
                () -> m365.addMailboxPermission("nobody@contoso.com", Demo.POLLER_SP_OBJECT_ID, "FullAccess"));
        assertEquals(404, e.status(), e::getMessage);
        assertTrue(e.getMessage().contains("nobody@contoso.com"), e::getMessage);
    }

    @Test
    void advanceClockExpiresTheToken() throws Exception {
        URLS.add(m365.httpsUrl());
        String token = Demo.tokenOverHttp(m365, Demo.POLLER_CLIENT_ID, Demo.POLLER_SECRET);
        Map<String, Object> clock = m365.advanceClock(2 * 3600);
        assertNotNull(clock);

        assertThrows(AuthenticationFailedException.class, () -> Demo.imapStore(m365, Demo.MAILBOX, token));
        JournalEntry refusal = last(m365.journal(), "refused");
        assertTrue((refusal.reason() + " " + refusal.fix()).toLowerCase().contains("expire"),
                () -> refusal.reason() + " / " + refusal.fix());
    }

    private static JournalEntry last(List<JournalEntry> journal, String outcome) {
        for (int i = journal.size() - 1; i >= 0; i--) {
            if (outcome.equals(journal.get(i).outcome())) {
                return journal.get(i);
            }
        }
        throw new AssertionError("no " + outcome + " entry in the journal: " + journal);
    }
}
