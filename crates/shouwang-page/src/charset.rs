//! A fetched body's bytes to text.

/// Decodes `bytes` with the charset from Content-Type, else `<meta
/// charset>`, else UTF-8 (GBK and GB18030 pages are common here).
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> String {
    let from_header = content_type.and_then(|ct| {
        let lower = ct.to_ascii_lowercase();
        let i = lower.find("charset=")?;
        let cs = lower[i + 8..]
            .trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace())
            .split(';')
            .next()?
            .to_owned();
        encoding_rs::Encoding::for_label(cs.as_bytes())
    });
    let enc = from_header.or_else(|| {
        let head = &bytes[..bytes.len().min(2048)];
        let text = String::from_utf8_lossy(head).to_ascii_lowercase();
        let i = text.find("charset=")?;
        let rest = text[i + 8..].trim_start_matches(['"', '\'']);
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        encoding_rs::Encoding::for_label(&rest.as_bytes()[..end])
    });
    let (text, _, _) = enc.unwrap_or(encoding_rs::UTF_8).decode(bytes);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_from_header_then_meta_then_utf8() {
        let (gbk, _, _) = encoding_rs::GBK.encode("政务服务网");
        assert_eq!(decode(&gbk, Some("text/html; charset=GBK")), "政务服务网");
        let mut page = b"<meta charset=\"gb2312\"><p>".to_vec();
        page.extend_from_slice(&gbk);
        assert!(decode(&page, Some("text/html")).contains("政务服务网"));
        assert_eq!(decode("网站".as_bytes(), None), "网站");
        // Invalid bytes are replaced, not an error.
        assert!(decode(&[0xc3, 0x28, b'a'], None).ends_with('a'));
    }
}
