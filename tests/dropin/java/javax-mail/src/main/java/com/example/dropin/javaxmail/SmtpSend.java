package com.example.dropin.javaxmail;

import com.example.dropin.Checks;
import com.example.dropin.Demo;
import com.example.dropin.GuideProperties;
import com.example.dropin.GuideToken;
import java.util.Properties;
import java.util.UUID;
import javax.mail.Folder;
import javax.mail.Message;
import javax.mail.Session;
import javax.mail.Store;
import javax.mail.Transport;
import javax.mail.internet.InternetAddress;
import javax.mail.internet.MimeMessage;

/**
 * Beyond the guide: the same app token sends with javax.mail over SMTP AUTH XOAUTH2 to
 * smtp.office365.com:587 (STARTTLS), from test.user to the shared mailbox, and the
 * message is then read there over IMAP (app 01 has FullAccess on both).
 */
public final class SmtpSend {
    private SmtpSend() {}

    static final String SHARED = "shared.inbox@contoso.com";

    /** The usual javax.mail settings for Exchange Online's SMTP submission with OAuth. */
    static Properties smtp() {
        Properties props = new Properties();
        props.put("mail.smtp.host", "smtp.office365.com");
        props.put("mail.smtp.port", "587");
        props.put("mail.smtp.auth", "true");
        props.put("mail.smtp.starttls.enable", "true");
        props.put("mail.smtp.starttls.required", "true");
        props.put("mail.smtp.auth.mechanisms", "XOAUTH2");
        return props;
    }

    public static void main(String[] args) {
        Checks checks = new Checks("javax.mail: ");
        checks.check("SMTP AUTH XOAUTH2 to smtp.office365.com:587 (STARTTLS), then the message in "
                + SHARED + " over IMAP", () -> {
                    String token = GuideImap.token(
                            GuideToken.acquireToken(Demo.POLLER, Demo.POLLER_SECRET, Demo.TENANT_ID), Demo.POLLER);
                    String subject = "drop-in " + UUID.randomUUID();
                    Session session = Session.getInstance(smtp());
                    MimeMessage message = new MimeMessage(session);
                    message.setFrom(new InternetAddress(Demo.USER));
                    message.setRecipient(Message.RecipientType.TO, new InternetAddress(SHARED));
                    message.setSubject(subject);
                    message.setText("sent by tests/dropin/java");
                    Transport.send(message, Demo.USER, token);
                    Store store = Session.getInstance(GuideProperties.microsoft()).getStore("imaps");
                    store.connect(Demo.HOST, SHARED, token);
                    try {
                        Folder inbox = store.getFolder("INBOX");
                        inbox.open(Folder.READ_ONLY);
                        int count = inbox.getMessageCount();
                        String last = inbox.getMessage(count).getSubject();
                        inbox.close(false);
                        if (!subject.equals(last)) {
                            throw new AssertionError("the newest of " + count + " messages is " + last + ", not " + subject);
                        }
                        return SHARED + " holds it as message " + count;
                    } finally {
                        store.close();
                    }
                });
        System.exit(checks.finish());
    }
}
