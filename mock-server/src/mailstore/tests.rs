use super::*;
use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::{
    command::CommandBody,
    fetch::{MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section},
    response::{Data, Response},
    search::SearchKey,
};
use imap_codec::{CommandCodec, ResponseCodec};
use std::num::NonZeroU32;

const USER: &str = "test.user@contoso.com";

fn demo() -> Store {
    let dir = crate::directory::fixture::demo_tenant().expect("demo tenant");
    Store::from_directory(&dir).expect("store")
}

fn user() -> Arc<Mailbox> {
    demo().mailbox(USER).expect("mailbox")
}

fn inbox_message(mbx: &Mailbox, uid: u32) -> Arc<Message> {
    mbx.message("INBOX", uid).expect("message")
}

/// The section of `a FETCH 1 BODY[<spec>]`, parsed by imap-codec.
fn section(spec: &str) -> Option<Section<'static>> {
    let line = format!("a FETCH 1 BODY.PEEK[{spec}]\r\n");
    let (_, cmd) = CommandCodec::new()
        .decode_static(line.as_bytes())
        .expect("fetch command");
    match cmd.body {
        CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(items),
            ..
        } => match items.into_iter().next() {
            Some(MessageDataItemName::BodyExt { section, .. }) => section,
            other => panic!("unexpected item {other:?}"),
        },
        other => panic!("unexpected command {other:?}"),
    }
}

fn fetch_section(m: &Message, spec: &str) -> String {
    String::from_utf8(m.section(section(spec).as_ref())).expect("utf-8")
}

/// The search key of `a SEARCH <criteria>`, parsed by imap-codec (several keys: AND).
fn search_key(criteria: &str) -> SearchKey<'static> {
    let line = format!("a SEARCH {criteria}\r\n");
    let (_, cmd) = CommandCodec::new()
        .decode_static(line.as_bytes())
        .expect("search command");
    match cmd.body {
        CommandBody::Search { criteria, .. } => {
            let mut keys: Vec<SearchKey<'static>> = criteria.into_iter().collect();
            if keys.len() == 1 {
                keys.remove(0)
            } else {
                SearchKey::And(keys.try_into().expect("non-empty"))
            }
        }
        other => panic!("unexpected command {other:?}"),
    }
}

/// UIDs of the messages of `folder` matching `criteria`.
fn search(mbx: &Mailbox, folder: &str, criteria: &str) -> Vec<u32> {
    search_with(mbx, folder, &search_key(criteria))
}

fn search_with(mbx: &Mailbox, folder: &str, key: &SearchKey<'_>) -> Vec<u32> {
    let msgs = mbx.messages(folder).expect("folder");
    let max_seq = u32::try_from(msgs.len()).expect("few");
    let max_uid = msgs.last().map_or(0, |m| m.uid);
    msgs.iter()
        .enumerate()
        .filter(|(i, m)| {
            let ctx = SearchContext {
                seq: u32::try_from(*i).expect("few") + 1,
                uid: m.uid,
                max_seq,
                max_uid,
            };
            m.matches(key, &ctx)
        })
        .map(|(_, m)| m.uid)
        .collect()
}

/// A FETCH response line with one item, as imap-codec encodes it.
fn encoded(item: MessageDataItem<'static>) -> String {
    let resp = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: item.into(),
    });
    String::from_utf8(ResponseCodec::new().encode(&resp).dump()).expect("utf-8")
}

// --- store and folders -----------------------------------------------------------------

#[test]
fn demo_store_has_the_fixture_mailboxes() {
    let store = demo();
    assert!(store.mailbox("TEST.USER@CONTOSO.COM").is_some());
    assert!(store.mailbox("shared.inbox@contoso.com").is_some());
    assert!(store.mailbox("nobody@contoso.com").is_none());
    let mbx = user();
    let st = mbx.status("inbox").expect("status");
    assert_eq!(st.messages, 4);
    assert_eq!(st.recent, 0);
    assert_eq!(st.unseen, 4);
    assert_eq!(st.uid_next, 5);
    assert!(st.uid_validity > 0);
    let snap = mbx.snapshot("INBOX").expect("snapshot");
    assert_eq!(snap.entries.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert!(matches!(mbx.status("Inbox/None"), Err(StoreError::NoSuchFolder(_))));
    // Folder names other than INBOX are case-sensitive.
    assert!(mbx.status("sent items").is_err());
    assert!(mbx.status("Sent Items").is_ok());
}

#[test]
fn unparseable_fixture_mail_names_its_origin() {
    let mut dir = crate::directory::fixture::demo_tenant().expect("demo tenant");
    dir.tenants[0].exchange.mailboxes[0].folders[0].messages[0] = crate::directory::MessageSource {
        origin: "mail/broken.eml".into(),
        bytes: Arc::from(&b""[..]),
    };
    let err = Store::from_directory(&dir).expect_err("empty message");
    assert!(err.to_string().contains("mail/broken.eml"), "{err}");
}

#[test]
fn list_matches_exchange_order_and_attributes() {
    let mbx = user();
    mbx.create("Archive/2022").expect("create");
    mbx.create("archive").expect("folder names are case-sensitive");
    let list = mbx.list();
    let names: Vec<&str> = list.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Archive",
            "Archive/2022",
            "archive",
            "Deleted Items",
            "Drafts",
            "INBOX",
            "Junk Email",
            "Sent Items"
        ]
    );
    let attrs = |n: &str| list.iter().find(|f| f.name == n).expect("listed").attributes.clone();
    assert_eq!(attrs("Archive"), ["\\HasChildren"]);
    assert_eq!(attrs("Archive/2022"), ["\\HasNoChildren"]);
    assert_eq!(attrs("INBOX"), ["\\Marked", "\\HasNoChildren"]);
    assert_eq!(attrs("Sent Items"), ["\\HasNoChildren", "\\Sent"]);
    assert_eq!(attrs("Deleted Items"), ["\\HasNoChildren", "\\Trash"]);
    assert_eq!(attrs("Drafts"), ["\\HasNoChildren", "\\Drafts"]);
    assert_eq!(attrs("Junk Email"), ["\\HasNoChildren", "\\Junk"]);
    assert!(list.iter().all(|f| f.subscribed));
}

