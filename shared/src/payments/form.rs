//! `application/x-www-form-urlencoded`, as Stripe's API takes it (nested keys like
//! `line_items[0][price_data][currency]` are plain names here).

/// Encodes pairs in order; everything but RFC 3986 unreserved characters is percent-encoded.
pub fn encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", escape(name), escape(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes a form body into pairs (the tests' mock provider reads requests with it).
pub fn decode(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (unescape(name), unescape(value))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, other) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_names_and_any_text_round_trip() {
        // given pairs with brackets, spaces, umlauts, ampersands and equals signs
        let pairs = [
            ("line_items[0][price_data][currency]", "eur".to_string()),
            ("description", "Kurs & Buch = 2 × Grüße 100%".to_string()),
        ];
        // when encoded
        let body = encode(&pairs);
        // then nothing that splits a form is left bare, and decoding gives the pairs back
        assert_eq!(body.matches('&').count(), 1);
        assert!(body.starts_with("line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=eur&"));
        let decoded = decode(&body);
        assert_eq!(decoded[1].1, pairs[1].1);
        assert_eq!(decoded[0].0, pairs[0].0);
    }
}
