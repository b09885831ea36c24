//! The bounds a transfer runs within, whatever its client does: a total duration, and a
//! minimum progress rate measured over fixed spans. Pure, like the state machines it wraps:
//! [`Guard::step`] stands between the I/O shell and a [`Machine`], passes events on,
//! shortens the machine's waits to the guard's next check, and ends the transfer with an
//! ERROR to the client and [`Failure::Dropped`] when a bound is passed.
//!
//! A client that negotiates the longest timeout and then answers just before each one ends
//! (or trickles one block at a time) would otherwise hold its transfer slot for as long as
//! it likes; the retry bound alone only stops one that never answers.

use std::time::{Duration, Instant};

use crate::packet::{self, ErrorCode};
use crate::transfer::{Event, Failure, Finish, Output};

/// `--min-rate` when not given, in bytes per second.
pub const DEFAULT_MIN_RATE: u64 = 1024;
/// `--max-duration` when not given.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(3600);
/// The span over which the progress rate is measured: a transfer whose bytes in one span
/// fall short of `min_rate` × span is dropped. Transfers shorter than this are never
/// measured.
pub const RATE_SPAN: Duration = Duration::from_secs(30);

/// The bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes per second a transfer must move, on average over each [`RATE_SPAN`]; 0: none.
    pub min_rate: u64,
    /// How long a transfer may last in all; `None`: no limit.
    pub max_duration: Option<Duration>,
    /// The span the rate is measured over.
    pub span: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            min_rate: DEFAULT_MIN_RATE,
            max_duration: Some(DEFAULT_MAX_DURATION),
            span: RATE_SPAN,
        }
    }
}

/// A transfer state machine as the guard sees it.
pub trait Machine {
    /// Handles one event (see [`crate::transfer::ReadTransfer::handle`]).
    fn handle(&mut self, event: Event<'_>, now: Instant) -> Vec<Output>;
    /// Payload bytes moved so far, and packets retransmitted.
    fn progress(&self) -> (u64, u64);
}

impl<S: crate::source::DataSource> Machine for crate::transfer::ReadTransfer<S> {
    fn handle(&mut self, event: Event<'_>, now: Instant) -> Vec<Output> {
        crate::transfer::ReadTransfer::handle(self, event, now)
    }
    fn progress(&self) -> (u64, u64) {
        crate::transfer::ReadTransfer::progress(self)
    }
}

impl<K: crate::source::DataSink> Machine for crate::receive::WriteTransfer<K> {
    fn handle(&mut self, event: Event<'_>, now: Instant) -> Vec<Output> {
        crate::receive::WriteTransfer::handle(self, event, now)
    }
    fn progress(&self) -> (u64, u64) {
        crate::receive::WriteTransfer::progress(self)
    }
}

/// Watches one transfer.
#[derive(Debug, Clone)]
pub struct Guard {
    bounds: Bounds,
    started: Instant,
    /// When the current rate span ends.
    span_end: Instant,
    /// Bytes moved when the current span began.
    span_bytes: u64,
    /// The deadline the machine asked for last.
    machine_deadline: Instant,
    over: bool,
}

impl Guard {
    /// A guard for a transfer started at `now`.
    pub fn new(bounds: Bounds, now: Instant) -> Guard {
        Guard {
            bounds,
            started: now,
            span_end: now + bounds.span,
            span_bytes: 0,
            machine_deadline: now,
            over: false,
        }
    }

    /// The machine's first outputs (from its `start`), with waits shortened to the guard's.
    pub fn first(&mut self, outputs: Vec<Output>) -> Vec<Output> {
        self.adjust(outputs)
    }

