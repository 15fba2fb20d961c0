//! Keeping passwords out of sight: the [`Secret`] type, and [`Redacted`], the form of a
//! URL an error may show (every part that may hold a password masked, found by the URL's
//! structure alone).

use std::fmt;
use std::ops::Range;

use super::percent::percent_decode_lossy;
use super::{CLIENT_OPTIONS, CLUSTER_OPTIONS};
use crate::error::Error;

/// A password that never shows up in `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Whether an option's name says its value is a secret (`replica_password`, and any
/// misspelling or future option such as `admin_pwd`): percent-decoded, any case.
pub(super) fn is_secret_option(raw_name: &str) -> bool {
    let name = percent_decode_lossy(raw_name).to_ascii_lowercase();
    ["pass", "pwd", "secret"].iter().any(|s| name.contains(s))
}

/// Where the option that follows a secret's value starts: the next `&` followed by a
/// known option's `name=`. A raw `&` followed by anything else may be part of the secret.
fn next_known_option(url: &str, from: usize) -> Option<usize> {
    url[from..]
        .match_indices('&')
        .map(|(i, _)| from + i)
        .find(|&amp| {
            let after = &url[amp + 1..];
            CLUSTER_OPTIONS
                .iter()
                .chain(CLIENT_OPTIONS)
                .any(|name| after.strip_prefix(name).is_some_and(|v| v.starts_with('=')))
        })
}

/// Where what follows `scheme://` starts, when `url` starts with a scheme (text before
/// something that looks like a URL is not a URL).
fn after_scheme(url: &str) -> Option<usize> {
    let end = url.find("://")?;
    let scheme = url[..end].trim_start();
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b));
    valid.then_some(end + 3)
}

/// The byte ranges of `url` that may hold a password, found by structure alone (never by
/// looking for the password: in a malformed URL nobody knows what it is). `None` when the
/// URL can't be split at all (no `scheme://` at its start, or no `@` after it): then no
/// part of it may be shown.
///
/// * The password: from the first `:` after `://` to the *last* `@` of the whole text. A
///   malformed password may hold `#`, `?`, `/`, `@` or `:`; the last `@` is the latest the
///   credentials can end, so whatever the URL's shape the password is inside.
/// * The value of every option whose name contains `pass`, `pwd` or `secret` (see
///   [`is_secret_option`]), wherever it appears: from its `=` to the next `&` that starts a
///   known option, else to the end of the text (a raw `&` may be part of the value).
fn secret_ranges(url: &str) -> Option<Vec<Range<usize>>> {
    let rest = after_scheme(url)?;
    let last_at = url.rfind('@').filter(|&at| at >= rest)?;
    let mut ranges = Vec::new();
    if let Some(colon) = url[rest..last_at].find(':') {
        ranges.push(rest + colon + 1..last_at);
    }
    for (sep, _) in url.match_indices(['?', '&']).filter(|&(i, _)| i >= rest) {
        let name_start = sep + 1;
        let Some(eq) = url[name_start..]
            .find(['=', '&', '?'])
            .map(|e| name_start + e)
        else {
            continue;
        };
        if url.as_bytes()[eq] != b'=' || !is_secret_option(&url[name_start..eq]) {
            continue;
        }
        let value_end = next_known_option(url, eq + 1).unwrap_or(url.len());
        ranges.push(eq + 1..value_end);
    }
    ranges.sort_by_key(|r| r.start);
    Some(ranges)
}

/// A URL as an error may show it: the text with every range that may hold a password
/// (see [`secret_ranges`]) replaced by `***`, and parts of it quoted only when they lie
/// wholly outside those ranges.
pub(crate) struct Redacted<'a> {
    url: &'a str,
    secrets: Option<Vec<Range<usize>>>,
}

/// What an error says instead of a part of the URL that may hold a password.
pub(super) const NOT_SHOWN: &str = "(not shown: it may hold part of a password)";

impl<'a> Redacted<'a> {
    pub(crate) fn new(url: &'a str) -> Self {
        Redacted {
            url,
            secrets: secret_ranges(url),
        }
    }

    /// The URL with its secrets masked, or a placeholder when it can't be split.
    pub(crate) fn text(&self) -> String {
        let Some(secrets) = &self.secrets else {
            return if after_scheme(self.url).is_some() {
                "(not shown: no `@` separates the credentials from the hosts)".to_string()
            } else {
                "(not shown: not a URL)".to_string()
            };
        };
        let mut out = String::with_capacity(self.url.len());
        let mut shown_to = 0;
        for r in secrets {
            if r.start >= shown_to {
                out.push_str(&self.url[shown_to..r.start]);
                out.push_str("***");
            }
            shown_to = shown_to.max(r.end);
        }
        out.push_str(&self.url[shown_to..]);
        out
    }

    /// Whether `part`, a slice of the URL, holds no byte that may belong to a password.
    pub(super) fn is_clean(&self, part: &str) -> bool {
        let Some(secrets) = &self.secrets else {
            return false;
        };
        let Some(start) = (part.as_ptr() as usize).checked_sub(self.url.as_ptr() as usize) else {
            return false;
        };
        let end = start + part.len();
        end <= self.url.len() && secrets.iter().all(|r| end <= r.start || start >= r.end)
    }

    /// `` `shown` `` when `raw` (the slice of the URL `shown` was read from) is clean,
    /// else a placeholder.
    pub(super) fn quote(&self, raw: &str, shown: &str) -> String {
        if self.is_clean(raw) {
            format!("`{shown}`")
        } else {
            NOT_SHOWN.to_string()
        }
    }

    pub(super) fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidUrl {
            url: self.text(),
            reason: reason.into(),
        }
    }
}

/// An error about a URL option whose value may hold part of a password (it is one of
/// `hidden`, see [`ParsedUrl::hidden`](super::ParsedUrl::hidden)), without the value.
pub(crate) fn hide_option_value(error: Error, hidden: &[String]) -> Error {
    match error {
        Error::InvalidOption { option, .. } if hidden.contains(&option) => Error::InvalidOption {
            reason: format!(
                "invalid value {NOT_SHOWN}: percent-encode `@`, `/`, `?`, `#` and `:` in a \
                 password"
            ),
            option,
        },
        other => other,
    }
}

/// Replaces whatever may be a password in a URL-like string with `***` (see
/// [`secret_ranges`]), for messages about bad URLs. Works on anything, including strings
/// that are not URLs at all (they are not shown).
pub(crate) fn redact(url: &str) -> String {
    Redacted::new(url).text()
}
