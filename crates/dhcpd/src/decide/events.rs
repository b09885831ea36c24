//! Lease events: what `on commit`, `on release` and `on expiry` do to a lease, and the
//! programs their `execute` statements ask for. ISC runs a lease's handlers in `ack_lease`
//! (commit, for an ACK or BOOTREPLY, not an OFFER), `release_lease` (release) and its pool
//! timer (expiry); a released or expired lease loses its other handlers. The core only
//! builds each program's argument vector ([`Hook`]); the shell runs it once the leases of
//! the outcome are on disk.

use std::net::Ipv4Addr;

use crate::eval::{Bindings, Effects, Env, ExecCall, OptionState};
use crate::lease::{BindingState, Lease, Time};
use crate::model::{Config, Handler, OnStar};

/// The event a hook belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEvent {
    /// `on commit`.
    Commit,
    /// `on release`.
    Release,
    /// `on expiry`.
    Expiry,
}

impl LeaseEvent {
    /// The word of the `on` statement.
    pub fn name(self) -> &'static str {
        match self {
            LeaseEvent::Commit => "commit",
            LeaseEvent::Release => "release",
            LeaseEvent::Expiry => "expiry",
        }
    }
}

/// A program an `execute` statement asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The lease event whose statements ran it (`None`: an `execute` outside `on`).
    pub event: Option<LeaseEvent>,
    /// The lease's address, when there is a lease.
    pub lease: Option<Ipv4Addr>,
    /// The program and its arguments.
    pub call: ExecCall,
}

/// What a lease's `on` block did when it ran: the hooks, the `log` lines, and `on`
/// statements inside it (applied to the lease's handlers).
#[derive(Debug, Default)]
pub(super) struct HandlerRun {
    pub(super) hooks: Vec<Hook>,
    pub(super) logs: Vec<String>,
}

/// Run `handler` for the lease `env.lease`, with its variables and options: `on` statements
/// in it change `on`, `execute`s become hooks of `event`.
pub(super) fn run_handler(
    env: &Env<'_>,
    handler: &Handler,
    event: LeaseEvent,
    sc: (&mut OptionState, &mut Bindings),
    on: &mut OnStar,
) -> HandlerRun {
    let (st, vars) = sc;
    let mut fx = Effects::default();
    env.run_stmts(handler.stmts(), st, vars, &mut fx);
    let lease = env.lease.map(|l| l.ip);
    apply_on(on, &fx);
    HandlerRun {
        hooks: hooks_of(&mut fx, Some(event), lease),
        logs: fx.logs,
    }
}

/// Apply the `on` statements that ran to a lease's handlers, in order.
pub(super) fn apply_on(on: &mut OnStar, fx: &Effects) {
    for (events, handler) in &fx.on {
        on.set(*events, handler.as_ref());
    }
}

/// The `execute` calls that ran, as hooks.
pub(super) fn hooks_of(
    fx: &mut Effects,
    event: Option<LeaseEvent>,
    lease: Option<Ipv4Addr>,
) -> Vec<Hook> {
    std::mem::take(&mut fx.execs)
        .into_iter()
        .map(|call| Hook { event, lease, call })
        .collect()
}

/// A lease whose time ran out, as ISC's pool timer leaves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Expired {
    /// The lease in its next binding state, without client bindings or handlers.
    pub lease: Lease,
    /// What its `on expiry` statements asked to run.
    pub hooks: Vec<Hook>,
    /// What they logged.
    pub log: Vec<String>,
}

/// ISC's expiry of an active lease whose end has passed (`pool_timer`): its `on expiry`
/// statements run, without a packet (`hardware` is the lease's), then the lease moves to its
/// next binding state. `None` when the lease has not expired, or expires into `active`.
pub fn expire(cfg: &Config, lease: &Lease, now: Time) -> Option<Expired> {
    if lease.state != BindingState::Active || lease.state_at(now) == BindingState::Active {
        return None;
    }
    let run = run_expiry(cfg, lease, now);
    Some(Expired {
        lease: lease.settled(now),
        hooks: run.hooks,
        log: run.logs,
    })
}

/// The lease's `on expiry` statements, run without a packet (ISC's
/// `make_binding_state_transition` when an active lease leaves `active` for anything but
/// `released`: it ran out, or was abandoned).
pub(super) fn run_expiry(cfg: &Config, lease: &Lease, now: Time) -> HandlerRun {
    let Some(handler) = &lease.on().expiry else {
        return HandlerRun::default();
    };
    let env = Env {
        cfg,
        req: None,
        known: false,
        lease: Some(lease),
        static_lease: false,
        host: None,
        classes: &[],
        now,
    };
    let mut vars = super::ack::lease_bindings(lease);
    let mut st = OptionState::new();
    let mut on = lease.on().clone();
    run_handler(
        &env,
        handler,
        LeaseEvent::Expiry,
        (&mut st, &mut vars),
        &mut on,
    )
}
