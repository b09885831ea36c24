//! The console's logins: a session per login with the admin token, kept in memory with
//! an expiry, named by a random id in an HttpOnly, SameSite=Strict cookie, and a CSRF
//! token of its own that every state-changing request of the console must carry.
//!
//! Pure but for the random ids (read from `/dev/urandom`): the time is passed in.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Mutex;

/// The session cookie's name.
pub const COOKIE: &str = "pxe_console";
/// How long a session lasts after login, in milliseconds (12 hours).
pub const SESSION_MS: u64 = 12 * 3_600_000;
/// Most sessions held at once; past it the oldest is dropped at the next login.
pub const MAX_SESSIONS: usize = 1024;

/// One login.
#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    expires_ms: u64,
}

/// The sessions of logged-in operators.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Sessions {
    /// A new session: its id (for the cookie) and its CSRF token.
    pub fn start(&self, now_ms: u64) -> std::io::Result<(String, String)> {
        let id = random_hex(32)?;
        let csrf = random_hex(32)?;
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.expires_ms > now_ms);
        while map.len() >= MAX_SESSIONS {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires_ms)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                expires_ms: now_ms + SESSION_MS,
            },
        );
        Ok((id, csrf))
    }

    /// The CSRF token of a live session, if `id` names one. Ids are compared in constant
    /// time: the map is walked, never indexed by the presented id.
    pub fn csrf(&self, id: &str, now_ms: u64) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = None;
        for (k, s) in map.iter() {
            if pxe_daemon::secret::same(k.as_bytes(), id.as_bytes()) && s.expires_ms > now_ms {
                found = Some(s.csrf.clone());
            }
        }
        found
    }

    /// Ends a session (logout).
    pub fn end(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| !pxe_daemon::secret::same(k.as_bytes(), id.as_bytes()));
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The session id in a `Cookie` header, if any.
pub fn from_cookies(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == COOKIE && !v.is_empty()).then_some(v)
    })
}

/// The `Set-Cookie` value of a session; `secure` when the client reached us over TLS.
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The value of `key` in an `application/x-www-form-urlencoded` body, decoded.
pub fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (url_decode(k)? == key).then(|| url_decode(v)).flatten()
    })
}

/// Percent-decoding with `+` as a space; `None` for a bad escape or bad UTF-8.
fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_it_expires_or_ends() {
        let s = Sessions::default();
        let (id, csrf) = s.start(1_000).expect("urandom");
        assert_eq!(id.len(), 64);
        assert_ne!(id, csrf);
        assert_eq!(s.csrf(&id, 2_000).as_deref(), Some(csrf.as_str()));
        assert_eq!(s.csrf("not-it", 2_000), None);
        assert_eq!(s.csrf(&id, 1_000 + SESSION_MS), None, "expired");
        s.end(&id);
        assert_eq!(s.csrf(&id, 2_000), None, "logged out");
    }

    #[test]
    fn sessions_are_capped() {
        let s = Sessions::default();
        for i in 0..(MAX_SESSIONS as u64 + 5) {
            s.start(i).expect("urandom");
        }
        assert_eq!(s.len(), MAX_SESSIONS);
    }

    #[test]
    fn cookies_and_forms() {
        assert_eq!(from_cookies("a=b; pxe_console=abc; c=d"), Some("abc"));
        assert_eq!(from_cookies("pxe_console="), None);
        assert_eq!(from_cookies("x_pxe_console=abc"), None);
        let c = set_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie("abc", false).contains("Secure"));
        assert_eq!(
            form_value(b"csrf=1&token=a%2Bb+c", "token").as_deref(),
            Some("a+b c")
        );
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(form_value(b"other=1", "token"), None);
    }
}