#[test]
fn create_delete_subscribe() {
    let mbx = user();
    assert!(matches!(mbx.create("inbox"), Err(StoreError::FolderExists(_))));
    assert!(matches!(mbx.create("Drafts"), Err(StoreError::FolderExists(_))));
    assert!(matches!(mbx.create("a//b"), Err(StoreError::InvalidName(_))));
    assert!(matches!(mbx.create(""), Err(StoreError::InvalidName(_))));
    mbx.create("Projects/").expect("trailing delimiter is allowed");
    assert!(mbx.exists("Projects"));
    mbx.create("inbox/Sub").expect("create under INBOX");
    assert!(mbx.exists("INBOX/Sub"));
    assert_eq!(
        mbx.list().iter().find(|f| f.name == "INBOX").expect("inbox").attributes,
        ["\\Marked", "\\HasChildren"]
    );
    assert!(matches!(mbx.delete("INBOX"), Err(StoreError::CannotDeleteInbox)));
    assert!(matches!(mbx.delete("inbox"), Err(StoreError::CannotDeleteInbox)));
    assert!(matches!(
        mbx.delete("Sent Items"),
        Err(StoreError::CannotDeleteDefaultFolder(_))
    ));
    assert!(matches!(mbx.delete("Nope"), Err(StoreError::NoSuchFolder(_))));
    mbx.create("Projects/Alpha").expect("create");
    assert!(matches!(mbx.delete("Projects"), Err(StoreError::HasChildren(_))));
    mbx.delete("Projects/Alpha").expect("delete child");
    let old_validity = mbx.status("Projects").expect("status").uid_validity;
    mbx.delete("Projects").expect("delete");
    assert!(!mbx.exists("Projects"));
    mbx.create("Projects").expect("re-create");
    assert_ne!(mbx.status("Projects").expect("status").uid_validity, old_validity);

    mbx.unsubscribe("Junk Email").expect("unsubscribe");
    assert!(!mbx.lsub().iter().any(|f| f.name == "Junk Email"));
    assert_eq!(mbx.lsub().len(), mbx.list().len() - 1);
    mbx.subscribe("Junk Email").expect("subscribe");
    assert!(mbx.lsub().iter().any(|f| f.name == "Junk Email"));
    assert!(matches!(mbx.subscribe("Nope"), Err(StoreError::NoSuchFolder(_))));
}

#[test]
fn rename_folder_and_inbox() {
    let mbx = user();
    mbx.create("Old/Child").expect("create");
    mbx.append("Old", b"Subject: x\r\n\r\nbody\r\n", Flags::empty(), None)
        .expect("append");
    mbx.rename("Old", "New").expect("rename");
    assert!(!mbx.exists("Old") && !mbx.exists("Old/Child"));
    assert!(mbx.exists("New") && mbx.exists("New/Child"));
    assert_eq!(mbx.status("New").expect("status").messages, 1);
    assert!(matches!(mbx.rename("New", "Drafts"), Err(StoreError::FolderExists(_))));
    assert!(matches!(mbx.rename("Nope", "X"), Err(StoreError::NoSuchFolder(_))));
    for default in ["Drafts", "Sent Items", "Deleted Items", "Junk Email"] {
        assert!(
            matches!(
                mbx.rename(default, "Elsewhere"),
                Err(StoreError::CannotRenameDefaultFolder(_))
            ),
            "{default}"
        );
    }
    assert!(mbx.exists("Drafts") && !mbx.exists("Elsewhere"));
    assert!(matches!(
        mbx.rename("New", "New/Deeper"),
        Err(StoreError::RenameIntoItself(_))
    ));

    let before = mbx.status("INBOX").expect("status");
    mbx.rename("inbox", "Old Mail").expect("rename INBOX");
    let inbox = mbx.status("INBOX").expect("INBOX still exists");
    assert_eq!(inbox.messages, 0);
    assert_eq!(inbox.uid_validity, before.uid_validity);
    assert!(inbox.uid_next >= before.uid_next, "UIDNEXT never decreases");
    let moved = mbx.snapshot("Old Mail").expect("snapshot");
    assert_eq!(moved.entries.len(), 4);
    assert_eq!(
        mbx.message("Old Mail", 1).expect("moved").envelope().subject,
        NString::try_from("Test Mail").expect("nstring")
    );
    // New mail goes to the (empty) INBOX with UIDs above the old ones.
    let uid = mbx
        .append("INBOX", b"Subject: y\r\n\r\nhi\r\n", Flags::empty(), None)
        .expect("append")
        .1;
    assert!(uid >= before.uid_next);
}

// --- messages ----------------------------------------------------------------------------

