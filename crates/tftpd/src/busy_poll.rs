//! Decides when a lone transfer waits for its client by polling the socket instead of sleeping.
//!
//! On an otherwise idle machine the scheduler keeps a lockstep pair apart: our send wakes the
//! client while our thread still runs, so the client is woken on the idle CPU, and moving our
//! thread next to it only pushes it away again (`affinity.rs`). Every turn then wakes a halted
//! CPU twice, once for the client's DATA and once for our ACK; on a virtual machine each is a
//! trip through the host. Polling for the answer removes our half: a 64 MiB transfer at
//! 512-byte blocks on an idle 2-vCPU VM took 9.4-11 s sleeping (tftpd-hpa 10-10.4 s) and
//! 3.0-3.8 s polling, with less CPU than the wakeups cost.
//!
//! Polling is wrong when the client can share our CPU (it would hold the CPU the client needs
//! to answer; sleeping next to the client is the fastest turn there is) and when answers take
//! longer than the window (a network's round trip, a client competing for its CPU: polling
//! only burns CPU). So the policy measures instead of guessing, one check period at a time:
//! - it starts sleeping and following the client's CPU (`affinity.rs`); polling is tried
//!   only after the client was seen apart at two looks in a row, i.e. it did not stay next
//!   to us;
//! - a polling period is kept only if polling caught at least three answers in four and the
//!   period took at most four fifths of the last sleeping period spent apart. Otherwise the
//!   thread sleeps and follows again, and polling rests for 1, 2, 4, ... up to [`MAX_REST`]
//!   periods before the next try.
//!
//! This module is the pure decision; `drive.rs` polls, `affinity.rs` looks at the CPUs once
//! per period and calls [`Policy::review`].

use std::time::Duration;

/// Most check periods polling rests after it did not pay.
pub const MAX_REST: u32 = 64;

/// The decision for one transfer, revised once per check period.
#[derive(Debug, Clone)]
pub struct Policy {
    window: Duration,
    /// Polling during this period.
    on: bool,
    /// Waits this period, and how many of them polling caught.
    waits: u32,
    caught: u32,
    /// The client was apart at the last look too.
    apart_before: bool,
    /// How long the last sleeping period spent apart from the client took.
    slept_apart: Option<Duration>,
    /// Periods left before polling may be tried again.
    rest: u32,
    /// The rest after the next failure.
    next_rest: u32,
}

impl Policy {
    /// Polls for up to `window` per wait when it pays; a zero window never polls.
    pub fn new(window: Duration) -> Policy {
        Policy {
            window,
            on: false,
            waits: 0,
            caught: 0,
            apart_before: false,
            slept_apart: None,
            rest: 0,
            next_rest: 1,
        }
    }

    /// How long to poll before sleeping in the next wait: zero when not polling.
    pub fn window(&self) -> Duration {
        if self.on { self.window } else { Duration::ZERO }
    }

    /// A wait that polled has ended; `caught` says whether the datagram came while polling.
    pub fn waited(&mut self, caught: bool) {
        if !self.on {
            return;
        }
        self.waits = self.waits.saturating_add(1);
        if caught {
            self.caught = self.caught.saturating_add(1);
        }
    }

    /// Stops polling and forgets what was seen (the transfer is no longer alone, or nothing
    /// is known of the client's CPU).
    pub fn stop(&mut self) {
        self.on = false;
        self.waits = 0;
        self.caught = 0;
        self.apart_before = false;
    }

