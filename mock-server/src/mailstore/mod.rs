//! The mail store: mailboxes, folders, messages, UIDs and flags, shared by every mail
//! protocol session. (Being built; see the IMAP issue.)
