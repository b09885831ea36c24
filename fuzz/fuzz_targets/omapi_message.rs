//! dhcpd's OMAPI decoder on arbitrary bytes (`omapi::wire::decode`): whatever a peer sends,
//! the result is a message, a request for more bytes or an error, never a panic or an
//! allocation past the limit; a decoded message encodes back to the very bytes it came from.

#![no_main]

use dhcpd::omapi::wire::{Limits, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_message: 4096,
        max_values: 64,
    };
    if let Ok(Some(frame)) = decode(data, &limits) {
        assert!(frame.len <= limits.max_message && frame.len <= data.len());
        assert_eq!(encode(&frame.message), &data[..frame.len]);
        assert!(frame.signed.end + frame.message.signature.len() == frame.len);
    }
});
