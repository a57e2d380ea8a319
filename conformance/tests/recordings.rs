//! Every shipped recording as its own named test: replayed against the in-process mock,
//! and (with `@client-outcome`) played to the client library. Also: the failure catalogue
//! in docs/conformance.md is the one the recordings generate.

use conformance::format::load_all;
use conformance::replay::Verdict;
use libtest_mimic::{Arguments, Failed, Trial};

fn verdict(v: Verdict) -> Result<(), Failed> {
    match v {
        Verdict::Pass | Verdict::Skip(_) => Ok(()),
        Verdict::Fail(why) => Err(why.into()),
    }
}

fn block<F: std::future::Future<Output = Verdict>>(f: F) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    verdict(rt.block_on(f))
}

fn main() {
    let args = Arguments::from_args();
    let (imap, token) = match load_all(&conformance::default_dir()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot load recordings: {e}");
            std::process::exit(1);
        }
    };
    let http = match conformance::http_get::load(&conformance::default_dir()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot load discovery recordings: {e}");
            std::process::exit(1);
        }
    };
    let mut trials = Vec::new();
    for r in &imap {
        let rec = r.clone();
        trials.push(Trial::test(format!("server::{}", r.meta.name), move || {
            block(conformance::imap_in_process(&rec))
        }));
        if r.client_outcome.is_some() {
            let rec = r.clone();
            trials.push(Trial::test(format!("client::{}", r.meta.name), move || {
                block(conformance::client_library(&rec))
            }));
        }
    }
    for r in &token {
        let rec = r.clone();
        trials.push(Trial::test(format!("server::{}", r.name), move || {
            block(conformance::token_in_process(&rec))
        }));
    }
    for r in &http {
        let rec = r.clone();
        trials.push(Trial::test(format!("server::{}", r.name), move || {
            block(conformance::http_get_in_process(&rec))
        }));
    }
    let (i2, t2, h2) = (imap.clone(), token.clone(), http.clone());
    trials.push(Trial::test("docs_catalogue_is_generated_from_the_recordings", move || {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/conformance.md")).map_err(|e| Failed::from(e.to_string()))?;
        let table = conformance::catalogue(&i2, &t2, &h2);
        match conformance::with_catalogue(&readme, &table) {
            Some(updated) if updated == readme => Ok(()),
            Some(_) => Err("docs/conformance.md's failure catalogue is stale: run `cargo run -p conformance -- catalogue --write docs/conformance.md`".into()),
            None => Err("docs/conformance.md lacks the catalogue markers".into()),
        }
    }));
    let enough = imap.iter().filter(|r| !r.meta.cause.is_empty()).count();
    trials.push(Trial::test("at_least_15_imap_failure_causes_are_recorded", move || {
        if enough >= 15 {
            Ok(())
        } else {
            Err(format!("only {enough} failure recordings").into())
        }
    }));
    libtest_mimic::run(&args, trials).exit();
}
