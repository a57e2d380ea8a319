//! Just enough `multipart/form-data` (RFC 7578) for the console's one upload form: named
//! parts, each header block then bytes up to the next boundary. The body is already
//! bounded by the caller.

/// Most parts a form may carry; the console's largest form has a handful.
pub const MAX_PARTS: usize = 64;

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// `name="…"` from a `Content-Disposition: form-data; name="…"` header.
fn part_name(headers: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (h, v) = line.split_once(':')?;
        if !h.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        v.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k == "name").then(|| v.trim_matches('"').to_string())
        })
    })
}

/// The parts as (name, bytes), in order.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    if boundary.is_empty() || boundary.len() > 70 {
        return Err("multipart: the boundary must be 1 to 70 characters (RFC 2046)".into());
    }
    let delim = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut at = find(body, delim.as_bytes(), 0).ok_or("multipart: no opening boundary")? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        if parts.len() >= MAX_PARTS {
            return Err(format!("multipart: more than {MAX_PARTS} parts"));
        }
        let start = at + 2; // the CRLF after the boundary
        let head_end = find(body, b"\r\n\r\n", start).ok_or("multipart: a part has no header end")?;
        let headers = String::from_utf8_lossy(body.get(start..head_end).unwrap_or_default()).into_owned();
        let data_start = head_end + 4;
        let data_end = find(body, next.as_bytes(), data_start).ok_or("multipart: a part is not closed")?;
        let name = part_name(&headers).ok_or("multipart: a part has no name")?;
        parts.push((name, body[data_start..data_end].to_vec()));
        at = data_end + next.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_by_name_with_their_bytes() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"verb\"\r\n\r\ndeliver\r\n--XX\r\nContent-Disposition: form-data; name=\"eml_file\"; filename=\"m.eml\"\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nbody\r\n--XX--\r\n";
        let b = boundary("multipart/form-data; boundary=XX").expect("multipart");
        let parts = parse(body, &b).expect("parses");
        assert_eq!(parts[0], ("verb".to_string(), b"deliver".to_vec()));
        assert_eq!(parts[1], ("eml_file".to_string(), b"Subject: x\r\n\r\nbody".to_vec()));
        assert!(parse(
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nnever closed",
            "XX"
        )
        .is_err());
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }
}
