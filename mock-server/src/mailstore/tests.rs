use super::*;

fn demo() -> Store {
    let dir = crate::directory::fixture::demo_tenant().expect("demo tenant");
    Store::from_directory(&dir).expect("store")
}

#[test]
fn loads_demo() {
    let store = demo();
    let mbx = store.mailbox("Test.User@contoso.com").expect("mailbox");
    assert_eq!(mbx.status("inbox").expect("status").messages, 4);
}
