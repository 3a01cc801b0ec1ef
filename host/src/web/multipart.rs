//! A small `multipart/form-data` reader: the plugin upload is the only multipart form, and the access
//! layer must find its `csrf_token` field before any handler runs (see [`super::access`]).
//!
//! Whole bodies only (they are size-limited before parsing); no nested multipart, no transfer
//! encodings: what browsers send for an `<input type=file>` form.

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The field's `name`.
    pub name: String,
    /// The uploaded file's name, for file fields.
    pub filename: Option<String>,
    /// The field's bytes.
    pub data: &'a [u8],
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_owned())
    })
    .filter(|b| !b.is_empty() && b.len() <= 200)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The parts of a multipart body.
///
/// # Errors
/// A sentence saying what is malformed.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let start = find(body, delimiter.as_bytes()).ok_or("the form has no parts")?;
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or("a part does not start on a new line")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("a part has no end of headers")?;
        let head = String::from_utf8_lossy(&rest[..head_end]);
        let after_head = &rest[head_end + 4..];
        let data_end = find(after_head, next_delimiter.as_bytes()).ok_or("the form ends early")?;
        let (mut name, mut filename) = (None, None);
        for line in head.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            if !key.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for param in value.split(';').skip(1) {
                let Some((k, v)) = param.split_once('=') else { continue };
                let v = v.trim().trim_matches('"').to_owned();
                match k.trim() {
                    "name" => name = Some(v),
                    "filename" => filename = Some(v),
                    _ => {}
                }
            }
        }
        let name = name.ok_or("a part has no field name")?;
        parts.push(Part { name, filename, data: &after_head[..data_end] });
        rest = &after_head[data_end + next_delimiter.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.wasm\"\r\nContent-Type: application/wasm\r\n\r\n\0asm\r\n--\r\n--XyZ--\r\n";
        let b = boundary("multipart/form-data; boundary=XyZ").expect("boundary");
        let parts = parse(body, &b).expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].data), ("csrf_token", &b"abc"[..]));
        assert_eq!(parts[1].filename.as_deref(), Some("q.wasm"));
        assert_eq!(parts[1].data, b"\0asm\r\n--");
        assert!(parse(b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "XyZ").is_err());
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }
}