use imap_codec::imap_types::core::NString;

#[test]
fn messages_have_size_dates_and_flags() {
    let mbx = user();
    let sizes: Vec<u32> = (1..=4).map(|u| inbox_message(&mbx, u).size()).collect();
    assert_eq!(sizes, [389, 673, 696, 315]);
    let m1 = inbox_message(&mbx, 1);
    assert_eq!(m1.internal_date, time::macros::datetime!(2022-11-15 16:49:03 UTC));
    assert_eq!(m1.flags, Flags::empty());
    assert_eq!(
        inbox_message(&mbx, 4).internal_date,
        time::macros::datetime!(2022-11-17 15:59:29 UTC)
    );
}

#[test]
fn envelopes() {
    let mbx = user();
    assert_eq!(
        encoded(MessageDataItem::Envelope(inbox_message(&mbx, 1).envelope())),
        "* 1 FETCH (ENVELOPE (\"Tue, 15 Nov 2022 16:49:03 +0000\" \"Test Mail\" \
         ((\"Arthur Example\" NIL \"arthur\" \"fabrikam.com\")) ((\"Arthur Example\" NIL \"arthur\" \"fabrikam.com\")) \
         ((\"Arthur Example\" NIL \"arthur\" \"fabrikam.com\")) ((\"Test User\" NIL \"test.user\" \"contoso.com\")) \
         NIL NIL NIL \"<demo-0001@fabrikam.com>\"))\r\n"
    );
    let e3 = inbox_message(&mbx, 3).envelope();
    assert_eq!(e3.subject, NString::try_from("How are you?").expect("nstring"));
    assert_eq!(e3.cc.len(), 1);
    assert_eq!(e3.cc[0].mailbox, NString::try_from("shared.inbox").expect("nstring"));
    assert_eq!(e3.cc[0].name, NString::try_from("Shared Inbox").expect("nstring"));
    assert_eq!(
        e3.in_reply_to,
        NString::try_from("<demo-0002@fabrikam.com>").expect("nstring")
    );
    assert_eq!(
        e3.message_id,
        NString::try_from("<demo-0003@fabrikam.com>").expect("nstring")
    );
    assert!(e3.bcc.is_empty());
    let subjects: Vec<NString<'static>> = (1..=4).map(|u| inbox_message(&mbx, u).envelope().subject).collect();
    let want: Vec<NString<'static>> = ["Test Mail", "Test 2 Process", "How are you?", "My Mail"]
        .into_iter()
        .map(|s| NString::try_from(s).expect("nstring"))
        .collect();
    assert_eq!(subjects, want);
}

#[test]
fn envelope_sender_reply_to_groups_and_encoded_names() {
    let mbx = Mailbox::new("x@contoso.com");
    let raw = "From: =?utf-8?Q?J=C3=BCrgen?= <j@example.com>\r\nSender: S <s@example.com>\r\n\
               Reply-To: R <r@example.com>\r\nTo: Team: a@example.com, b@example.com;\r\nSubject: hi\r\n\r\nx\r\n";
    let (_, uid) = mbx
        .append("INBOX", raw.as_bytes(), Flags::empty(), None)
        .expect("append");
    let e = mbx.message("INBOX", uid).expect("message").envelope();
    assert_eq!(e.sender[0].mailbox, NString::try_from("s").expect("nstring"));
    assert_eq!(e.reply_to[0].mailbox, NString::try_from("r").expect("nstring"));
    assert_eq!(
        e.from[0].name,
        NString::try_from("=?utf-8?B?SsO8cmdlbg==?=").expect("nstring")
    );
    // Group syntax: start marker, two members, end marker.
    assert_eq!(e.to.len(), 4);
    assert_eq!(e.to[0].mailbox, NString::try_from("Team").expect("nstring"));
    assert_eq!(e.to[0].host, NString(None));
    assert_eq!(e.to[3].mailbox, NString(None));
}

#[test]
fn body_structures() {
    let mbx = user();
    let bs = |uid, ext| {
        encoded(MessageDataItem::BodyStructure(
            inbox_message(&mbx, uid).body_structure(ext),
        ))
    };
    assert_eq!(
        bs(1, false),
        "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 73 5))\r\n"
    );
    assert_eq!(
        bs(1, true),
        "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 73 5 NIL NIL NIL NIL))\r\n"
    );
    assert_eq!(
        bs(2, true),
        "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 67 3 NIL NIL NIL NIL)\
         (\"TEXT\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 113 2 NIL NIL NIL NIL) \
         \"alternative\" (\"boundary\" \"=_alt_0002\") NIL NIL))\r\n"
    );
    assert_eq!(
        bs(3, false),
        "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 50 1)\
         (\"TEXT\" \"plain\" (\"name\" \"notes.txt\") NIL NIL \"base64\" 64 1) \"mixed\"))\r\n"
    );
    assert_eq!(
        bs(3, true),
        "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 50 1 NIL NIL NIL NIL)\
         (\"TEXT\" \"plain\" (\"name\" \"notes.txt\") NIL NIL \"base64\" 64 1 NIL (\"attachment\" (\"filename\" \"notes.txt\")) NIL NIL) \
         \"mixed\" (\"boundary\" \"=_mixed_0003\") NIL NIL))\r\n"
    );
    assert_eq!(
        bs(4, false),
        "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 40 1))\r\n"
    );
}