    /// Passes `event` to `machine`, unless it is a timeout the guard asked for before the
    /// machine's own deadline; then checks the bounds.
    pub fn step(
        &mut self,
        machine: &mut impl Machine,
        event: Event<'_>,
        now: Instant,
    ) -> Vec<Output> {
        if self.over {
            return Vec::new();
        }
        let early = matches!(event, Event::Timeout) && now < self.machine_deadline;
        let outputs = if early {
            vec![Output::Wait(self.machine_deadline)]
        } else {
            machine.handle(event, now)
        };
        if outputs.iter().any(|o| matches!(o, Output::Done(_))) {
            self.over = true;
            return outputs;
        }
        let (bytes, retransmits) = machine.progress();
        if let Some(reason) = self.check(bytes, now) {
            self.over = true;
            return vec![
                Output::Send(packet::encode_error(ErrorCode::Undefined, reason.message())),
                Output::Done(Finish {
                    result: Err(Failure::Dropped { reason }),
                    bytes,
                    retransmits,
                }),
            ];
        }
        self.adjust(outputs)
    }

    /// Whether a bound is passed at `now` with `bytes` moved; advances the rate span.
    fn check(&mut self, bytes: u64, now: Instant) -> Option<Dropped> {
        if let Some(max) = self.bounds.max_duration
            && now.saturating_duration_since(self.started) >= max
        {
            return Some(Dropped::TooLong);
        }
        if self.bounds.min_rate > 0 && !self.bounds.span.is_zero() {
            while now >= self.span_end {
                let need = u128::from(self.bounds.min_rate) * self.bounds.span.as_millis() / 1000;
                let moved = u128::from(bytes.saturating_sub(self.span_bytes));
                if moved < need {
                    return Some(Dropped::TooSlow);
                }
                self.span_bytes = bytes;
                self.span_end += self.bounds.span;
            }
        }
        None
    }

    /// Records the machine's deadline and waits no longer than the guard's next check.
    fn adjust(&mut self, mut outputs: Vec<Output>) -> Vec<Output> {
        let rate =
            (self.bounds.min_rate > 0 && !self.bounds.span.is_zero()).then_some(self.span_end);
        let end = self.bounds.max_duration.map(|m| self.started + m);
        let check = match (rate, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for o in &mut outputs {
            if let Output::Wait(d) = o {
                self.machine_deadline = *d;
                if let Some(c) = check {
                    *d = (*d).min(c);
                }
            }
        }
        outputs
    }
}

/// Which bound a dropped transfer passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Slower than `--min-rate` over a span.
    TooSlow,
    /// Longer than `--max-duration`.
    TooLong,
}

impl Dropped {
    /// The ERROR message sent to the client.
    pub fn message(self) -> &'static str {
        match self {
            Dropped::TooSlow => "Transfer too slow",
            Dropped::TooLong => "Transfer took too long",
        }
    }
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dropped::TooSlow => "below the minimum progress rate (--min-rate)",
            Dropped::TooLong => "over the maximum duration (--max-duration)",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    /// A machine that moves `per_event` bytes per datagram and wants a wait of `wait`.
    struct Fake {
        bytes: u64,
        per_event: u64,
        wait: Duration,
        timeouts: u32,
    }

    impl Machine for Fake {
        fn handle(&mut self, event: Event<'_>, now: Instant) -> Vec<Output> {
            match event {
                Event::Timeout => self.timeouts += 1,
                Event::Datagram { .. } => self.bytes += self.per_event,
            }
            vec![Output::Wait(now + self.wait)]
        }
        fn progress(&self) -> (u64, u64) {
            (self.bytes, 7)
        }
    }

