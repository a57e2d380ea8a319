package com.example.m365mock.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.AuthenticationFailedException;
import jakarta.mail.Folder;
import jakarta.mail.Message;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.Store;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeMessage;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Jakarta Mail (Eclipse Angus) against the mock as against Exchange Online: SMTP with
 * STARTTLS and AUTH XOAUTH2, then POP3 with XOAUTH2, whose default single-line AUTH
 * Exchange refuses and whose two-line option works.
 */
class JakartaMailTest {
    private static final String POLLER = "00000000-0000-4000-8000-00000000a001";
    private static final String USER = "test.user@contoso.com";
    private static final String TIMEOUT_MS = "15000";

    private static MockServerProcess server;
    private static String token;

    @BeforeAll
    static void start() throws Exception {
        server = MockServerProcess.start();
        token = server.appToken(POLLER, "poller-secret-value");
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private static Properties smtp() {
        Properties p = new Properties();
        p.put("mail.smtp.host", server.host("smtp_addr"));
        p.put("mail.smtp.port", String.valueOf(server.port("smtp_addr")));
        p.put("mail.smtp.auth", "true");
        p.put("mail.smtp.auth.mechanisms", "XOAUTH2");
        p.put("mail.smtp.starttls.enable", "true");
        p.put("mail.smtp.starttls.required", "true");
        p.put("mail.smtp.ssl.socketFactory", server.tls.getSocketFactory());
        p.put("mail.smtp.ssl.checkserveridentity", "true");
        p.put("mail.smtp.connectiontimeout", TIMEOUT_MS);
        p.put("mail.smtp.timeout", TIMEOUT_MS);
        p.put("mail.smtp.writetimeout", TIMEOUT_MS);
        return p;
    }

    private static Properties pop3(boolean twoLine) {
        Properties p = new Properties();
        p.put("mail.pop3.host", server.host("pop3s_addr"));
        p.put("mail.pop3.port", String.valueOf(server.port("pop3s_addr")));
        p.put("mail.pop3.ssl.enable", "true");
        p.put("mail.pop3.ssl.socketFactory", server.tls.getSocketFactory());
        p.put("mail.pop3.ssl.checkserveridentity", "true");
        p.put("mail.pop3.auth.mechanisms", "XOAUTH2");
        p.put("mail.pop3.auth.xoauth2.two.line.authentication.format", String.valueOf(twoLine));
        p.put("mail.pop3.connectiontimeout", TIMEOUT_MS);
        p.put("mail.pop3.timeout", TIMEOUT_MS);
        return p;
    }

    @Test
    void smtpSendsWithXoauth2AndPop3TwoLineReadsItBack() throws Exception {
        Session s = Session.getInstance(smtp());
        MimeMessage m = new MimeMessage(s);
        m.setFrom(new InternetAddress(USER));
        m.setRecipient(Message.RecipientType.TO, new InternetAddress(USER));
        String subject = "Jakarta Mail interop " + System.nanoTime();
        m.setSubject(subject);
        m.setText("Sent by Jakarta Mail with AUTH XOAUTH2.");
        Transport.send(m, USER, token);

        Store store = Session.getInstance(pop3(true)).getStore("pop3");
        store.connect(USER, token);
        try {
            Folder inbox = store.getFolder("INBOX");
            inbox.open(Folder.READ_ONLY);
            int count = inbox.getMessageCount();
            assertTrue(count >= 5, "the demo INBOX's 4 messages and this one: " + count);
            boolean found = false;
            for (Message msg : inbox.getMessages()) {
                found |= subject.equals(msg.getSubject());
            }
            assertTrue(found, "the sent message is in the INBOX");
            inbox.close(false);
        } finally {
            store.close();
        }
    }

    @Test
    void pop3SingleLineXoauth2IsRefusedAsExchangeDoes() throws Exception {
        Store store = Session.getInstance(pop3(false)).getStore("pop3");
        MessagingException e = assertThrows(MessagingException.class, () -> store.connect(USER, token));
        // Angus sends "AUTH XOAUTH2 <base64>" on one line by default; Exchange closes.
        String why = String.valueOf(e.getMessage());
        assertTrue(why.contains("Protocol error. Connection is closed. 10"), "Exchange's answer: " + why);
    }

    @Test
    void smtpAuthDisabledForTheMailboxIs535() throws Exception {
        Session s = Session.getInstance(smtp());
        MimeMessage m = new MimeMessage(s);
        m.setFrom(new InternetAddress("smtp.disabled@contoso.com"));
        m.setRecipient(Message.RecipientType.TO, new InternetAddress(USER));
        m.setSubject("refused");
        m.setText("x");
        AuthenticationFailedException e = assertThrows(AuthenticationFailedException.class,
                () -> Transport.send(m, "smtp.disabled@contoso.com", token));
        assertTrue(String.valueOf(e.getMessage()).startsWith("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox."),
                e.getMessage());
        assertEquals(AuthenticationFailedException.class, e.getClass());
    }
}
