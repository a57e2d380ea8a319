//! IMAP mailbox commands over real TLS against the demo mail, with Exchange's texts.

use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::*;
use mock_server::imap::ImapConfig;
use mock_server::MockServer;

async fn login(server: &MockServer, user: &str) -> Imap {
    let token = app_token(server, 1, "poller-secret-value", EXO_SCOPE).await;
    let (mut c, _) = Imap::tls(server).await;
    let r = c
        .cmd("L1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(user, &token)))
        .await;
    assert_eq!(r, ["L1 OK AUTHENTICATE completed.\r\n"]);
    c
}

const USER: &str = "test.user@contoso.com";

#[tokio::test]
async fn select_and_list_speak_exchange() {
    let server = MockServer::start().await;
    let mut c = login(&server, USER).await;
    assert_eq!(
        c.cmd("A1", "SELECT INBOX").await,
        [
            "* 4 EXISTS\r\n",
            "* 0 RECENT\r\n",
            "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)\r\n",
            "* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)] Permanent flags\r\n",
            "* OK [UNSEEN 1] Is the first unseen message\r\n",
            "* OK [UIDVALIDITY 14] UIDVALIDITY value\r\n",
            "* OK [UIDNEXT 5] The next unique identifier value\r\n",
            "A1 OK [READ-WRITE] SELECT completed.\r\n",
        ]
    );
    assert_eq!(
        c.cmd("A2", "LIST \"\" \"*\"").await,
        [
            "* LIST (\\HasNoChildren \\Trash) \"/\" \"Deleted Items\"\r\n",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n",
            "* LIST (\\Marked \\HasNoChildren) \"/\" INBOX\r\n",
            "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk Email\"\r\n",
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n",
            "A2 OK LIST completed.\r\n",
        ]
    );
    assert_eq!(
        c.cmd("A3", "LIST \"\" \"\"").await,
        [
            "* LIST (\\Noselect \\HasChildren) \"/\" \"\"\r\n",
            "A3 OK LIST completed.\r\n"
        ]
    );
    assert_eq!(
        c.cmd("A4", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)").await,
        [
            "* STATUS INBOX (MESSAGES 4 UIDNEXT 5 UNSEEN 4) \r\n",
            "A4 OK STATUS completed.\r\n"
        ]
    );
    assert_eq!(
        c.cmd("A5", "SELECT Nowhere").await,
        ["A5 NO The specified folder could not be found in the store.\r\n"]
    );
    assert_eq!(
        c.cmd("A6", "FETCH 1 FLAGS").await,
        ["A6 BAD Command received in Invalid state.\r\n"]
    );
    let r = c.cmd("A7", "EXAMINE \"Sent Items\"").await;
    assert_eq!(
        r.last().map(String::as_str),
        Some("A7 OK [READ-ONLY] EXAMINE completed.\r\n")
    );
    assert!(r.contains(&"* 0 EXISTS\r\n".to_string()));
}

#[tokio::test]
async fn fetch_the_items_mail_clients_ask_for() {
    let server = MockServer::start().await;
    let mut c = login(&server, USER).await;
    c.cmd("A1", "SELECT INBOX").await;
    let r = c.cmd("A2", "FETCH 1:* (UID FLAGS ENVELOPE)").await;
    assert_eq!(r.len(), 5);
    assert!(r[0].starts_with("* 1 FETCH (UID 1 FLAGS () ENVELOPE (\"Tue, 15 Nov 2022 16:49:03 +0000\" \"Test Mail\" ((\"Arthur Example\" NIL \"arthur\" \"fabrikam.com\"))"), "{}", r[0]);
    assert!(r[3].contains("\"My Mail\""), "{}", r[3]);
    assert_eq!(r[4], "A2 OK FETCH completed.\r\n");

    let r = c.cmd("A3", "UID FETCH 3 (BODYSTRUCTURE)").await;
    assert!(
        r[0].starts_with("* 3 FETCH (BODYSTRUCTURE ((\"text\" \"plain\"") && r[0].ends_with(" UID 3)\r\n"),
        "{}",
        r[0]
    );
    assert!(r[0].contains("\"notes.txt\"") && r[0].contains("\"mixed\""), "{}", r[0]);

    let r = c.cmd("A4", "FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])").await;
    assert_eq!(
        r[0],
        "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {71}\r\nFrom: Arthur Example <arthur@fabrikam.com>\r\nSubject: Test 2 Process\r\n\r\n)\r\n"
    );
    // A partial fetch; BODY (not PEEK) sets \Seen and Exchange appends FLAGS.
    let r = c.cmd("A5", "FETCH 4 (BODY[TEXT]<0.11>)").await;
    assert_eq!(
        r[0],
        "* 4 FETCH (BODY[TEXT]<0> {11}\r\nThis is my )\r\n".replace(")\r\n", " FLAGS (\\Seen))\r\n")
    );
    let r = c.cmd("A6", "FETCH 4 (FLAGS RFC822.SIZE INTERNALDATE)").await;
    assert_eq!(
        r[0],
        "* 4 FETCH (FLAGS (\\Seen) RFC822.SIZE 315 INTERNALDATE \"17-Nov-2022 15:59:29 +0000\")\r\n"
    );
    let r = c.cmd("A7", "FETCH 1 RFC822.HEADER").await;
    assert!(r[0].contains("Subject: Test Mail\r\n"), "{}", r[0]);
    assert_eq!(
        c.cmd("A8", "FETCH 9 FLAGS").await,
        ["A8 BAD The specified message set is invalid.\r\n"]
    );
}

#[tokio::test]
async fn search_store_expunge_copy_move() {
    let server = MockServer::start().await;
    let mut c = login(&server, USER).await;
    c.cmd("A1", "SELECT INBOX").await;
    assert_eq!(c.cmd("S1", "SEARCH FROM arthur").await[0], "* SEARCH 1 2 3 4\r\n");
    assert_eq!(c.cmd("S2", "SEARCH SUBJECT \"mail\"").await[0], "* SEARCH 1 4\r\n");
    assert_eq!(
        c.cmd("S3", "UID SEARCH OR SUBJECT test SUBJECT \"how are\"").await[0],
        "* SEARCH 1 2 3\r\n"
    );
    assert_eq!(
        c.cmd("S4", "SEARCH SINCE 16-Nov-2022 NOT SUBJECT process").await[0],
        "* SEARCH 3 4\r\n"
    );
    assert_eq!(c.cmd("S5", "SEARCH BODY \"order 4711\"").await[0], "* SEARCH 2\r\n");

    assert_eq!(
        c.cmd("T1", "STORE 1 +FLAGS (\\Deleted \\Seen)").await,
        ["* 1 FETCH (FLAGS (\\Seen \\Deleted))\r\n", "T1 OK STORE completed.\r\n"]
    );
    assert_eq!(
        c.cmd("T2", "STORE 2 +FLAGS.SILENT (\\Flagged)").await,
        ["T2 OK STORE completed.\r\n"]
    );
    assert_eq!(c.cmd("T3", "SEARCH FLAGGED").await[0], "* SEARCH 2\r\n");
    assert_eq!(
        c.cmd("T4", "EXPUNGE").await,
        ["* 1 EXPUNGE\r\n", "T4 OK EXPUNGE completed.\r\n"]
    );
    assert_eq!(c.cmd("T5", "UID SEARCH ALL").await[0], "* SEARCH 2 3 4\r\n");

    assert_eq!(
        c.cmd("C1", "COPY 1 Drafts").await,
        ["C1 OK [COPYUID 17 2 1] COPY completed.\r\n"]
    );
    assert_eq!(
        c.cmd("C2", "UID MOVE 4 \"Deleted Items\"").await,
        [
            "* OK [COPYUID 16 4 1]\r\n",
            "* 3 EXPUNGE\r\n",
            "C2 OK MOVE completed.\r\n"
        ]
    );
    assert_eq!(
        c.cmd("C3", "COPY 1 Nowhere").await,
        ["C3 NO [TRYCREATE] The specified folder could not be found in the store.\r\n"]
    );
    assert_eq!(
        server
            .store()
            .mailbox(USER)
            .expect("mbx")
            .status("Deleted Items")
            .expect("status")
            .messages,
        1
    );
}

#[tokio::test]
async fn append_with_sync_and_non_sync_literals_and_folder_commands() {
    let server = MockServer::start().await;
    let mut c = login(&server, USER).await;
    let msg = "From: a@b.com\r\nSubject: appended\r\n\r\nhello\r\n";
    c.send(&format!("P1 APPEND Drafts (\\Draft) {{{}}}", msg.len())).await;
    assert_eq!(c.line().await, "+ Ready for additional command text.\r\n");
    // The literal, then the CRLF that ends the command line.
    c.send_raw(msg.as_bytes()).await;
    c.send("").await;
    assert_eq!(c.line().await, "P1 OK [APPENDUID 17 1] APPEND completed.\r\n");
    c.send_raw(format!("P2 APPEND Drafts {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes())
        .await;
    assert_eq!(c.line().await, "P2 OK [APPENDUID 17 2] APPEND completed.\r\n");
    let drafts = server
        .store()
        .mailbox(USER)
        .expect("mbx")
        .messages("Drafts")
        .expect("drafts");
    assert_eq!(drafts.len(), 2);
    assert_eq!(&drafts[0].raw[..], msg.as_bytes());

    assert_eq!(
        c.cmd("F1", "CREATE Archive/2022").await,
        ["F1 OK CREATE completed.\r\n"]
    );
    assert_eq!(
        c.cmd("F2", "RENAME Archive/2022 Archive/Old").await,
        ["F2 OK RENAME completed.\r\n"]
    );
    let r = c.cmd("F3", "LIST \"\" \"Archive/%\"").await;
    assert_eq!(
        r,
        [
            "* LIST (\\HasNoChildren) \"/\" Archive/Old\r\n",
            "F3 OK LIST completed.\r\n"
        ]
    );
    assert_eq!(c.cmd("F4", "DELETE Archive/Old").await, ["F4 OK DELETE completed.\r\n"]);
    assert_eq!(
        c.cmd("F5", "UNSUBSCRIBE Drafts").await,
        ["F5 OK UNSUBSCRIBE completed.\r\n"]
    );
    assert!(!c
        .cmd("F6", "LSUB \"\" \"*\"")
        .await
        .iter()
        .any(|l| l.contains("Drafts")));
}

#[tokio::test]
async fn sessions_on_one_mailbox_stay_consistent_and_idle_sees_deliveries() {
    let server = MockServer::start().await;
    let mut a = login(&server, USER).await;
    let mut b = login(&server, USER).await;
    a.cmd("A1", "SELECT INBOX").await;
    b.cmd("B1", "SELECT INBOX").await;

    // B idles; a delivery through the Rust API shows up at once.
    b.send("B2 IDLE").await;
    assert_eq!(b.line().await, "+ IDLE accepted, awaiting DONE command.\r\n");
    server
        .deliver(USER, "INBOX", b"From: x@y.com\r\nSubject: new\r\n\r\nhi\r\n")
        .expect("deliver");
    assert_eq!(b.line().await, "* 5 EXISTS\r\n");
    b.send("DONE").await;
    assert_eq!(b.line().await, "B2 OK IDLE completed.\r\n");

    // A deletes message 1; B learns of it on NOOP, not in the middle of a FETCH.
    a.cmd("A2", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let r = a.cmd("A3", "EXPUNGE").await;
    assert_eq!(r[0], "* 1 EXPUNGE\r\n");
    let r = b.cmd("B3", "FETCH 1 (UID)").await;
    assert_eq!(
        r,
        ["B3 OK FETCH completed.\r\n"],
        "the expunged message is skipped, numbers unchanged"
    );
    assert_eq!(
        b.cmd("B4", "NOOP").await,
        ["* 1 EXPUNGE\r\n", "B4 OK NOOP completed.\r\n"]
    );
    assert_eq!(b.cmd("B5", "FETCH 4 (UID)").await[0], "* 4 FETCH (UID 5)\r\n");
}

#[tokio::test]
async fn authenticated_sessions_time_out_with_bye_13() {
    let server = MockServer::builder()
        .imap_config(ImapConfig {
            idle_timeout: std::time::Duration::from_millis(300),
            ..ImapConfig::default()
        })
        .start()
        .await
        .expect("start");
    let mut c = login(&server, USER).await;
    assert_eq!(c.line().await, "* BYE Connection is closed. 13\r\n");
    assert!(c.closed().await);
}

#[tokio::test]
async fn shared_mailbox_through_the_app() {
    let server = MockServer::start().await;
    let mut c = login(&server, "shared.inbox@contoso.com").await;
    assert_eq!(c.cmd("A1", "SELECT INBOX").await[0], "* 2 EXISTS\r\n");
}

#[tokio::test]
async fn uid_expunge_close_unselect_check_id_and_more_fetch_items() {
    let server = MockServer::start().await;
    let mut c = login(&server, USER).await;
    assert_eq!(
        c.cmd("I1", "ID (\"name\" \"test\")").await,
        [
            "* ID (\"name\" \"Microsoft.Exchange.Imap4.Imap4Server\" \"version\" \"15.20\")\r\n",
            "I1 OK ID completed.\r\n"
        ]
    );
    c.cmd("A1", "SELECT INBOX").await;
    let r = c.cmd("A2", "FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (RETURN-PATH MESSAGE-ID MIME-VERSION CONTENT-TYPE CONTENT-TRANSFER-ENCODING DATE TO)] RFC822.TEXT)").await;
    assert!(
        r[0].contains("From: Arthur Example <arthur@fabrikam.com>\r\nSubject: Test Mail\r\n\r\n"),
        "{}",
        r[0]
    );
    assert!(
        r[0].contains("RFC822.TEXT {") && r[0].contains("first test mail"),
        "{}",
        r[0]
    );
    c.cmd("A3", "STORE 1:2 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(
        c.cmd("A4", "UID EXPUNGE 2").await,
        ["* 2 EXPUNGE\r\n", "A4 OK EXPUNGE completed.\r\n"]
    );
    assert_eq!(c.cmd("A5", "CHECK").await, ["A5 OK CHECK completed.\r\n"]);
    // CLOSE expunges the rest of the \Deleted messages silently.
    assert_eq!(c.cmd("A6", "CLOSE").await, ["A6 OK CLOSE completed.\r\n"]);
    assert_eq!(
        c.cmd("A7", "FETCH 1 FLAGS").await,
        ["A7 BAD Command received in Invalid state.\r\n"]
    );
    assert_eq!(c.cmd("A8", "SELECT INBOX").await[0], "* 2 EXISTS\r\n");
    assert_eq!(c.cmd("A9", "UNSELECT").await, ["A9 OK UNSELECT completed.\r\n"]);
    let lsub = c.cmd("B1", "LSUB \"\" \"*\"").await;
    assert!(
        lsub.contains(&"* LSUB (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n".to_string()),
        "{lsub:?}"
    );
    assert_eq!(c.cmd("B2", "ENABLE CONDSTORE").await, ["B2 BAD Command Error. 12\r\n"]);
}

#[tokio::test]
async fn exists_after_expunge_is_an_option() {
    // Exchange 2013 on-premises followed EXPUNGE's lines with the new count (the wire
    // reference's transcript); Exchange Online does not (aioimaplib #67), hence off by default.
    let server = MockServer::builder()
        .imap_config(ImapConfig {
            exists_after_expunge: true,
            ..ImapConfig::default()
        })
        .start()
        .await
        .expect("start");
    let mut c = login(&server, USER).await;
    c.cmd("A1", "SELECT INBOX").await;
    c.cmd("A2", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(
        c.cmd("A3", "EXPUNGE").await,
        ["* 1 EXPUNGE\r\n", "* 3 EXISTS\r\n", "A3 OK EXPUNGE completed.\r\n"]
    );
    // Nothing expunged: no EXISTS either way.
    assert_eq!(c.cmd("A4", "EXPUNGE").await, ["A4 OK EXPUNGE completed.\r\n"]);
}