    fn datagram() -> Event<'static> {
        Event::Datagram {
            from: "127.0.0.1:9".parse().unwrap(),
            bytes: b"",
        }
    }

    fn dropped(out: &[Output]) -> Option<Dropped> {
        out.iter().find_map(|o| match o {
            Output::Done(Finish {
                result: Err(Failure::Dropped { reason }),
                ..
            }) => Some(*reason),
            _ => None,
        })
    }

    fn bounds(min_rate: u64, max: Option<u64>) -> Bounds {
        Bounds {
            min_rate,
            max_duration: max.map(Duration::from_secs),
            span: Duration::from_secs(30),
        }
    }

    #[test]
    fn a_fast_transfer_goes_on() {
        let t0 = Instant::now();
        let mut g = Guard::new(bounds(1024, Some(3600)), t0);
        let mut m = Fake {
            bytes: 0,
            per_event: 512,
            wait: Duration::from_secs(1),
            timeouts: 0,
        };
        for i in 0..10_000u64 {
            let out = g.step(&mut m, datagram(), t0 + Duration::from_millis(i * 10));
            assert_eq!(dropped(&out), None, "event {i}");
        }
    }

    #[test]
    fn a_trickle_is_dropped_at_the_end_of_the_span() {
        let t0 = Instant::now();
        let mut g = Guard::new(bounds(1024, Some(3600)), t0);
        // One 512-byte block every 9 s, just under a 10 s timeout.
        let mut m = Fake {
            bytes: 0,
            per_event: 512,
            wait: Duration::from_secs(10),
            timeouts: 0,
        };
        let mut out = Vec::new();
        for i in 1..=3u64 {
            out = g.step(&mut m, datagram(), t0 + Duration::from_secs(9 * i));
            assert_eq!(dropped(&out), None);
        }
        // The guard waits no longer than the span's end, 30 s.
        assert_eq!(out, vec![Output::Wait(t0 + Duration::from_secs(30))]);
        let out = g.step(&mut m, Event::Timeout, t0 + Duration::from_secs(30));
        assert_eq!(dropped(&out), Some(Dropped::TooSlow));
        assert_eq!(
            m.timeouts, 0,
            "the guard's own timeout is not the machine's"
        );
        match &out[0] {
            Output::Send(b) => {
                assert!(matches!(packet::parse(b), Ok(packet::Packet::Error { .. })))
            }
            other => panic!("expected an ERROR first, got {other:?}"),
        }
        assert!(
            g.step(&mut m, datagram(), t0 + Duration::from_secs(31))
                .is_empty()
        );
    }

    #[test]
    fn an_early_guard_timeout_keeps_the_machine_deadline() {
        let t0 = Instant::now();
        let mut g = Guard::new(bounds(1, Some(3600)), t0);
        let mut m = Fake {
            bytes: 0,
            per_event: 100_000,
            wait: Duration::from_secs(50),
            timeouts: 0,
        };
        let out = g.step(&mut m, datagram(), t0 + Duration::from_secs(1));
        assert_eq!(out, vec![Output::Wait(t0 + Duration::from_secs(30))]);
        let out = g.step(&mut m, Event::Timeout, t0 + Duration::from_secs(30));
        assert_eq!(out, vec![Output::Wait(t0 + Duration::from_secs(51))]);
        assert_eq!(m.timeouts, 0);
        let out = g.step(&mut m, Event::Timeout, t0 + Duration::from_secs(51));
        assert_eq!(m.timeouts, 1);
        assert_eq!(dropped(&out), None);
    }

    #[test]
    fn the_total_duration_is_bounded() {
        let t0 = Instant::now();
        let mut g = Guard::new(bounds(0, Some(100)), t0);
        let mut m = Fake {
            bytes: 0,
            per_event: 1 << 20,
            wait: Duration::from_secs(1),
            timeouts: 0,
        };
        let out = g.step(&mut m, datagram(), t0 + Duration::from_secs(99));
        assert_eq!(dropped(&out), None);
        let out = g.step(&mut m, datagram(), t0 + Duration::from_secs(100));
        assert_eq!(dropped(&out), Some(Dropped::TooLong));
        // No bound at all: never dropped.
        let mut g = Guard::new(bounds(0, None), t0);
        let out = g.step(&mut m, datagram(), t0 + Duration::from_secs(1_000_000));
        assert_eq!(dropped(&out), None);
    }

    #[test]
    fn a_finished_transfer_is_not_dropped() {
        struct Done;
        impl Machine for Done {
            fn handle(&mut self, _: Event<'_>, _: Instant) -> Vec<Output> {
                vec![Output::Done(Finish {
                    result: Ok(()),
                    bytes: 1,
                    retransmits: 0,
                })]
            }
            fn progress(&self) -> (u64, u64) {
                (1, 0)
            }
        }
        let t0 = Instant::now();
        let mut g = Guard::new(bounds(1 << 30, Some(1)), t0);
        let out = g.step(&mut Done, datagram(), t0 + Duration::from_secs(5000));
        assert_eq!(dropped(&out), None);
        assert!(matches!(
            out[0],
            Output::Done(Finish { result: Ok(()), .. })
        ));
    }
}
