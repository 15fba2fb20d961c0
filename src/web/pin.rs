//! The read-your-writes pin a response leaves in a cookie for the client's next requests.
//!
//! Cookie values (RFC 6265 `cookie-octet`s only, no quoting needed):
//!
//! * `<expiry>.<token>`: replica reads wait for the [`ConsistencyToken`] (`0-1-10_1-2-5`);
//! * `<expiry>`: reads go to the master (a sticky window).
//!
//! `<expiry>` is a unix time in milliseconds. The server checks it itself, so a cookie a
//! client keeps (or forges) past its lifetime is ignored like garbage.
//!
//! With a key ([`pin_key`](super::ReplicationLayerBuilder::pin_key)) the value is signed:
//! `<value>~<mac>`, where `<mac>` is the first 16 bytes of HMAC-SHA256 over the value, in
//! hex. A value with a missing or wrong signature is ignored like garbage (and cleared).
//! Without a key a client can forge a pin; what that can cost is bounded (see the crate
//! docs, *Read-your-writes*): its own reads go to the master.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

use hmac::Mac;

use crate::consistency::ConsistencyToken;

/// Longest cookie value looked at: a maximal token (512 bytes), a dot, the expiry, and a
/// signature. Anything longer is ignored without being parsed.
const MAX_VALUE_LEN: usize = 512 + 1 + 20 + 1 + 2 * MAC_LEN;

/// Bytes of the HMAC-SHA256 kept in a signed cookie (128 bits).
const MAC_LEN: usize = 16;

/// Shortest key accepted by [`PinKey::new`].
pub(crate) const MIN_KEY_LEN: usize = 32;

/// Separates the pin's signatures from any other use of the same key.
const MAC_CONTEXT: &[u8] = b"diesel-cluster pin v1\0";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The key that signs pin cookies. Its `Debug` shows no byte of it.
#[derive(Clone)]
pub(crate) struct PinKey(Vec<u8>);

impl std::fmt::Debug for PinKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinKey(..)")
    }
}

impl PinKey {
    /// `None` when the key is shorter than [`MIN_KEY_LEN`].
    pub(crate) fn new(key: Vec<u8>) -> Option<PinKey> {
        (key.len() >= MIN_KEY_LEN).then_some(PinKey(key))
    }

    fn mac(&self, value: &str) -> HmacSha256 {
        // HMAC takes keys of any length: this can't fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(MAC_CONTEXT);
        mac.update(value.as_bytes());
        mac
    }

    /// `value~<mac>`.
    fn sign(&self, value: &str) -> String {
        let tag = self.mac(value).finalize().into_bytes();
        let mut s = String::with_capacity(value.len() + 1 + 2 * MAC_LEN);
        s.push_str(value);
        s.push('~');
        for b in &tag[..MAC_LEN] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// The value inside a signed cookie, if its signature is right (compared in constant
    /// time).
    fn verify<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, hex) = signed.rsplit_once('~')?;
        if hex.len() != 2 * MAC_LEN {
            return None;
        }
        let mut tag = [0u8; MAC_LEN];
        for (i, byte) in tag.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2)?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        self.mac(value).verify_truncated_left(&tag).ok()?;
        Some(value)
    }
}

/// At most this many cookies of our name are examined per request, so a request
/// stuffed with duplicates costs no more than a few parses.
const MAX_CANDIDATES: usize = 4;

/// Leeway for an expiry set by another instance whose clock runs a little ahead.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// What a valid cookie asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pin {
    /// Replica reads wait until the replica has applied this position.
    Token(ConsistencyToken),
    /// Reads go to the master (sticky window).
    Master,
}

/// The pin cookies a request carried.
#[derive(Clone, Debug, Default)]
pub(crate) struct Incoming {
    /// The first valid pin, if any.
    pub(crate) pin: Option<Pin>,
    /// A cookie of our name was present but unusable (garbage, tampered, expired): the
    /// response clears it so the client stops sending it.
    pub(crate) rejected: bool,
}