#[test]
fn sections_of_the_demo_mail() {
    let mbx = user();
    let m1 = inbox_message(&mbx, 1);
    assert_eq!(m1.section(None).len(), 389);
    assert_eq!(
        fetch_section(&m1, "HEADER.FIELDS (subject FROM)"),
        "From: Arthur Example <arthur@fabrikam.com>\r\nSubject: Test Mail\r\n\r\n"
    );
    assert_eq!(fetch_section(&m1, "HEADER.FIELDS (X-Nothing)"), "\r\n");
    let not = fetch_section(
        &m1,
        "HEADER.FIELDS.NOT (Return-Path From To Subject Date Message-ID MIME-Version)",
    );
    assert_eq!(
        not,
        "Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    );
    let header = fetch_section(&m1, "HEADER");
    assert!(header.starts_with("Return-Path: <arthur@fabrikam.com>\r\n") && header.ends_with("7bit\r\n\r\n"));
    assert_eq!(header.len(), 316);
    let text = "Hello,\r\n\r\nthis is the first test mail for the mailbox poller.\r\n\r\nArthur\r\n";
    assert_eq!(fetch_section(&m1, "TEXT"), text);
    assert_eq!(
        fetch_section(&m1, "1"),
        text,
        "part 1 of a single-part message is its body"
    );
    assert_eq!(fetch_section(&m1, "1.MIME"), header);
    assert_eq!(fetch_section(&m1, "2"), "");

    let m2 = inbox_message(&mbx, 2);
    assert_eq!(
        fetch_section(&m2, "1"),
        "Please start the process for order 4711.\r\n\r\nGr=C3=BC=C3=9Fe, Arthur"
    );
    assert_eq!(
        fetch_section(&m2, "2"),
        "<html><body><p>Please start the <b>process</b> for order 4711.</p><p>Gr=C3=BC=\r\n=C3=9Fe, Arthur</p></body></html>"
    );
    assert_eq!(
        fetch_section(&m2, "1.MIME"),
        "Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    );
    assert_eq!(fetch_section(&m2, "3"), "");
    assert_eq!(fetch_section(&m2, "TEXT").len(), 407);

    let m3 = inbox_message(&mbx, 3);
    assert_eq!(
        fetch_section(&m3, "2"),
        "TWVldGluZyBub3RlczoKLSBwb2xsZXIgd29ya3MKLSBhc2sgYWJvdXQgSU1BUAo="
    );
    assert_eq!(
        fetch_section(&m3, "2.MIME"),
        "Content-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    );
    assert_eq!(
        fetch_section(&m3, "1"),
        "How are you? The notes from our call are attached."
    );
    assert!(fetch_section(&m3, "TEXT").starts_with("--=_mixed_0003\r\n"));
    assert!(fetch_section(&m3, "HEADER.FIELDS (CC)").starts_with("Cc: Shared Inbox"));
}

const NESTED: &str = "From: a@example.com\r\nSubject: Fwd\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n\
preamble\r\n--outer\r\n\r\nplain first part\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n\
From: Inner <inner@example.com>\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=\"in\"\r\n\r\n\
--in\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--in\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--in--\r\n\
\r\n--outer\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n--rel\r\nContent-Type: image/png\r\n\
Content-Transfer-Encoding: base64\r\nContent-ID: <img1>\r\n\r\niVBORw0KGgo=\r\n--rel--\r\n--outer--\r\nepilogue\r\n";

#[test]
fn nested_multiparts_and_embedded_messages() {
    let mbx = Mailbox::new("x@contoso.com");
    let (_, uid) = mbx
        .append("INBOX", NESTED.as_bytes(), Flags::empty(), None)
        .expect("append");
    let m = mbx.message("INBOX", uid).expect("message");
    assert_eq!(fetch_section(&m, "1"), "plain first part");
    assert_eq!(fetch_section(&m, "1.MIME"), "\r\n");
    assert_eq!(fetch_section(&m, "2.HEADER.FIELDS (Subject)"), "Subject: inner\r\n\r\n");
    assert!(fetch_section(&m, "2.HEADER").starts_with("From: Inner"));
    assert!(fetch_section(&m, "2.TEXT").starts_with("--in\r\n"));
    assert!(fetch_section(&m, "2").starts_with("From: Inner"));
    assert_eq!(fetch_section(&m, "2.1"), "inner text");
    assert_eq!(fetch_section(&m, "2.2"), "<p>inner</p>");
    assert_eq!(fetch_section(&m, "2.1.MIME"), "Content-Type: text/plain\r\n\r\n");
    assert_eq!(fetch_section(&m, "3.1"), "iVBORw0KGgo=");
    assert_eq!(fetch_section(&m, "3.2"), "");
    assert_eq!(fetch_section(&m, "1.1"), "");
    let bs = encoded(MessageDataItem::Body(m.body_structure(false)));
    assert!(bs.starts_with("* 1 FETCH (BODY ((\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 1)(\"MESSAGE\" \"RFC822\""), "{bs}");
    assert!(
        bs.contains("(\"image\" \"png\" NIL \"<img1>\" NIL \"base64\" 12) \"related\") \"mixed\"))"),
        "{bs}"
    );
    assert!(
        bs.contains("(NIL \"inner\" ((\"Inner\" NIL \"inner\" \"example.com\"))"),
        "{bs}"
    );
    assert!(
        bs.contains("\"alternative\") 13)"),
        "lines of the embedded message: {bs}"
    );
    // Searching reaches the nested text.
    assert_eq!(search(&mbx, "INBOX", "BODY \"inner text\""), [uid]);
}

// --- search ------------------------------------------------------------------------------

#[test]
fn search_keys() {
    let mbx = user();
    mbx.store_flags("INBOX", &[1], FlagOp::Add, Flags::SEEN.union(Flags::ANSWERED))
        .expect("store");
    mbx.store_flags("INBOX", &[2], FlagOp::Add, Flags::FLAGGED.union(Flags::MDN_SENT))
        .expect("store");
    mbx.store_flags("INBOX", &[3], FlagOp::Add, Flags::DELETED.union(Flags::DRAFT))
        .expect("store");
    let s = |c: &str| search(&mbx, "INBOX", c);
    assert_eq!(s("ALL"), [1, 2, 3, 4]);
    assert_eq!(s("ANSWERED"), [1]);
    assert_eq!(s("UNANSWERED"), [2, 3, 4]);
    assert_eq!(s("SEEN"), [1]);
    assert_eq!(s("UNSEEN"), [2, 3, 4]);
    assert_eq!(s("FLAGGED"), [2]);
    assert_eq!(s("UNFLAGGED"), [1, 3, 4]);
    assert_eq!(s("DELETED"), [3]);
    assert_eq!(s("UNDELETED"), [1, 2, 4]);
    assert_eq!(s("DRAFT"), [3]);
    assert_eq!(s("UNDRAFT"), [1, 2, 4]);
    assert_eq!(s("NEW"), [] as [u32; 0]);
    assert_eq!(s("RECENT"), [] as [u32; 0]);
    assert_eq!(s("OLD"), [1, 2, 3, 4]);
    assert_eq!(s("KEYWORD $MDNSent"), [2]);
    assert_eq!(s("KEYWORD $mdnsent"), [2]);
    assert_eq!(s("UNKEYWORD $MDNSent"), [1, 3, 4]);
    assert_eq!(s("KEYWORD Custom"), [] as [u32; 0]);
    assert_eq!(s("UNKEYWORD Custom"), [1, 2, 3, 4]);
    assert_eq!(s("FROM arthur"), [1, 2, 3, 4]);
    assert_eq!(
        s("FROM \"Arthur Example\""),
        [1, 2, 3, 4],
        "display names match (Exchange)"
    );
    assert_eq!(s("FROM FABRIKAM.COM"), [1, 2, 3, 4]);
    assert_eq!(s("FROM nobody"), [] as [u32; 0]);
    assert_eq!(s("TO \"test user\""), [1, 2, 3, 4]);
    assert_eq!(s("CC shared"), [3]);
    assert_eq!(s("BCC shared"), [] as [u32; 0]);
    assert_eq!(s("SUBJECT test"), [1, 2]);
    assert_eq!(s("SUBJECT \"how ARE\""), [3]);
    assert_eq!(s("BODY 4711"), [2]);
    let umlauts = SearchKey::Body("GRÜSSE".try_into().expect("astring"));
    assert_eq!(
        search_with(&mbx, "INBOX", &umlauts),
        [] as [u32; 0],
        "no case folding beyond lower-casing"
    );
    let umlauts = SearchKey::Body("grüße".try_into().expect("astring"));
    assert_eq!(
        search_with(&mbx, "INBOX", &umlauts),
        [2],
        "quoted-printable is decoded for BODY"
    );
    assert_eq!(s("BODY \"no attachment\""), [4]);
    assert_eq!(s("TEXT \"no attachment\""), [4]);
    assert_eq!(s("TEXT demo-0003"), [3], "TEXT covers the header");
    assert_eq!(s("BODY demo-0003"), [] as [u32; 0]);
    assert_eq!(s("HEADER In-Reply-To demo-0002"), [3]);
    assert_eq!(
        s("HEADER Return-Path \"\""),
        [1],
        "an empty value matches a present field"
    );
    assert_eq!(s("HEADER X-Missing \"\""), [] as [u32; 0]);
    assert_eq!(s("BEFORE 16-Nov-2022"), [1]);
    assert_eq!(s("ON 16-Nov-2022"), [2, 3]);
    assert_eq!(s("SINCE 16-Nov-2022"), [2, 3, 4]);
    assert_eq!(s("SENTBEFORE 17-Nov-2022"), [1, 2, 3]);
    assert_eq!(s("SENTON 15-Nov-2022"), [1]);
    assert_eq!(s("SENTSINCE 17-Nov-2022"), [4]);
    assert_eq!(s("LARGER 400"), [2, 3]);
    assert_eq!(s("SMALLER 389"), [4]);
    assert_eq!(s("UID 2:3"), [2, 3]);
    assert_eq!(s("UID 3:*"), [3, 4]);
    assert_eq!(s("UID *"), [4]);
    assert_eq!(s("UID *:3"), [3, 4]);
    assert_eq!(s("1,4"), [1, 4]);
    assert_eq!(s("2:*"), [2, 3, 4]);
    assert_eq!(s("NOT SEEN"), [2, 3, 4]);
    assert_eq!(s("OR SEEN FLAGGED"), [1, 2]);
    assert_eq!(s("(SUBJECT test UNSEEN)"), [2]);
    assert_eq!(s("SUBJECT test UNSEEN"), [2]);
    assert_eq!(s("NOT (OR SEEN (FLAGGED DRAFT))"), [2, 3, 4]);
    assert_eq!(s("OR DELETED NOT (FROM arthur)"), [3]);
}

#[test]
fn sequence_numbers_after_expunge() {
    let mbx = user();
    mbx.store_flags("INBOX", &[1], FlagOp::Add, Flags::DELETED)
        .expect("store");
    assert_eq!(mbx.expunge("INBOX", None).expect("expunge"), [1]);
    // Now UID 2 is message 1.
    assert_eq!(search(&mbx, "INBOX", "1"), [2]);
    assert_eq!(search(&mbx, "INBOX", "*"), [4]);
}

// --- flags, expunge, copy, move, append ---------------------------------------------------

#[test]
fn store_flags_ops_and_unknown_keywords() {
    use imap_codec::imap_types::flag::Flag;
    let mbx = user();
    let seen = Flags::SEEN;
    assert_eq!(
        mbx.store_flags("INBOX", &[1, 2, 99], FlagOp::Add, seen).expect("store"),
        [(1, seen), (2, seen)]
    );
    assert_eq!(
        mbx.store_flags("INBOX", &[2], FlagOp::Add, Flags::FLAGGED)
            .expect("store"),
        [(2, seen.union(Flags::FLAGGED))]
    );
    assert_eq!(
        mbx.store_flags("INBOX", &[2], FlagOp::Remove, seen).expect("store"),
        [(2, Flags::FLAGGED)]
    );
    assert_eq!(
        mbx.store_flags("INBOX", &[1], FlagOp::Replace, Flags::DRAFT)
            .expect("store"),
        [(1, Flags::DRAFT)]
    );
    assert_eq!(mbx.status("INBOX").expect("status").unseen, 4);
    assert!(mbx.store_flags("Nope", &[1], FlagOp::Add, seen).is_err());

    // Only $MDNSent sticks among keywords.
    let imap = [
        Flag::Seen,
        Flag::try_from("$MDNSent").expect("flag"),
        Flag::try_from("Custom").expect("flag"),
        Flag::try_from("\\Answered").expect("flag"),
    ];
    let flags = Flags::from_imap(&imap);
    assert_eq!(flags, Flags::SEEN.union(Flags::MDN_SENT).union(Flags::ANSWERED));
    assert_eq!(
        flags.to_imap(),
        vec![Flag::Seen, Flag::Answered, Flag::try_from("$MDNSent").expect("flag")]
    );
    assert_eq!(Flags::permanent_flags().len(), 6);
    let m = inbox_message(&mbx, 1);
    assert_eq!(m.flags, Flags::DRAFT, "message() reflects STORE");
}

#[test]
fn expunge_all_and_uid_expunge() {
    let mbx = user();
    mbx.store_flags("INBOX", &[1, 3, 4], FlagOp::Add, Flags::DELETED)
        .expect("store");
    assert_eq!(mbx.expunge("INBOX", Some(&[3, 2])).expect("uid expunge"), [3]);
    assert_eq!(mbx.expunge("INBOX", None).expect("expunge"), [1, 4]);
    assert_eq!(mbx.expunge("INBOX", None).expect("expunge"), [] as [u32; 0]);
    let st = mbx.status("INBOX").expect("status");
    assert_eq!((st.messages, st.uid_next), (1, 5));
    assert!(mbx.message("INBOX", 1).is_none());
    assert!(mbx.message("INBOX", 2).is_some());
}

#[test]
fn copy_and_move() {
    let mbx = user();
    mbx.store_flags("INBOX", &[2], FlagOp::Add, Flags::SEEN).expect("store");
    let drafts = mbx.status("Drafts").expect("status");
    let r = mbx.copy("INBOX", &[3, 2, 99], "Drafts").expect("copy");
    assert_eq!(r.uid_validity, drafts.uid_validity);
    assert_eq!(r.pairs, [(2, 1), (3, 2)]);
    assert_eq!(mbx.status("INBOX").expect("status").messages, 4);
    let copied = mbx.message("Drafts", 1).expect("copied");
    assert_eq!(copied.flags, Flags::SEEN, "flags are copied");
    assert_eq!(copied.raw, inbox_message(&mbx, 2).raw);
    assert_eq!(copied.internal_date, inbox_message(&mbx, 2).internal_date);

    let r = mbx.move_messages("INBOX", &[1, 4], "Deleted Items").expect("move");
    assert_eq!(r.pairs, [(1, 1), (4, 2)]);
    assert_eq!(
        mbx.snapshot("INBOX")
            .expect("snapshot")
            .entries
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(mbx.status("Deleted Items").expect("status").messages, 2);

    // Into the same folder: new UIDs.
    let r = mbx.copy("INBOX", &[2], "INBOX").expect("copy");
    assert_eq!(r.pairs, [(2, 5)]);
    let r = mbx.move_messages("INBOX", &[3], "INBOX").expect("move");
    assert_eq!(r.pairs, [(3, 6)]);
    assert_eq!(
        mbx.snapshot("INBOX")
            .expect("snapshot")
            .entries
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        [2, 5, 6]
    );
    assert!(matches!(
        mbx.copy("INBOX", &[2], "Nope"),
        Err(StoreError::NoSuchFolder(_))
    ));
    assert!(matches!(
        mbx.move_messages("Nope", &[2], "INBOX"),
        Err(StoreError::NoSuchFolder(_))
    ));
}

#[test]
fn append_and_deliver() {
    let store = demo();
    let mbx = store.mailbox(USER).expect("mailbox");
    let date = time::macros::datetime!(2023-01-02 03:04:05 +01:00);
    let (validity, uid) = mbx
        .append("Sent Items", b"Subject: sent\r\n\r\nbody\r\n", Flags::SEEN, Some(date))
        .expect("append");
    assert_eq!(validity, mbx.status("Sent Items").expect("status").uid_validity);
    assert_eq!(uid, 1);
    let m = mbx.message("Sent Items", uid).expect("message");
    assert_eq!((m.internal_date, m.flags), (date, Flags::SEEN));
    assert!(matches!(
        mbx.append("INBOX", b"", Flags::empty(), None),
        Err(StoreError::InvalidMessage(ParseError::Empty))
    ));
    assert!(matches!(
        mbx.append("Nope", b"Subject: x\r\n\r\n", Flags::empty(), None),
        Err(StoreError::NoSuchFolder(_))
    ));
    assert_eq!(
        mbx.status("INBOX").expect("status").uid_next,
        5,
        "a failed APPEND uses no UID"
    );

    let before = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let uid = store
        .deliver(
            "TEST.USER@contoso.com",
            "INBOX",
            b"Subject: new\r\n\r\nhello\r\n",
            Flags::empty(),
            None,
        )
        .expect("deliver");
    assert_eq!(uid, 5);
    assert!(mbx.message("INBOX", 5).expect("delivered").internal_date >= before);
    assert!(matches!(
        store.deliver(
            "nobody@contoso.com",
            "INBOX",
            b"Subject: x\r\n\r\n",
            Flags::empty(),
            None
        ),
        Err(StoreError::NoSuchMailbox(_))
    ));
}

#[test]
fn change_signal_increments() {
    let mbx = user();
    let rx = mbx.changes();
    let mut last = *rx.borrow();
    let mut step = |what: &str| {
        let now = *rx.borrow();
        assert!(now > last, "{what} did not signal");
        last = now;
    };
    mbx.append("INBOX", b"Subject: a\r\n\r\n", Flags::empty(), None)
        .expect("append");
    step("append");
    mbx.store_flags("INBOX", &[1], FlagOp::Add, Flags::DELETED)
        .expect("store");
    step("store");
    mbx.expunge("INBOX", None).expect("expunge");
    step("expunge");
    mbx.copy("INBOX", &[2], "Drafts").expect("copy");
    step("copy");
    mbx.move_messages("INBOX", &[3], "Drafts").expect("move");
    step("move");
    mbx.create("X").expect("create");
    step("create");
    mbx.rename("X", "Y").expect("rename");
    step("rename");
    mbx.delete("Y").expect("delete");
    step("delete");
}

#[tokio::test]
async fn idle_wakes_on_delivery() {
    let store = Arc::new(demo());
    let mbx = store.mailbox(USER).expect("mailbox");
    let mut rx = mbx.changes();
    rx.borrow_and_update();
    let s2 = store.clone();
    let task = tokio::spawn(async move {
        s2.deliver(USER, "INBOX", b"Subject: ping\r\n\r\n", Flags::empty(), None)
            .expect("deliver");
    });
    tokio::time::timeout(std::time::Duration::from_secs(5), rx.changed())
        .await
        .expect("woken in time")
        .expect("sender alive");
    task.await.expect("task");
    assert_eq!(mbx.status("INBOX").expect("status").messages, 5);
}

// --- invariants ---------------------------------------------------------------------------

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Append(usize),
        Store(usize, Vec<u32>, u8, u8),
        Expunge(usize, Option<Vec<u32>>),
        Copy(usize, Vec<u32>, usize),
        Move(usize, Vec<u32>, usize),
    }

    const FOLDERS: [&str; 3] = ["INBOX", "Drafts", "Archive"];

    fn uids() -> impl Strategy<Value = Vec<u32>> {
        proptest::collection::vec(1u32..12, 0..4)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize).prop_map(Op::Append),
            (0..3usize, uids(), 0u8..3, 0u8..64).prop_map(|(f, u, o, fl)| Op::Store(f, u, o, fl)),
            (0..3usize, proptest::option::of(uids())).prop_map(|(f, u)| Op::Expunge(f, u)),
            (0..3usize, uids(), 0..3usize).prop_map(|(a, u, b)| Op::Copy(a, u, b)),
            (0..3usize, uids(), 0..3usize).prop_map(|(a, u, b)| Op::Move(a, u, b)),
        ]
    }

    proptest! {
        #[test]
        fn uid_invariants_hold(ops in proptest::collection::vec(op(), 1..40)) {
            let mbx = Mailbox::new("p@contoso.com");
            mbx.create("Archive").expect("create");
            let validity: Vec<u32> = FOLDERS.iter().map(|f| mbx.status(f).expect("status").uid_validity).collect();
            let mut last_next = [1u32; 3];
            for op in ops {
                match op {
                    Op::Append(f) => {
                        let (v, uid) = mbx.append(FOLDERS[f], b"Subject: p\r\n\r\nx\r\n", Flags::empty(), None).expect("append");
                        prop_assert_eq!(v, validity[f]);
                        prop_assert_eq!(uid, last_next[f]);
                    }
                    Op::Store(f, u, o, fl) => {
                        let op = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][usize::from(o)];
                        let flags = Flags::from_imap(&Flags::all_flags()
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| fl & (1 << i) != 0)
                            .map(|(_, f)| f)
                            .collect::<Vec<_>>());
                        mbx.store_flags(FOLDERS[f], &u, op, flags).expect("store");
                    }
                    Op::Expunge(f, u) => {
                        let gone = mbx.expunge(FOLDERS[f], u.as_deref()).expect("expunge");
                        prop_assert!(gone.windows(2).all(|w| w[0] < w[1]));
                    }
                    Op::Copy(a, u, b) => {
                        let r = mbx.copy(FOLDERS[a], &u, FOLDERS[b]).expect("copy");
                        prop_assert_eq!(r.uid_validity, validity[b]);
                        prop_assert!(r.pairs.iter().all(|p| p.1 >= last_next[b]));
                    }
                    Op::Move(a, u, b) => {
                        let r = mbx.move_messages(FOLDERS[a], &u, FOLDERS[b]).expect("move");
                        prop_assert_eq!(r.uid_validity, validity[b]);
                        if a != b {
                            for (src, _) in &r.pairs {
                                prop_assert!(mbx.message(FOLDERS[a], *src).is_none());
                            }
                        }
                    }
                }
                for (i, f) in FOLDERS.iter().enumerate() {
                    let snap = mbx.snapshot(f).expect("snapshot");
                    let st = mbx.status(f).expect("status");
                    prop_assert!(snap.entries.windows(2).all(|w| w[0].0 < w[1].0), "UIDs strictly ascending");
                    prop_assert!(snap.entries.iter().all(|e| e.0 < snap.uid_next && e.0 > 0));
                    prop_assert!(snap.uid_next >= last_next[i], "UIDNEXT never decreases");
                    prop_assert_eq!(snap.uid_validity, validity[i]);
                    prop_assert_eq!(st.messages as usize, snap.entries.len());
                    prop_assert_eq!(st.uid_next, snap.uid_next);
                    prop_assert_eq!(st.unseen as usize, snap.entries.iter().filter(|e| !e.1.seen()).count());
                    last_next[i] = snap.uid_next;
                }
            }
        }
    }
}

