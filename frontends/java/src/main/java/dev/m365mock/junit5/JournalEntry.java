package dev.m365mock.junit5;

import java.util.Map;

/**
 * One entry of the server's journal ({@code get-journal}): what happened, and for a
 * refusal why ({@link #reason()}) and what an administrator would change ({@link #fix()}).
 *
 * @param seq position in the journal, from 1
 * @param protocol which side recorded it: {@code http}, {@code imap}, {@code smtp}, {@code pop3}, {@code admin}
 * @param request the request line, e.g. {@code POST /contoso.com/oauth2/v2.0/token} or {@code AUTHENTICATE XOAUTH2}
 * @param outcome e.g. {@code issued}, {@code refused}, {@code ok}, {@code fault}
 * @param reason why it was refused (or how the client proved itself), or null
 * @param fix what to change so it works, or null
 * @param clientId the client id the request named, or null
 * @param raw the whole entry as the server sent it (all fields, including {@code details})
 */
public record JournalEntry(
        long seq,
        String protocol,
        String request,
        String outcome,
        String reason,
        String fix,
        String clientId,
        Map<String, Object> raw) {

    static JournalEntry from(Map<String, Object> m) {
        Object seq = m.get("seq");
        return new JournalEntry(
                seq instanceof Number ? ((Number) seq).longValue() : 0L,
                str(m.get("protocol")),
                str(m.get("request")),
                str(m.get("outcome")),
                str(m.get("reason")),
                str(m.get("fix")),
                str(m.get("client_id")),
                Map.copyOf(withoutNulls(m)));
    }

    private static String str(Object o) {
        return o == null ? null : o.toString();
    }

    private static Map<String, Object> withoutNulls(Map<String, Object> m) {
        Map<String, Object> copy = new java.util.LinkedHashMap<>();
        m.forEach((k, v) -> {
            if (v != null) {
                copy.put(k, v);
            }
        });
        return copy;
    }
}
