package com.example.dropin;

import java.util.Properties;

/** The mail properties the two guides print, word for word; nothing else is set. */
public final class GuideProperties {
    private GuideProperties() {}

    /** Microsoft's guide, step 3 ("notify to mail server that we are authenticating through OAuth 2.0"). */
    public static Properties microsoft() {
        Properties props = new Properties();
        props.setProperty("mail.debug.auth", String.valueOf(true));
        props.setProperty("mail.debug", "true"); // to see the debug logs during authentication.
        props.put("mail.imaps.auth.mechanisms", "XOAUTH2");
        props.put("mail.imaps.sasl.mechanisms", "XOAUTH2");
        props.put("mail.imaps.auth.login.disable", "true");
        props.put("mail.imaps.auth.plain.disable", "true");
        return props;
    }

    /** Flowable's troubleshooting post ("Trying to access IMAP mailbox with properties"). */
    public static Properties flowable(String user) {
        Properties props = new Properties();
        props.put("mail.imaps.auth", "true");
        props.put("mail.imaps.port", "993");
        props.put("mail.imaps.auth.plain.disable", "true");
        props.put("mail.store.protocol", "imaps");
        props.put("mail.imaps.user", user);
        props.put("mail.imaps.auth.mechanisms", "XOAUTH2");
        props.put("mail.imaps.ssl.enable", "true");
        props.put("mail.imaps.auth.xoauth2.disable", "false");
        props.put("mail.imaps.host", "outlook.office365.com");
        props.put("mail.imaps.starttls.enable", "true");
        return props;
    }
}
