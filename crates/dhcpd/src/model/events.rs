//! Lease events (`on commit`, `on release`, `on expiry`): which events an `on` statement
//! names, its statements shared by every lease they are set on, and a lease's handlers
//! (ISC's `on_star`).

use std::sync::Arc;

use super::Exec;

/// The events an `on` statement names (ISC's `ON_*` bits). `transmission` is a client
/// event: accepted, never fired by a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Events {
    /// `commit`.
    pub commit: bool,
    /// `release`.
    pub release: bool,
    /// `expiry`.
    pub expiry: bool,
}

impl Events {
    /// The events named in the configuration (`commit`, `release`, `expiry`, `transmission`).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Events {
        let mut ev = Events::default();
        for n in names {
            match n {
                "commit" => ev.commit = true,
                "release" => ev.release = true,
                "expiry" => ev.expiry = true,
                _ => {}
            }
        }
        ev
    }
}

/// The statements of an `on` block. Leases share them; two handlers are the same when they
/// are the same block of the same configuration. One pointer wide, so that a lease's three
/// slots ([`OnStar`]) cost 24 bytes (issue 17: every lease carries them, nearly always empty).
#[derive(Debug, Clone)]
pub struct Handler(Arc<HandlerBody>);

#[derive(Debug)]
struct HandlerBody {
    stmts: Vec<Exec>,
    /// The statements as text (`conf::print`), written into the lease file; `None` for
    /// statements that are not printed.
    text: Option<String>,
}

impl Handler {
    /// A handler running `stmts`, written to lease files as `text`.
    pub fn new(stmts: Vec<Exec>, text: Option<String>) -> Handler {
        Handler(Arc::new(HandlerBody { stmts, text }))
    }

    /// The statements to run.
    pub fn stmts(&self) -> &[Exec] {
        &self.0.stmts
    }

    /// The statements as the lease file holds them.
    pub fn text(&self) -> Option<&str> {
        self.0.text.as_deref()
    }
}

impl PartialEq for Handler {
    fn eq(&self, other: &Handler) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Handler {}

/// A lease's event handlers, set by `on` statements run for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnStar {
    /// Run when the lease is acknowledged (then dropped).
    pub commit: Option<Handler>,
    /// Run when the client releases the lease.
    pub release: Option<Handler>,
    /// Run when the lease expires.
    pub expiry: Option<Handler>,
}

impl OnStar {
    /// What running `on EVENTS { body }` does: each named event's handler becomes `body`
    /// (an empty block, or `on EVENT;`, clears it).
    pub fn set(&mut self, events: Events, body: Option<&Handler>) {
        let slots = [
            (events.commit, &mut self.commit),
            (events.release, &mut self.release),
            (events.expiry, &mut self.expiry),
        ];
        for (named, slot) in slots {
            if named {
                *slot = body.cloned();
            }
        }
    }

    /// No handler is set.
    pub fn is_empty(&self) -> bool {
        self.commit.is_none() && self.release.is_none() && self.expiry.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler() -> Handler {
        Handler::new(vec![Exec::Break], None)
    }

    #[test]
    fn on_sets_and_clears_the_named_events_only() {
        let (a, b) = (handler(), handler());
        assert_ne!(a, b, "two blocks are two handlers even when alike");
        let mut on = OnStar::default();
        on.set(Events::from_names(["commit", "expiry"]), Some(&a));
        assert_eq!(on.commit.as_ref(), Some(&a));
        assert_eq!(on.expiry.as_ref(), Some(&a));
        assert_eq!(on.release, None);
        on.set(Events::from_names(["expiry"]), Some(&b));
        assert_eq!(on.expiry.as_ref(), Some(&b), "replaced");
        on.set(Events::from_names(["commit", "transmission"]), None);
        assert_eq!(on.commit, None, "`on commit;` clears");
        assert_eq!(on.expiry.as_ref(), Some(&b));
        assert!(!on.is_empty());
    }
}