    /// Revises the decision at a look. `apart` says the client's datagrams arrive on another
    /// CPU than this thread's; `period` is how long the period since the last look took.
    /// Returns whether the thread should move to the client's CPU (false while polling:
    /// moving would only push the client away).
    pub fn review(&mut self, apart: bool, period: Option<Duration>) -> bool {
        let polled = self.on && self.waits > 0;
        let caught_most = u64::from(self.caught) * 4 >= u64::from(self.waits) * 3;
        self.waits = 0;
        self.caught = 0;
        if self.window.is_zero() {
            return true;
        }
        if polled {
            let faster = match (period, self.slept_apart) {
                (Some(p), Some(s)) => p.saturating_mul(5) <= s.saturating_mul(4),
                _ => true,
            };
            if apart && caught_most && faster {
                self.next_rest = 1;
                return false;
            }
            self.on = false;
            self.apart_before = false;
            self.rest = self.next_rest;
            self.next_rest = self.next_rest.saturating_mul(2).min(MAX_REST);
            return true;
        }
        self.on = false;
        if !apart {
            self.apart_before = false;
            return true;
        }
        if !self.apart_before {
            // Follow the client first: next to it is the fastest turn.
            self.apart_before = true;
            return true;
        }
        // Apart twice in a row: the client does not stay next to this thread.
        self.slept_apart = period;
        if self.rest > 0 {
            self.rest -= 1;
            return true;
        }
        self.on = true;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_micros(50);
    const MS: Duration = Duration::from_millis(1);

    /// A policy polling after two looks apart, the sleeping period apart taking `slept`.
    fn polling(slept: Duration) -> Policy {
        let mut p = Policy::new(W);
        assert!(
            p.review(true, None),
            "the first look apart follows the client"
        );
        assert_eq!(p.window(), Duration::ZERO);
        assert!(!p.review(true, Some(slept)), "the second tries polling");
        assert_eq!(p.window(), W);
        p
    }

    /// One polling period of `waits` waits of which `caught` were caught.
    fn period(p: &mut Policy, waits: u32, caught: u32) {
        for i in 0..waits {
            p.waited(i < caught);
        }
    }

    #[test]
    fn follows_first_and_polls_only_when_the_client_does_not_stay() {
        let mut p = Policy::new(W);
        assert_eq!(p.window(), Duration::ZERO, "no poll before the first look");
        assert!(p.review(true, None));
        assert!(
            p.review(false, Some(MS)),
            "the client stayed: keep following"
        );
        assert!(
            p.review(true, Some(MS)),
            "apart once more: follow first again"
        );
        assert_eq!(p.window(), Duration::ZERO);
        assert!(!p.review(true, Some(MS)));
        assert_eq!(p.window(), W);
    }

    #[test]
    fn keeps_polling_while_it_catches_three_in_four_and_is_faster() {
        let mut p = polling(5 * MS);
        for _ in 0..10 {
            period(&mut p, 64, 48);
            assert!(!p.review(true, Some(4 * MS)));
            assert_eq!(p.window(), W);
        }
    }

    #[test]
    fn polling_that_is_not_faster_than_sleeping_stops() {
        let mut p = polling(5 * MS);
        period(&mut p, 64, 64);
        assert!(
            p.review(true, Some(4100 * Duration::from_micros(1))),
            "only 18% faster"
        );
        assert_eq!(p.window(), Duration::ZERO);
    }

    #[test]
    fn never_polls_next_to_the_client() {
        let mut p = polling(5 * MS);
        period(&mut p, 64, 64);
        assert!(
            p.review(false, Some(MS)),
            "the client came back: sleep next to it"
        );
        assert_eq!(p.window(), Duration::ZERO);
        assert!(p.review(false, Some(MS)));
        assert_eq!(p.window(), Duration::ZERO);
    }

    #[test]
    fn a_poor_period_follows_the_client_and_rests_twice_as_long_each_time() {
        let mut p = polling(5 * MS);
        let mut rests = Vec::new();
        for _ in 0..9 {
            period(&mut p, 64, 47);
            assert!(p.review(true, Some(MS)), "follows after a poor period");
            assert_eq!(p.window(), Duration::ZERO);
            assert!(p.review(true, Some(5 * MS)), "the first look apart follows");
            let mut rested = 0;
            while p.review(true, Some(5 * MS)) {
                assert_eq!(p.window(), Duration::ZERO, "no polling while resting");
                rested += 1;
            }
            assert_eq!(p.window(), W, "tried again after the rest");
            rests.push(rested);
        }
        assert_eq!(rests, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
    }

    #[test]
    fn a_good_period_resets_the_rest() {
        let mut p = polling(5 * MS);
        period(&mut p, 64, 0);
        assert!(p.review(true, Some(MS)), "poor: rests one period");
        assert!(p.review(true, Some(5 * MS)));
        assert!(p.review(true, Some(5 * MS)), "resting");
        assert!(!p.review(true, Some(5 * MS)), "on again");
        period(&mut p, 64, 0);
        assert!(p.review(true, Some(MS)), "poor again: rests two periods");
        assert!(p.review(true, Some(5 * MS)));
        assert!(p.review(true, Some(5 * MS)));
        assert!(p.review(true, Some(5 * MS)));
        assert!(!p.review(true, Some(5 * MS)), "on again");
        period(&mut p, 64, 64);
        assert!(!p.review(true, Some(MS)), "paid");
        period(&mut p, 64, 0);
        assert!(
            p.review(true, Some(MS)),
            "poor after a good one: rests one period only"
        );
        assert!(p.review(true, Some(5 * MS)));
        assert!(p.review(true, Some(5 * MS)));
        assert!(!p.review(true, Some(5 * MS)));
    }

    #[test]
    fn waits_while_not_polling_do_not_count() {
        let mut p = Policy::new(W);
        period(&mut p, 64, 0);
        p.review(true, None);
        period(&mut p, 64, 0);
        assert!(!p.review(true, Some(MS)), "polling is tried all the same");
    }

    #[test]
    fn a_zero_window_never_polls_and_stop_ends_polling() {
        let mut p = Policy::new(Duration::ZERO);
        for _ in 0..4 {
            assert!(p.review(true, Some(MS)));
            assert_eq!(p.window(), Duration::ZERO);
        }
        let mut p = polling(5 * MS);
        p.stop();
        assert_eq!(p.window(), Duration::ZERO);
    }
}