/// How `SameSite` is set on the pin cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only with requests from the same site.
    Strict,
    /// Also sent on top-level navigations from other sites (the default: a redirect
    /// after a cross-site form post still reads its write).
    #[default]
    Lax,
    /// Sent with every request; browsers require `Secure` with it.
    None,
}

/// Attributes of the pin cookie.
#[derive(Clone, Debug)]
pub(crate) struct CookieSettings {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) same_site: SameSite,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    /// Signs the cookie's value when set.
    pub(crate) key: Option<PinKey>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses one cookie value (checking its signature when there is a key). `max_lifetime`
/// bounds how far in the future an expiry may lie: a forged far-future expiry is as
/// invalid as a past one.
pub(crate) fn parse_value(
    value: &str,
    now_ms: u64,
    max_lifetime: Duration,
    key: Option<&PinKey>,
) -> Option<Pin> {
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return None;
    }
    let value = match key {
        Some(key) => key.verify(value)?,
        None => value,
    };
    let (expiry, token) = match value.split_once('.') {
        Some((e, t)) => (e, Some(t)),
        None => (value, None),
    };
    if expiry.is_empty() || expiry.len() > 16 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let expiry: u64 = expiry.parse().ok()?;
    let latest = now_ms
        .saturating_add(millis(max_lifetime))
        .saturating_add(millis(CLOCK_SKEW));
    if expiry <= now_ms || expiry > latest {
        return None;
    }
    match token {
        None => Some(Pin::Master),
        Some(t) => {
            let token: ConsistencyToken = t.parse().ok()?;
            (!token.is_empty()).then_some(Pin::Token(token))
        }
    }
}

/// Formats a cookie value: the expiry, then the token if any, signed when there is a key.
pub(crate) fn format_value(
    expiry_ms: u64,
    token: Option<&ConsistencyToken>,
    key: Option<&PinKey>,
) -> String {
    let value = match token {
        Some(t) => format!("{expiry_ms}.{t}"),
        None => expiry_ms.to_string(),
    };
    match key {
        Some(key) => key.sign(&value),
        None => value,
    }
}

/// Reads the pin cookies of a request.
pub(crate) fn read(
    headers: &HeaderMap,
    name: &str,
    now_ms: u64,
    max_lifetime: Duration,
    key: Option<&PinKey>,
) -> Incoming {
    let mut incoming = Incoming::default();
    let values = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| n.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
        .take(MAX_CANDIDATES);
    for value in values {
        match parse_value(value, now_ms, max_lifetime, key) {
            Some(pin) if incoming.pin.is_none() => incoming.pin = Some(pin),
            Some(_) => {}
            None => incoming.rejected = true,
        }
    }
    // A valid pin alongside a bad duplicate: keep the valid one rather than clear it.
    if incoming.pin.is_some() {
        incoming.rejected = false;
    }
    incoming
}