#[test]
fn mailbox_limits_bound_append_copy_create_and_rename() {
    let store = demo();
    let mbx = store.mailbox(USER).expect("mailbox");
    let held = mbx.status("INBOX").expect("status").messages as usize
        + ["Drafts", "Sent Items", "Deleted Items", "Junk Email"]
            .iter()
            .map(|f| mbx.status(f).expect("status").messages as usize)
            .sum::<usize>();
    // Room for three more messages, two more folders, three levels.
    store.set_limits(MailboxLimits {
        quota_bytes: u64::MAX,
        max_messages: held + 3,
        max_folders: 7,
        max_depth: 3,
    });
    let msg = b"Subject: q\r\n\r\nx\r\n";
    mbx.append("Drafts", msg, Flags::empty(), None).expect("first");
    let uid = mbx.append("Drafts", msg, Flags::empty(), None).expect("second").1;
    // COPY of two messages needs two places; one is left: refused whole, nothing copied.
    let err = mbx
        .copy("Drafts", &[uid - 1, uid], "Drafts")
        .expect_err("over the message limit");
    assert!(
        matches!(&err, StoreError::OverQuota(r) if r.contains("--mailbox-max-messages")),
        "{err}"
    );
    assert_eq!(mbx.status("Drafts").expect("status").messages, 2);
    mbx.copy("Drafts", &[uid], "Drafts").expect("one fits");
    assert!(matches!(
        mbx.append("Drafts", msg, Flags::empty(), None),
        Err(StoreError::OverQuota(_))
    ));
    // MOVE makes nothing new: still allowed at the limit.
    mbx.move_messages("Drafts", &[uid], "INBOX").expect("move");

    mbx.create("A/B").expect("two folders");
    assert!(matches!(mbx.create("C"), Err(StoreError::OverQuota(r)) if r.contains("--mailbox-max-folders")));
    assert!(
        matches!(mbx.rename("A", "X/Y/Z"), Err(StoreError::OverQuota(_))),
        "X is one folder too many"
    );
    assert!(matches!(mbx.rename("A/B", "A/B/C/D"), Err(StoreError::OverQuota(_))));
    mbx.rename("A", "Top").expect("same depth, no new parent");
    assert!(mbx.exists("Top/B"));

    // The byte quota counts every copy at its size.
    store.set_limits(MailboxLimits {
        quota_bytes: 0,
        ..MailboxLimits::default()
    });
    let err = mbx
        .append("Drafts", msg, Flags::empty(), None)
        .expect_err("over the quota");
    assert!(err.to_string().contains("--mailbox-quota-bytes"), "{err}");
    // Limits reach mailboxes added later, and a submission skips a full mailbox.
    store.add_mailbox("new@contoso.com").expect("new");
    assert!(store
        .mailbox("new@contoso.com")
        .expect("new")
        .append("INBOX", msg, Flags::empty(), None)
        .is_err());
    let delivered = store
        .submit(USER, &["new@contoso.com".to_string()], msg, OffsetDateTime::now_utc())
        .expect("the submission itself succeeds");
    assert!(delivered.is_empty(), "{delivered:?}");
}

#[test]
#[ignore = "a measurement: cargo test --release -p mock-server --lib list_of_many_folders -- --ignored --nocapture"]
fn list_of_many_folders_cost() {
    let mbx = user();
    for i in 0..MAX_FOLDERS - 200 {
        mbx.create(&format!("F{}/S{i}", i % 100)).expect("create");
    }
    let started = std::time::Instant::now();
    let n = mbx.list().len();
    println!("LIST of {n} folders: {:?}", started.elapsed());
}