impl CookieSettings {
    /// A `Set-Cookie` header for `value`, living `max_age` (zero deletes the cookie).
    pub(crate) fn header(&self, value: &str, max_age: Duration) -> Option<HeaderValue> {
        // Round up: a cookie that dies a fraction of a second before its expiry would
        // leave that fraction unpinned.
        let secs = max_age.as_secs() + u64::from(max_age.subsec_nanos() > 0);
        let mut s = format!("{}={value}; Max-Age={secs}; Path={}", self.name, self.path);
        if let Some(d) = &self.domain {
            s.push_str("; Domain=");
            s.push_str(d);
        }
        s.push_str(match self.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
        if self.secure {
            s.push_str("; Secure");
        }
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        HeaderValue::from_str(&s).ok()
    }

    pub(crate) fn append(headers: &mut HeaderMap, value: Option<HeaderValue>) {
        if let Some(v) = value {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// RFC 6265 cookie-name: an RFC 7230 token.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// A `Path` or `Domain` attribute value: visible ASCII without `;`.
pub(crate) fn valid_attribute(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Duration = Duration::from_secs(30);
    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn values_round_trip() {
        let t: ConsistencyToken = "0-1-10_1-2-5".parse().unwrap();
        let v = format_value(NOW + 1000, Some(&t), None);
        assert_eq!(v, "1800000001000.0-1-10_1-2-5");
        assert_eq!(parse_value(&v, NOW, LIFE, None), Some(Pin::Token(t)));
        let w = format_value(NOW + 1000, None, None);
        assert_eq!(parse_value(&w, NOW, LIFE, None), Some(Pin::Master));
    }

    #[test]
    fn bad_values_are_ignored() {
        let far = (NOW + 3_600_000).to_string();
        let past = (NOW - 1).to_string();
        let long = format!("{}.{}", NOW + 1000, "0-1-1_".repeat(100));
        for bad in [
            "",
            "garbage",
            ".",
            "1800000001000.",
            "1800000001000.x",
            "1800000001000.0-1",
            "1800000001000.0-1-2.0-1-3",
            "+1800000001000",
            "18000000010001234567",
            far.as_str(),
            past.as_str(),
            long.as_str(),
            "1800000001000.0-1-99999999999999999999",
        ] {
            assert_eq!(parse_value(bad, NOW, LIFE, None), None, "{bad:?}");
        }
    }

    #[test]
    fn signed_values_need_the_right_signature() {
        let key = PinKey::new(vec![7; 32]).unwrap();
        let other = PinKey::new(vec![8; 32]).unwrap();
        assert!(PinKey::new(vec![7; 31]).is_none());
        assert_eq!(format!("{key:?}"), "PinKey(..)");
        let t: ConsistencyToken = "0-1-10".parse().unwrap();
        let v = format_value(NOW + 1000, Some(&t), Some(&key));
        let (plain, mac) = v.rsplit_once('~').unwrap();
        assert_eq!(plain, "1800000001000.0-1-10");
        assert_eq!(mac.len(), 32);
        assert_eq!(
            parse_value(&v, NOW, LIFE, Some(&key)),
            Some(Pin::Token(t.clone()))
        );
        let m = format_value(NOW + 1000, None, Some(&key));
        assert_eq!(parse_value(&m, NOW, LIFE, Some(&key)), Some(Pin::Master));
        // Unsigned, signed with another key, tampered value or signature: ignored.
        let flipped = format!(
            "{}{}",
            &v[..v.len() - 1],
            if v.ends_with('0') { '1' } else { '0' }
        );
        let forged = v.replace("0-1-10", "0-1-99");
        for bad in [
            plain.to_string(),
            format_value(NOW + 1000, Some(&t), Some(&other)),
            flipped,
            forged,
            format!("{plain}~"),
            format!("{plain}~{}", "zz".repeat(16)),
            format!("{v}00"),
        ] {
            assert_eq!(parse_value(&bad, NOW, LIFE, Some(&key)), None, "{bad:?}");
        }
        // A signed value read without a key is garbage too.
        assert_eq!(parse_value(&v, NOW, LIFE, None), None);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; pin=\"1800000001000\"; b=2"),
        );
        let i = read(&h, "pin", NOW, LIFE, None);
        assert_eq!(i.pin, Some(Pin::Master));
        assert!(!i.rejected);

        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("pin=junk"));
        let i = read(&h, "pin", NOW, LIFE, None);
        assert_eq!(i.pin, None);
        assert!(i.rejected);

        let i = read(&HeaderMap::new(), "pin", NOW, LIFE, None);
        assert!(i.pin.is_none() && !i.rejected);
    }

    #[test]
    fn set_cookie_header() {
        let s = CookieSettings {
            name: "pin".into(),
            path: "/".into(),
            domain: Some("example.com".into()),
            same_site: SameSite::Strict,
            secure: true,
            http_only: true,
            key: None,
        };
        let h = s.header("1.0-1-2", Duration::from_millis(1500)).unwrap();
        assert_eq!(
            h.to_str().unwrap(),
            "pin=1.0-1-2; Max-Age=2; Path=/; Domain=example.com; SameSite=Strict; Secure; HttpOnly"
        );
        assert!(valid_name("db_pin"));
        assert!(!valid_name("db pin") && !valid_name("a=b") && !valid_name(""));
        assert!(valid_attribute("/app") && !valid_attribute("/a;b"));
    }
}
